"""ModelBase: retries, Retry-After, charging every attempt, cancellation, structured output,
``call_model`` for bare models, and the default stream."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

import pytest
from pydantic import BaseModel

from agentloom import tracing
from agentloom.budget import Budget, Price
from agentloom.errors import BudgetExceeded, ConfigError, ModelHTTPError, ModelOutputError
from agentloom.models.base import (
    ModelBase,
    TransientModelError,
    call_model,
    estimate_input_tokens,
    parse_structured,
)
from agentloom.models.types import Completion, Message, Model, ModelRequest, Usage
from agentloom.runstore import RunStore
from agentloom.tokens import count_tokens


class Scripted(ModelBase):
    """Outcome by the request's last user text (attempts are counted per text):
    ``fail:N:STATUS[:RETRY_AFTER]`` fails the first N attempts; ``permanent`` is a 400;
    ``hang`` never answers; anything else answers 10 in / 5 out / 4 cached tokens."""

    name = "scripted"

    def __init__(self, **kw: Any) -> None:
        kw.setdefault("retry_initial_wait", 0.01)
        kw.setdefault("retry_max_wait", 0.02)
        super().__init__(**kw)
        self.calls: dict[str, list[float]] = defaultdict(list)

    async def _attempt(self, request: ModelRequest) -> Completion:
        text = request.last_user_text()
        self.calls[text].append(time.monotonic())
        if text.startswith("fail:"):
            _, times, status, *rest = text.split(":")
            if len(self.calls[text]) <= int(times):
                raise TransientModelError(f"injected {status}", status=int(status), retry_after=float(rest[0]) if rest else None)
        if text == "permanent":
            raise ModelHTTPError("scripted: HTTP 400: bad request", status=400)
        if text == "hang":
            await asyncio.sleep(60)
        if text.startswith("{"):
            return Completion(text=text, usage=Usage(input_tokens=3, output_tokens=3))
        return Completion(text=f"ok {text}", usage=Usage(input_tokens=10, output_tokens=5, cached_tokens=4))


def ask(text: str, **kw: Any) -> ModelRequest:
    return ModelRequest([Message.user(text)], **kw)


def with_budget(budget: Budget, store: RunStore | None = None) -> Any:
    run_id = store.create_run("test") if store else ""
    return tracing.use(tracing.RunContext(run_id=run_id, store=store, budget=budget))


async def test_transient_errors_are_retried_and_every_attempt_is_charged() -> None:
    model = Scripted(max_retries=3)
    budget = Budget()
    store = RunStore()
    with with_budget(budget, store) as ctx:
        completion = await model.complete(ask("fail:2:503"))
    assert completion.text == "ok fail:2:503"
    assert completion.usage.attempts == 3
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (10, 5)
    assert len(model.calls["fail:2:503"]) == 3
    assert budget.spent.llm_calls == 3 and budget.spent.output_tokens == 5
    assert budget.reserved.llm_calls == 0 and budget.reserved.tokens == 0
    events = store.events(ctx.run_id, "model_call")
    assert [(e["status"], e["data"]["attempt"]) for e in events] == [("error", 1), ("error", 2), ("ok", 3)]
    assert events[0]["data"]["status"] == 503 and events[0]["error"] == "injected 503"
    assert events[2]["data"]["output_tokens"] == 5


async def test_retry_after_is_waited() -> None:
    model = Scripted(max_retries=1, retry_initial_wait=0.0, retry_max_wait=0.0)
    completion = await model.complete(ask("fail:1:429:0.3"))
    first, second = model.calls["fail:1:429:0.3"]
    assert second - first >= 0.3
    assert completion.usage.attempts == 2


async def test_exhausted_retries_raise_with_attempts_and_usage() -> None:
    model = Scripted(max_retries=2, price=Price(1.0, 1.0))
    budget = Budget()
    with with_budget(budget), pytest.raises(ModelHTTPError) as info:
        await model.complete(ask("fail:9:500"))
    assert info.value.attempts == 3
    assert info.value.status == 500
    assert isinstance(info.value.usage, Usage) and info.value.usage.attempts == 3
    assert info.value.usage.usd == 0.0  # failed attempts cost no tokens
    assert len(model.calls["fail:9:500"]) == 3
    assert budget.spent.llm_calls == 3


async def test_permanent_errors_are_not_retried() -> None:
    model = Scripted(max_retries=5)
    with pytest.raises(ModelHTTPError) as info:
        await model.complete(ask("permanent"))
    assert info.value.attempts == 1 and info.value.status == 400
    assert len(model.calls["permanent"]) == 1


def test_negative_max_retries_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="max_retries"):
        Scripted(max_retries=-1)


async def test_usd_is_none_without_a_price_and_exact_with_one() -> None:
    assert (await Scripted().complete(ask("a"))).usage.usd is None
    priced = Scripted(price=Price(input=1e-6, output=2e-6, cached_input=5e-7))
    usage = (await priced.complete(ask("a"))).usage
    assert usage.usd == pytest.approx(6 * 1e-6 + 4 * 5e-7 + 5 * 2e-6)


def test_estimate_is_the_worst_case() -> None:
    model = Scripted(default_max_tokens=1000, price=Price(1e-6, 2e-6))
    request = ask("x" * 90)
    estimate = model.estimate(request)
    assert estimate.input_tokens == estimate_input_tokens(request) > count_tokens("x" * 90)
    assert estimate.output_tokens == 1000 and estimate.llm_calls == 1
    assert estimate.usd == pytest.approx(estimate.input_tokens * 1e-6 + 1000 * 2e-6)
    assert model.estimate(ask("x", max_tokens=10)).output_tokens == 10
    assert Scripted().estimate(request).usd == 0.0

    class Out(BaseModel):
        field_with_a_long_name: str

    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    assert estimate_input_tokens(ask("x", tools=[tool])) > estimate_input_tokens(ask("x"))
    assert estimate_input_tokens(ask("x", output_type=Out)) > estimate_input_tokens(ask("x"))


async def test_budget_refusal_happens_before_the_attempt() -> None:
    model = Scripted()
    budget = Budget(llm_calls=0)
    with with_budget(budget), pytest.raises(BudgetExceeded) as info:
        await model.complete(ask("a"))
    assert info.value.limit == "llm_calls"
    assert model.calls == {}


async def test_cancellation_releases_the_reservation() -> None:
    model = Scripted()
    budget = Budget(llm_calls=10)
    store = RunStore()
    with with_budget(budget, store) as ctx:
        task = asyncio.create_task(model.complete(ask("hang")))
        while not model.calls["hang"]:
            await asyncio.sleep(0.005)
        assert budget.reserved.llm_calls == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert budget.reserved.llm_calls == 0 and budget.reserved.tokens == 0
    assert budget.spent.llm_calls == 0
    assert [row.action for row in budget.ledger] == ["release"]
    assert [e["status"] for e in store.events(ctx.run_id, "model_call")] == ["cancelled"]


# ----------------------------------------------------------------------------- structured output
class Point(BaseModel):
    x: int
    y: int


def test_parse_structured() -> None:
    assert parse_structured('{"x": 1, "y": 2}', Point) == Point(x=1, y=2)
    assert parse_structured('```json\n{"x": 1, "y": 2}\n```', Point) == Point(x=1, y=2)
    with pytest.raises(ValueError, match="empty"):
        parse_structured("", Point)
    with pytest.raises(ValueError) as info:
        parse_structured('{"x": "one"}', Point)
    assert "x:" in str(info.value) and "y:" in str(info.value)


async def test_structured_output_is_validated_and_repaired_once() -> None:
    class Repairing(Scripted):
        async def _attempt(self, request: ModelRequest) -> Completion:
            last = request.last_user_text()
            self.calls[last].append(time.monotonic())
            text = '{"x": 3, "y": 4}' if last.startswith("That output") else '{"x": 3}'
            return Completion(text=text, usage=Usage(input_tokens=5, output_tokens=2))

    model = Repairing()
    completion = await model.complete(ask("point", output_type=Point))
    assert completion.parsed == Point(x=3, y=4)
    assert completion.usage.attempts == 2 and completion.usage.input_tokens == 10
    assert sum(len(v) for v in model.calls.values()) == 2


async def test_structured_output_still_invalid_raises_model_output_error() -> None:
    model = Scripted()
    with pytest.raises(ModelOutputError) as info:
        await model.complete(ask('{"x": "not a number"}', output_type=Point))
    assert info.value.attempts == 2
    assert "Point" in str(info.value) and "after one repair" in str(info.value)
    assert info.value.usage.input_tokens == 3 + 10  # the first answer plus the (still invalid) repair


# ----------------------------------------------------------------------------- bare models
class Bare:
    """A model that implements the protocol without ModelBase."""

    name = "bare"

    def __init__(self, text: str = "hi", fail: bool = False) -> None:
        self.text, self.fail = text, fail

    async def complete(self, request: ModelRequest) -> Completion:
        if self.fail:
            raise RuntimeError("bare model failed")
        return Completion(text=self.text, usage=Usage(input_tokens=7, output_tokens=3, usd=0.01))


async def test_call_model_charges_a_bare_model() -> None:
    assert isinstance(Bare(), Model)
    budget = Budget()
    store = RunStore()
    with with_budget(budget, store) as ctx:
        completion = await call_model(Bare(), ask("q"))
        with pytest.raises(RuntimeError):
            await call_model(Bare(fail=True), ask("q"))
    assert completion.text == "hi"
    assert (budget.spent.llm_calls, budget.spent.input_tokens, budget.spent.output_tokens) == (1, 7, 3)
    assert budget.spent.usd == pytest.approx(0.01)
    assert budget.reserved.llm_calls == 0
    assert len(store.events(ctx.run_id, "model_call")) == 1


async def test_call_model_validates_structured_output_of_a_bare_model() -> None:
    assert (await call_model(Bare('{"x": 1, "y": 2}'), ask("q", output_type=Point))).parsed == Point(x=1, y=2)
    with pytest.raises(ModelOutputError, match="Point"):
        await call_model(Bare("nope"), ask("q", output_type=Point))


async def test_call_model_uses_modelbase_accounting() -> None:
    budget = Budget()
    with with_budget(budget):
        await call_model(Scripted(), ask("fail:1:500"))
    assert budget.spent.llm_calls == 2


async def test_default_stream_yields_the_whole_text_and_charges_once() -> None:
    model = Scripted()
    budget = Budget()
    with with_budget(budget):
        deltas = [d async for d in model.stream(ask("s"))]
    assert deltas == ["ok s"]
    assert model.last_stream_usage.output_tokens == 5  # type: ignore[attr-defined]
    assert budget.spent.llm_calls == 1 and budget.reserved.llm_calls == 0


async def test_stream_retries_a_transient_failure_before_the_first_delta() -> None:
    model = Scripted(max_retries=2)
    budget = Budget()
    with with_budget(budget):
        deltas = [d async for d in model.stream(ask("fail:1:503"))]
    assert deltas == ["ok fail:1:503"]
    assert len(model.calls["fail:1:503"]) == 2 and budget.spent.llm_calls == 2


async def test_stream_gives_up_with_model_http_error_after_its_retries() -> None:
    model = Scripted(max_retries=1)
    with pytest.raises(ModelHTTPError, match="stream failed after 2 attempt"):
        [d async for d in model.stream(ask("fail:5:503"))]
    assert len(model.calls["fail:5:503"]) == 2


class BreaksMidStream(Scripted):
    """Yields one delta, then the connection fails."""

    async def _stream_attempt(self, request: ModelRequest) -> Any:
        self.calls["mid"].append(time.monotonic())
        yield "first part"
        raise TransientModelError("connection reset", status=None)


async def test_stream_is_not_replayed_once_text_was_yielded() -> None:
    model = BreaksMidStream(max_retries=3)
    seen: list[str] = []
    with pytest.raises(ModelHTTPError, match="after 1 attempt"):
        async for delta in model.stream(ask("s")):
            seen.append(delta)
    assert seen == ["first part"] and len(model.calls["mid"]) == 1

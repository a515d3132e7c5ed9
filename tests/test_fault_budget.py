"""A budget that holds against real providers: misreported usage, failed attempts, bad limits,
shared budgets, zero limits, exhausted quotas."""

from __future__ import annotations

import asyncio

import pytest

from agentloom import Budget
from agentloom.budget import Cost
from agentloom.errors import BudgetExceeded, ConfigError, ModelError
from agentloom.models import Message, ModelRequest, OpenAIModel
from agentloom.models.resolve import resolve_model
from tests.cliutil import run_cli
from tests.fakeserver import FakeOpenAIServer, Reply


def _request(text: str) -> ModelRequest:
    return ModelRequest(messages=[Message("user", text)], temperature=0.0, max_tokens=10)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_limits_are_config_errors(value: float, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="not a finite number"):
        Budget(usd=value)
    code, _out, err = run_cli(["ask", "Why?", "--budget-usd", str(value)], capsys)
    assert code == 2 and "Traceback" not in err


def test_a_zero_limit_is_exhausted() -> None:
    assert Budget(llm_calls=0).exhausted
    assert Budget(tool_calls=0, usd=1.0).exhausted
    assert not Budget(llm_calls=1).exhausted


async def test_usage_above_the_reservation_is_charged_recorded_and_stops_new_calls(
    openai_server: FakeOpenAIServer,
) -> None:
    """A provider that reports 50x the reserved tokens: every report is charged, the overshoot is
    in the ledger and the report, and no call is admitted once a limit is crossed."""
    openai_server.responder = lambda body: Reply(text="ok", usage={"prompt_tokens": 5000, "completion_tokens": 5000})
    model = OpenAIModel("m", base_url=openai_server.base_url, max_retries=0)
    budget = Budget(tokens=20_000)

    async def one(i: int) -> str:
        from agentloom import tracing

        with tracing.use(tracing.RunContext(run_id="r", store=None, budget=budget)):  # type: ignore[arg-type]
            try:
                await model.complete(_request(f"call {i}"))
                return "ok"
            except BudgetExceeded:
                return "refused"

    first = await asyncio.gather(*(one(i) for i in range(3)))
    assert first.count("ok") == 3
    assert budget.spent.tokens == 30_000  # charged as reported, past the limit
    assert budget.overshoot["tokens"] == 10_000
    assert any(row.action == "overshoot" for row in budget.ledger)
    assert "over its limit" in budget.report().render()
    again = await asyncio.gather(*(one(i) for i in range(3, 8)))
    assert again == ["refused"] * 5
    assert len(openai_server.requests) == 3


async def test_a_failed_attempt_is_charged_its_input_estimate(openai_server: FakeOpenAIServer) -> None:
    openai_server.responder = lambda body: Reply(status=400, error="bad request")
    model = resolve_model("m", base_url=openai_server.base_url, price="1,1")
    budget = Budget()
    from agentloom import tracing

    ctx = tracing.RunContext(run_id="r", store=None, budget=budget)  # type: ignore[arg-type]
    with tracing.use(ctx), pytest.raises(ModelError):
        await model.complete(_request("x " * 300))
    assert budget.spent.llm_calls == 1
    assert budget.spent.input_tokens > 100 and budget.spent.usd > 0


async def test_a_budget_shared_by_many_runs_logs_each_charge_once() -> None:
    from agentloom._runtime import run_scope
    from agentloom.runstore import RunStore

    budget = Budget()
    store = RunStore()
    for i in range(20):
        async with run_scope("test", f"run{i}", None, store=store, budget=budget):
            budget.charge(Cost(tool_calls=1), what=f"charge {i}")
    assert len(budget._sinks) == 0
    last = store.list_runs()[0]
    charges = [e for e in store.events(last.id) if e["kind"] == "budget"]
    assert len(charges) == 1, f"the 20th run logged its one charge {len(charges)} times"


async def test_a_429_for_an_exhausted_quota_is_not_retried(openai_server: FakeOpenAIServer) -> None:
    openai_server.responder = lambda body: Reply(status=429, error="You exceeded your current quota",
                                                 error_code="insufficient_quota")
    model = OpenAIModel("m", base_url=openai_server.base_url, max_retries=3, retry_initial_wait=0.01)
    with pytest.raises(ModelError, match="out of quota"):
        await model.complete(_request("hello"))
    assert len(openai_server.requests) == 1


async def test_a_hanging_call_is_cut_at_the_budget_deadline(openai_server: FakeOpenAIServer) -> None:
    """A 40 s hang under a 1 s budget ends at the deadline, not when the server answers."""
    import time

    from agentloom import tracing

    openai_server.responder = lambda body: Reply(text="late", delay=40)
    model = OpenAIModel("m", base_url=openai_server.base_url, max_retries=0)
    budget = Budget(seconds=1.0)
    started = time.monotonic()
    ctx = tracing.RunContext(run_id="r", store=None, budget=budget)  # type: ignore[arg-type]
    with tracing.use(ctx), pytest.raises(BudgetExceeded, match="time ran out"):
        await model.complete(_request("hang"))
    assert time.monotonic() - started < 10  # bounded by the deadline (generous for a loaded machine)
    assert budget.spent.llm_calls == 1  # the cut attempt is charged


async def test_a_retry_after_of_an_hour_is_not_waited_for(openai_server: FakeOpenAIServer) -> None:
    openai_server.responder = lambda body: Reply(status=429, error="slow down", headers={"Retry-After": "3600"})
    model = OpenAIModel("m", base_url=openai_server.base_url, max_retries=3)
    with pytest.raises(ModelError, match="429"):
        await model.complete(_request("wait?"))
    assert len(openai_server.requests) == 1


def test_the_timeout_flag_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_cli(["ask", "Why?", "--timeout", "0"], capsys)
    assert code == 2 and "--timeout 0 must be a positive number" in err

"""OpenAIModel and LiteLLMModel end to end against a real OpenAI-compatible server on loopback.

Every scenario runs once per transport; the server's answers depend only on the request's
content, and faults are counted per distinct request key.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pydantic import BaseModel

from agentloom import tracing
from agentloom.budget import Budget, Price
from agentloom.errors import BudgetExceeded, ModelHTTPError, ModelNotFoundError, ModelOutputError
from agentloom.models._pricing import lookup_price
from agentloom.models.base import ModelBase
from agentloom.models.litellm_model import LiteLLMModel
from agentloom.models.openai_model import OpenAIModel
from agentloom.models.types import Message, ModelRequest
from agentloom.runstore import RunStore
from tests.fakeserver import FakeOpenAIServer, Fault, Reply, last_user_text

KEY = "sk-test-0123456789abcdef"
REPAIR_PREFIX = "That output does not match"


class Answer(BaseModel):
    answer: str
    score: int


def first_user_text(body: dict[str, Any]) -> str:
    for message in body.get("messages") or []:
        if message.get("role") == "user":
            return str(message.get("content") or "")
    return ""


def script(body: dict[str, Any]) -> Reply | str:
    """The server's answers, a function of the request content only."""
    question, last = first_user_text(body), last_user_text(body)
    if question == "hello":
        return Reply(text="Hello, world.")
    if question == "weather":
        return Reply(
            tool_calls=[
                {"id": "call_w", "name": "get_weather", "arguments": {"city": "Paris"}},
                {"id": "call_t", "name": "get_time", "arguments": {"tz": "CET"}},
            ]
        )
    if question == "cached":
        return Reply(
            text="ok",
            usage={"prompt_tokens": 1000, "completion_tokens": 50, "cached_tokens": 800, "reasoning_tokens": 20},
        )
    if question == "json-good":
        return '{"answer": "forty-two", "score": 42}'
    if question == "json-bad":
        return "definitely not json"
    if question == "json-repair":
        return '{"answer": "fixed", "score": 7}' if last.startswith(REPAIR_PREFIX) else '{"answer": 1}'
    if question == "bad400":
        return Reply(status=400, error="Invalid value for 'messages'.")
    if question == "nomodel":
        return Reply(status=404, error="The model `gpt-4o-mini` does not exist", error_code="model_not_found")
    if question == "story":
        return Reply(text="one two three four five six", stream_delay=0.0)
    return Reply(text=f"echo: {last}")


@pytest.fixture
def server(openai_server: FakeOpenAIServer) -> FakeOpenAIServer:
    openai_server.responder = script
    return openai_server


Factory = Callable[..., ModelBase]


@pytest.fixture(params=["openai", "litellm"])
def make_model(request: pytest.FixtureRequest, server: FakeOpenAIServer) -> Factory:
    """Build the transport under test, pointed at the fake server, with fast backoff."""

    def make(base_url: str | None = None, api_key: str = KEY, **kw: Any) -> ModelBase:
        kw.setdefault("retry_initial_wait", 0.01)
        kw.setdefault("retry_max_wait", 0.05)
        base = base_url or server.base_url
        if request.param == "openai":
            return OpenAIModel("gpt-4o-mini", base_url=base, api_key=api_key, **kw)
        return LiteLLMModel("openai/gpt-4o-mini", api_base=base, api_key=api_key, **kw)

    make.transport = request.param  # type: ignore[attr-defined]
    return make


@contextmanager
def run_context(budget: Budget | None = None) -> Iterator[tracing.RunContext]:
    store = RunStore()
    ctx = tracing.RunContext(run_id=store.create_run("test"), store=store, budget=budget or Budget())
    with tracing.use(ctx):
        yield ctx
    store.close()


def ask(text: str, **kw: Any) -> ModelRequest:
    return ModelRequest([Message.system("You are terse."), Message.user(text)], **kw)


# ----------------------------------------------------------------------------- happy paths
async def test_text_completion_sends_a_well_formed_request(make_model: Factory, server: FakeOpenAIServer) -> None:
    model = make_model()
    completion = await model.complete(ask("hello", temperature=0.2, top_p=0.9, max_tokens=64, seed=7))
    assert completion.text == "Hello, world."
    assert completion.tool_calls == []
    assert completion.finish_reason == "stop"
    assert completion.usage.attempts == 1
    assert completion.usage.input_tokens > 0 and completion.usage.output_tokens > 0
    (sent,) = server.chat_requests
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.body["model"] == "gpt-4o-mini"
    assert sent.body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "hello"},
    ]
    assert (sent.body["temperature"], sent.body["top_p"], sent.body["max_tokens"], sent.body["seed"]) == (0.2, 0.9, 64, 7)
    assert "tools" not in sent.body and "response_format" not in sent.body


async def test_tool_calls_round_trip(make_model: Factory, server: FakeOpenAIServer) -> None:
    tools = [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}},
    ]
    completion = await make_model().complete(ask("weather", tools=tools))
    assert [(c.id, c.name, c.args()) for c in completion.tool_calls] == [
        ("call_w", "get_weather", {"city": "Paris"}),
        ("call_t", "get_time", {"tz": "CET"}),
    ]
    assert completion.finish_reason == "tool_calls"
    assert server.chat_requests[0].body["tools"] == tools
    # the assistant turn and tool results go back in OpenAI's shape
    follow = ask("weather", tools=tools)
    follow.messages += [completion.message(), Message("tool", "sunny", tool_call_id="call_w", name="get_weather")]
    await make_model().complete(follow)
    sent = server.chat_requests[-1].body["messages"]
    assert sent[2]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert sent[3] == {"role": "tool", "content": "sunny", "tool_call_id": "call_w", "name": "get_weather"}


async def test_usage_includes_cached_and_reasoning_tokens(make_model: Factory) -> None:
    completion = await make_model().complete(ask("cached"))
    usage = completion.usage
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens, usage.reasoning_tokens) == (1000, 50, 800, 20)
    assert usage.latency_s > 0


async def test_usd_from_price_map_or_override(make_model: Factory) -> None:
    model = make_model()
    usage = (await model.complete(ask("cached"))).usage
    if make_model.transport == "litellm":  # type: ignore[attr-defined]
        price = lookup_price("gpt-4o-mini")
        assert price is not None
        assert usage.usd == pytest.approx(price.cost(1000, 50, 800))
        assert usage.usd > 0
    else:  # a self-hosted server's price is unknown: tokens, and a cost of None
        assert usage.usd is None
    override = make_model(price=Price(input=1e-3, output=2e-3, cached_input=1e-4))
    usage = (await override.complete(ask("cached"))).usage
    assert usage.usd == pytest.approx(200 * 1e-3 + 800 * 1e-4 + 50 * 2e-3)


async def test_structured_output_valid(make_model: Factory, server: FakeOpenAIServer) -> None:
    completion = await make_model().complete(ask("json-good", output_type=Answer))
    assert completion.parsed == Answer(answer="forty-two", score=42)
    fmt = server.chat_requests[0].body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Answer"
    assert set(fmt["json_schema"]["schema"]["properties"]) == {"answer", "score"}


async def test_structured_output_repaired_once(make_model: Factory, server: FakeOpenAIServer) -> None:
    completion = await make_model().complete(ask("json-repair", output_type=Answer))
    assert completion.parsed == Answer(answer="fixed", score=7)
    assert len(server.chat_requests) == 2
    repair = server.chat_requests[1].body["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"answer": 1}'}
    assert repair[-1]["content"].startswith(REPAIR_PREFIX) and "score" in repair[-1]["content"]
    assert completion.usage.attempts == 2


async def test_structured_output_invalid_after_repair_raises(make_model: Factory, server: FakeOpenAIServer) -> None:
    budget = Budget()
    with run_context(budget), pytest.raises(ModelOutputError) as info:
        await make_model().complete(ask("json-bad", output_type=Answer))
    assert len(server.chat_requests) == 2
    assert info.value.attempts == 2
    assert info.value.usage.input_tokens > 0
    assert "Answer" in str(info.value)
    assert budget.spent.llm_calls == 2


# ----------------------------------------------------------------------------- retries
async def test_429_retry_after_is_honoured(make_model: Factory, server: FakeOpenAIServer) -> None:
    server.add_fault(Fault(status=429, retry_after=1, times=1, match=lambda b: first_user_text(b) == "limited"))
    budget = Budget()
    with run_context(budget) as ctx:
        completion = await make_model().complete(ask("limited"))
        events = ctx.store.events(ctx.run_id, "model_call")  # type: ignore[union-attr]
    assert completion.text == "echo: limited"
    assert completion.usage.attempts == 2
    first, second = server.chat_requests
    assert first.status == 429 and second.status == 200
    assert second.at - first.at >= 1.0
    assert budget.spent.llm_calls == 2
    assert [(e["status"], e["data"]["attempt"]) for e in events] == [("error", 1), ("ok", 2)]
    assert events[0]["data"]["status"] == 429


async def test_retry_after_ms_is_honoured(make_model: Factory, server: FakeOpenAIServer) -> None:
    server.add_fault(status=429, retry_after_ms=400, times=1)
    completion = await make_model().complete(ask("ms"))
    assert completion.usage.attempts == 2
    first, second = server.chat_requests
    assert second.at - first.at >= 0.4


async def test_5xx_is_retried(make_model: Factory, server: FakeOpenAIServer) -> None:
    server.add_fault(status=500, times=2)
    budget = Budget()
    with run_context(budget):
        completion = await make_model(max_retries=3).complete(ask("flaky"))
    assert completion.text == "echo: flaky"
    assert completion.usage.attempts == 3
    assert [r.status for r in server.chat_requests] == [500, 500, 200]
    assert budget.spent.llm_calls == 3


@pytest.mark.parametrize("case", ["400", "401", "404-path"])
async def test_client_errors_are_not_retried(make_model: Factory, server: FakeOpenAIServer, case: str) -> None:
    budget = Budget()
    if case == "400":
        model, request, status = make_model(), ask("bad400"), 400
    elif case == "401":
        server.api_key = "sk-the-right-key-000000"
        model, request, status = make_model(), ask("hello"), 401
    else:
        model, request, status = make_model(base_url=server.url + "/nowhere/v1"), ask("hello"), 404
    with run_context(budget), pytest.raises(ModelHTTPError) as info:
        await model.complete(request)
    assert info.value.status == status
    assert info.value.attempts == 1
    assert info.value.usage.attempts == 1
    assert len(server.requests) == 1
    assert budget.spent.llm_calls == 1
    assert budget.reserved.llm_calls == 0


async def test_unknown_model_404_is_a_model_not_found_error(make_model: Factory, server: FakeOpenAIServer) -> None:
    with pytest.raises(ModelNotFoundError, match="gpt-4o-mini"):
        await make_model().complete(ask("nomodel"))
    assert len(server.requests) == 1


async def test_exhausted_retries_carry_attempts_and_usage(make_model: Factory, server: FakeOpenAIServer) -> None:
    server.add_fault(status=503, times=100)
    budget = Budget()
    with run_context(budget) as ctx:
        with pytest.raises(ModelHTTPError) as info:
            await make_model(max_retries=2).complete(ask("down"))
        events = ctx.store.events(ctx.run_id, "model_call")  # type: ignore[union-attr]
    err = info.value
    assert err.attempts == 3 and err.usage.attempts == 3
    assert err.status == 503
    assert "gave up after 3 attempts" in str(err)
    assert len(server.chat_requests) == 3
    assert budget.spent.llm_calls == 3 and budget.reserved.llm_calls == 0
    assert [e["status"] for e in events] == ["error"] * 3


async def test_slow_response_times_out_and_is_retried(make_model: Factory, server: FakeOpenAIServer) -> None:
    server.add_fault(status=None, delay=1.5, times=1)
    completion = await make_model(timeout=0.4).complete(ask("slow"))
    assert completion.text == "echo: slow"
    assert completion.usage.attempts == 2
    assert len(server.chat_requests) == 2


async def test_budget_refusal_sends_nothing(make_model: Factory, server: FakeOpenAIServer) -> None:
    budget = Budget(output_tokens=100)  # the default max_tokens (4096) cannot be reserved
    with run_context(budget), pytest.raises(BudgetExceeded):
        await make_model().complete(ask("hello"))
    assert server.requests == []
    assert budget.spent.llm_calls == 0


# ----------------------------------------------------------------------------- streaming
async def test_stream_yields_deltas_as_they_arrive(make_model: Factory, server: FakeOpenAIServer) -> None:
    import threading

    gate = threading.Event()
    server.responder = lambda body: Reply(text="alpha beta gamma delta epsilon", hold=gate)
    model = make_model()
    budget = Budget()
    deltas: list[str] = []
    with run_context(budget):
        async for delta in model.stream(ask("stream please")):
            deltas.append(delta)
            gate.set()  # the server sends the rest only once the first delta got here
    assert len(deltas) >= 3
    assert "".join(deltas) == "alpha beta gamma delta epsilon"
    (sent,) = server.chat_requests
    assert sent.body["stream"] is True
    assert sent.body["stream_options"] == {"include_usage": True}
    assert sent.notes == []  # the hold was released by the client, not by its timeout
    usage = model.last_stream_usage  # type: ignore[attr-defined]
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert budget.spent.llm_calls == 1
    assert budget.spent.output_tokens == usage.output_tokens


async def test_streamed_request_assembles_tool_calls(make_model: Factory, server: FakeOpenAIServer) -> None:
    completion = await make_model().complete(ask("weather", stream=True))
    assert [(c.id, c.name, c.args()) for c in completion.tool_calls] == [
        ("call_w", "get_weather", {"city": "Paris"}),
        ("call_t", "get_time", {"tz": "CET"}),
    ]
    assert completion.usage.output_tokens > 0
    assert server.chat_requests[0].body["stream"] is True


async def test_stream_error_is_a_model_error(make_model: Factory, server: FakeOpenAIServer) -> None:
    server.add_fault(status=503, times=5)
    budget = Budget()
    with run_context(budget), pytest.raises(ModelHTTPError) as info:
        async for _ in make_model(max_retries=2).stream(ask("hello")):
            pass
    assert info.value.status == 503 and info.value.attempts == 3
    assert budget.spent.llm_calls == 3 and budget.reserved.llm_calls == 0  # every attempt is charged


async def test_stream_is_retried_before_its_first_delta(make_model: Factory, server: FakeOpenAIServer) -> None:
    server.add_fault(status=429, times=2, retry_after=0.05)
    budget = Budget()
    with run_context(budget):
        text = "".join([d async for d in make_model(max_retries=3).stream(ask("hello"))])
    assert text  # the stream's text arrived, after two refused attempts
    assert len(server.chat_requests) == 3
    assert budget.spent.llm_calls == 3 and budget.reserved.llm_calls == 0


# ----------------------------------------------------------------------------- concurrency
async def test_64_concurrent_calls_each_get_their_own_answer(make_model: Factory, server: FakeOpenAIServer) -> None:
    server.latency = 0.05
    model = make_model()
    budget = Budget()
    with run_context(budget):
        results = await asyncio.gather(*(model.complete(ask(f"q{i:03d}")) for i in range(64)))
    assert [r.text for r in results] == [f"echo: q{i:03d}" for i in range(64)]
    assert len(server.chat_requests) == 64
    assert budget.spent.llm_calls == 64
    assert json.dumps(budget.report().to_dict())  # the report stays serialisable

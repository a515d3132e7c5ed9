"""OpenAIModel specifics: keys and base URLs, pricing, per-loop clients, extra parameters.

The scenarios shared with LiteLLMModel (retries, structured output, streaming...) are in
test_models_transports.py.
"""

from __future__ import annotations

import asyncio

import pytest

from agentloom import tracing
from agentloom.budget import Budget, Price
from agentloom.errors import MissingAPIKeyError
from agentloom.models._pricing import lookup_price
from agentloom.models.openai_model import OpenAIModel
from agentloom.models.types import Message, ModelRequest
from agentloom.tokens import count_tokens
from tests.fakeserver import FakeOpenAIServer, Reply


def ask(text: str, **kw: object) -> ModelRequest:
    return ModelRequest([Message.user(text)], **kw)  # type: ignore[arg-type]


async def test_openai_without_key_fails_before_anything_is_reserved_or_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    budget = Budget()
    model = OpenAIModel("gpt-4o-mini")
    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY"):
        model.check()
    with tracing.use(tracing.RunContext(budget=budget)), pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY"):
        await model.complete(ask("hello"))
    with tracing.use(tracing.RunContext(budget=budget)), pytest.raises(MissingAPIKeyError):
        async for _ in model.stream(ask("hello")):
            pass
    assert budget.ledger == []
    assert budget.spent.llm_calls == 0


async def test_key_from_environment_is_sent(openai_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-0000000000")
    openai_server.api_key = "sk-from-env-0000000000"
    completion = await OpenAIModel("m", base_url=openai_server.base_url).complete(ask("hi"))
    assert completion.text == "echo: hi"
    assert openai_server.requests[0].headers["authorization"] == "Bearer sk-from-env-0000000000"


async def test_self_hosted_server_without_key_gets_a_placeholder(openai_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = OpenAIModel("llama-3-8b", base_url=openai_server.base_url)
    assert (await model.complete(ask("hi"))).text == "echo: hi"
    assert openai_server.requests[0].headers["authorization"] == "Bearer EMPTY"
    assert openai_server.requests[0].body["model"] == "llama-3-8b"


async def test_base_url_from_environment(openai_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = OpenAIModel("gpt-4o-mini")
    assert (await model.complete(ask("env"))).text == "echo: env"
    assert model.price() is None  # not OpenAI's own server: price unknown


def test_price_known_unknown_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    known = OpenAIModel("gpt-4o-mini", api_key="sk-x").price()
    assert known is not None and known == lookup_price("gpt-4o-mini")
    assert known.input > 0 and known.output > known.input
    assert OpenAIModel("no-such-model-123", api_key="sk-x").price() is None
    assert OpenAIModel("gpt-4o-mini", base_url="http://127.0.0.1:9/v1").price() is None
    assert OpenAIModel("gpt-4o-mini", base_url="https://api.openai.com/v1", api_key="k").price() == known
    override = Price(1.0, 2.0)
    assert OpenAIModel("gpt-4o-mini", api_key="sk-x", price=override).price() is override


async def test_estimate_reserves_worst_case_at_the_known_price(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    model = OpenAIModel("gpt-4o-mini", api_key="sk-x")
    estimate = model.estimate(ask("x" * 300, max_tokens=100))
    price = model.price()
    assert price is not None
    assert estimate.output_tokens == 100 and estimate.input_tokens > count_tokens("x" * 300, "gpt-4o-mini")
    assert estimate.usd == pytest.approx(price.cost(estimate.input_tokens, 100))


async def test_extra_params_and_headers_are_sent(openai_server: FakeOpenAIServer) -> None:
    model = OpenAIModel(
        "m",
        base_url=openai_server.base_url,
        api_key="k",
        default_headers={"X-Team": "blue"},
        reasoning_effort="low",
        extra_body={"top_k": 5},
    )
    await model.complete(ask("hi"))
    sent = openai_server.requests[0]
    assert sent.headers["x-team"] == "blue"
    assert sent.body["reasoning_effort"] == "low"
    assert sent.body["top_k"] == 5


def test_one_client_per_event_loop(openai_server: FakeOpenAIServer) -> None:
    """asyncio.run twice (as run_sync does) must not reuse a client bound to a closed loop."""
    model = OpenAIModel("m", base_url=openai_server.base_url, api_key="k")
    first = asyncio.run(model.complete(ask("one")))
    second = asyncio.run(model.complete(ask("two")))
    assert (first.text, second.text) == ("echo: one", "echo: two")


async def test_aclose_closes_and_a_new_client_is_made(openai_server: FakeOpenAIServer) -> None:
    model = OpenAIModel("m", base_url=openai_server.base_url, api_key="k")
    await model.complete(ask("one"))
    await model.aclose()
    assert (await model.complete(ask("two"))).text == "echo: two"


async def test_stream_without_usage_option(openai_server: FakeOpenAIServer) -> None:
    openai_server.responder = lambda body: Reply(text="a b c")
    model = OpenAIModel("m", base_url=openai_server.base_url, api_key="k", stream_usage=False)
    deltas = [d async for d in model.stream(ask("hi"))]
    assert "".join(deltas) == "a b c"
    assert "stream_options" not in openai_server.requests[0].body
    assert model.last_stream_usage.output_tokens == 0  # the server sent no usage  # type: ignore[attr-defined]


async def test_model_name_and_repr(openai_server: FakeOpenAIServer) -> None:
    model = OpenAIModel("qwen2.5", base_url=openai_server.base_url)
    assert model.name == "qwen2.5"
    assert openai_server.base_url in repr(model)
    completion = await model.complete(ask("hi"))
    assert completion.model == "qwen2.5"

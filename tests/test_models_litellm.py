"""LiteLLMModel specifics: model and key checks before any request, the bundled price map,
litellm's own retries switched off, and ``resolve_model``."""

from __future__ import annotations

import os

import pytest

from agentloom import tracing
from agentloom.budget import Budget, Price
from agentloom.errors import ConfigError, MissingAPIKeyError, ModelHTTPError, ModelNotFoundError
from agentloom.models._pricing import _read_bundled_file, lookup_price
from agentloom.models.litellm_model import LiteLLMModel, import_litellm
from agentloom.models.offline import OfflineModel
from agentloom.models.resolve import default_model_name, resolve_model
from agentloom.models.types import Message, ModelRequest
from tests.fakeserver import FakeOpenAIServer, Reply


def ask(text: str, **kw: object) -> ModelRequest:
    return ModelRequest([Message.user(text)], **kw)  # type: ignore[arg-type]


def local(server: FakeOpenAIServer, name: str = "openai/gpt-4o-mini", **kw: object) -> LiteLLMModel:
    return LiteLLMModel(name, api_base=server.base_url, api_key="sk-test-key-0000", retry_initial_wait=0.01, **kw)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- price
def test_known_model_is_priced_from_the_bundled_map() -> None:
    price = LiteLLMModel("openai/gpt-4o-mini").price()
    assert price is not None and price.input > 0 and price.output > 0
    litellm = import_litellm()
    entry = litellm.model_cost["gpt-4o-mini"]
    assert (price.input, price.output) == (entry["input_cost_per_token"], entry["output_cost_per_token"])
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    # the same map is read straight from litellm's package file when litellm is not loaded
    assert _read_bundled_file()["gpt-4o-mini"]["input_cost_per_token"] == entry["input_cost_per_token"]


def test_price_lookup_respects_the_provider() -> None:
    assert lookup_price("gpt-4o-mini") == lookup_price("openai/gpt-4o-mini")
    assert lookup_price("groq/gpt-4o-mini") is None  # does not borrow OpenAI's price
    assert lookup_price("gpt-4o-mini", "openai") is not None
    assert lookup_price("ollama/llama3") == Price(0.0, 0.0)  # a local model the map knows is free
    assert lookup_price("openai/no-such-model-xyz") is None
    assert lookup_price("sample_spec") is None


async def test_known_model_costs_usd(openai_server: FakeOpenAIServer) -> None:
    openai_server.responder = lambda body: Reply(text="ok", usage={"prompt_tokens": 1000, "completion_tokens": 100})
    usage = (await local(openai_server).complete(ask("hi"))).usage
    price = lookup_price("gpt-4o-mini")
    assert price is not None
    assert usage.usd == pytest.approx(1000 * price.input + 100 * price.output)
    assert usage.usd > 0


async def test_unknown_model_reports_tokens_and_no_cost(openai_server: FakeOpenAIServer) -> None:
    model = local(openai_server, "openai/my-finetune-xyz")
    assert model.price() is None
    budget = Budget(tokens=100_000)
    with tracing.use(tracing.RunContext(budget=budget)):
        usage = (await model.complete(ask("hi"))).usage
    assert usage.usd is None
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert budget.spent.usd == 0.0 and budget.spent.output_tokens == usage.output_tokens


async def test_usd_limit_with_unknown_price_is_refused_before_sending(openai_server: FakeOpenAIServer) -> None:
    model = local(openai_server, "openai/my-finetune-xyz")
    before = len(openai_server.requests)
    with tracing.use(tracing.RunContext(budget=Budget(usd=1.0))), pytest.raises(ConfigError) as info:
        await model.complete(ask("hi"))
    assert "no known price" in str(info.value) and "price=Price" in str(info.value)
    assert len(openai_server.requests) == before


async def test_price_override_wins(openai_server: FakeOpenAIServer) -> None:
    openai_server.responder = lambda body: Reply(text="ok", usage={"prompt_tokens": 10, "completion_tokens": 20})
    model = local(openai_server, price=Price(input=0.5, output=1.0))
    assert model.price() == Price(0.5, 1.0)
    assert (await model.complete(ask("hi"))).usage.usd == pytest.approx(10 * 0.5 + 20 * 1.0)


# ----------------------------------------------------------------------------- checks before sending
async def test_missing_key_names_the_variable_and_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    budget = Budget()
    model = resolve_model("openai/gpt-4o-mini")
    assert isinstance(model, LiteLLMModel)
    with tracing.use(tracing.RunContext(budget=budget)), pytest.raises(MissingAPIKeyError) as info:
        await model.complete(ask("hello"))
    assert "OPENAI_API_KEY" in str(info.value)
    assert info.value.exit_code == 2
    assert budget.ledger == [] and budget.spent.llm_calls == 0


def test_missing_key_for_other_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError, match="ANTHROPIC_API_KEY"):
        LiteLLMModel("anthropic/claude-3-5-haiku-latest").check()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    LiteLLMModel("anthropic/claude-3-5-haiku-latest").check()
    LiteLLMModel("ollama/llama3").check()  # a local provider needs no key


@pytest.mark.parametrize("name", ["nosuchprovider/xyz", "gpt-nonexistent-model"])
async def test_unknown_model_is_a_model_not_found_error(name: str) -> None:
    model = resolve_model(name)
    with pytest.raises(ModelNotFoundError) as info:
        await model.complete(ask("hello"))
    message = info.value.one_line()
    assert name in message and "provider/model" in message
    assert "\n" not in str(info.value)


async def test_self_hosted_openai_route_without_key_gets_a_placeholder(
    openai_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = LiteLLMModel("openai/llama-3-8b", api_base=openai_server.base_url)
    assert (await model.complete(ask("hi"))).text == "echo: hi"
    assert openai_server.requests[0].headers["authorization"] == "Bearer EMPTY"


# ----------------------------------------------------------------------------- litellm's own retries are off
@pytest.mark.parametrize("status", [429, 500])
async def test_litellm_does_not_retry_on_its_own(openai_server: FakeOpenAIServer, status: int) -> None:
    openai_server.add_fault(status=status, times=5)
    with pytest.raises(ModelHTTPError) as info:
        await local(openai_server, max_retries=0).complete(ask("once"))
    assert info.value.attempts == 1
    assert len(openai_server.requests) == 1


async def test_extra_litellm_params_are_forwarded(openai_server: FakeOpenAIServer) -> None:
    model = local(openai_server, user="team-7", extra_body={"top_k": 3})
    await model.complete(ask("hi"))
    body = openai_server.requests[0].body
    assert body["user"] == "team-7"
    assert body["top_k"] == 3
    assert "num_retries" not in body and "drop_params" not in body


# ----------------------------------------------------------------------------- resolve_model
def test_resolve_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTLOOM_MODEL", raising=False)
    assert isinstance(resolve_model("offline"), OfflineModel)
    assert isinstance(resolve_model(None), OfflineModel)
    assert default_model_name() == "offline"
    monkeypatch.setenv("AGENTLOOM_MODEL", "anthropic/claude-3-5-haiku-latest")
    from_env = resolve_model()
    assert isinstance(from_env, LiteLLMModel) and from_env.name == "anthropic/claude-3-5-haiku-latest"
    named = resolve_model("ollama/llama3", api_base="http://127.0.0.1:11434", timeout=5.0)
    assert isinstance(named, LiteLLMModel)
    assert (named.name, named.api_base, named.timeout) == ("ollama/llama3", "http://127.0.0.1:11434", 5.0)
    same = OfflineModel()
    assert resolve_model(same) is same

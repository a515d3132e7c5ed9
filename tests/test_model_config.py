"""Connection options for any model: ``--base-url``, ``--api-key-env``, ``--price`` and
``--tool-mode`` on the CLI, the same keys in YAML ``models:``, and keywords in Python."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentloom.budget import Budget, Price
from agentloom.errors import ConfigError, MissingAPIKeyError
from agentloom.graph import parse_graph
from agentloom.graph._resources import build_resources
from agentloom.models.litellm_model import LiteLLMModel
from agentloom.models.resolve import parse_price, resolve_model
from agentloom.models.types import Message, ModelRequest
from tests.cliutil import run_cli
from tests.fakeserver import FakeOpenAIServer, Reply, last_user_text

pytest_plugins = ["tests.fakeserver"]


def test_prices_are_read_as_usd_per_million_tokens() -> None:
    assert parse_price("0.15,0.60") == Price(0.15 / 1e6, 0.60 / 1e6)
    assert parse_price({"input": 1, "output": 2}) == Price(1e-6, 2e-6)
    assert parse_price("0,0") == Price(0.0, 0.0)
    assert parse_price(Price(1.0, 2.0)) == Price(1.0, 2.0)
    for bad in ("cheap", "1", "-1,2", {"in": 1, "out": 2}):
        with pytest.raises(ConfigError, match="USD per million tokens"):
            parse_price(bad)  # type: ignore[arg-type]


def test_resolve_model_takes_base_url_key_variable_price_and_tool_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_LOCAL_KEY", "secret-123")
    model = resolve_model("openai/qwen", base_url="http://127.0.0.1:9/v1", api_key_env="MY_LOCAL_KEY", price="0,0", tool_mode="json")
    assert isinstance(model, LiteLLMModel)
    assert (model.api_base, model.api_key, model.price(), model.tool_mode) == ("http://127.0.0.1:9/v1", "secret-123", Price(0.0, 0.0), "json")
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE.*not set"):
        resolve_model("openai/qwen", api_key_env="NOT_SET_ANYWHERE")
    with pytest.raises(ConfigError, match="tool_mode"):
        resolve_model("openai/qwen", tool_mode="telepathy")


def test_the_missing_key_message_names_what_the_cli_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError) as info:
        LiteLLMModel("openai/gpt-4o-mini").check()
    assert "--api-key-env" in str(info.value) and "OPENAI_API_KEY" in str(info.value)


async def test_an_unpriced_local_model_runs_under_a_usd_budget_once_priced(openai_server: FakeOpenAIServer) -> None:
    openai_server.responder = lambda body: Reply(text=f"seen: {last_user_text(body)}")
    request = ModelRequest([Message.user("hello")], temperature=0.0, max_tokens=8)
    unpriced = resolve_model("openai/my-local-thing", base_url=openai_server.base_url)
    async with _budget_scope(Budget(usd=0.01)):
        with pytest.raises(ConfigError, match="price"):
            await unpriced.complete(request)
        priced = resolve_model("openai/my-local-thing", base_url=openai_server.base_url, price="0,0")
        completion = await priced.complete(request)
    assert completion.text == "seen: hello" and completion.usage.usd == 0.0


class _budget_scope:
    """Run the body inside an agentloom run scope with ``budget`` (what every command does)."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    async def __aenter__(self) -> None:
        from agentloom._runtime import run_scope

        self._cm = run_scope("test", "test", {}, budget=self.budget)
        await self._cm.__aenter__()

    async def __aexit__(self, *exc: Any) -> None:
        await self._cm.__aexit__(*exc)


def _answer_from_content(body: dict[str, Any]) -> Reply:
    """Whatever the protocol, answer with a cited sentence built from the first passage id the
    request shows (so the run is grounded), else search for the question."""
    text = json.dumps(body.get("messages"))
    import re

    ids = re.findall(r"p_[0-9a-f]{6,}", text)
    if body.get("response_format"):
        if ids:
            return Reply(text=json.dumps({"answer": f"Found it [{ids[0]}].", "cite": [ids[0]]}))
        return Reply(text=json.dumps({"tool": "corpus_search", "arguments": {"query": last_user_text(body)}}))
    if ids:
        return Reply(text=f"Found it [{ids[0]}].")
    return Reply(tool_calls=[{"name": "corpus_search", "arguments": {"query": last_user_text(body)}}])


@pytest.mark.parametrize("command", ["ask", "research"])
def test_cli_commands_reach_a_server_given_by_base_url_with_a_price(
    command: str, openai_server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_server.responder = _answer_from_content
    code, out, err = run_cli(
        [command, "What is the installed capacity of the Skerry Sound Tidal Station?", "--model", "openai/local-model",
         "--base-url", openai_server.base_url, "--price", "0,0", "--budget-usd", "0.01", "--json", "--quiet"],
        capsys,
    )
    assert code == 0, err
    assert openai_server.requests, "nothing reached the server"
    assert all(r.body.get("model") == "local-model" for r in openai_server.requests)


def test_cli_price_and_key_variable_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["ask", "q?", "--model", "openai/x", "--price", "cheap"], capsys)
    assert code == 2 and "--price" in err and "Traceback" not in err
    code, _, err = run_cli(["ask", "q?", "--model", "openai/x", "--api-key-env", "NO_SUCH_VAR_XYZ"], capsys)
    assert code == 2 and "NO_SUCH_VAR_XYZ" in err and "Traceback" not in err


def test_yaml_models_take_the_same_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_KEY_FOR_TEST", "k-1")
    graph = parse_graph(
        """
version: 1
name: cfg
models:
  default:
    model: openai/qwen-local
    base_url: http://127.0.0.1:8080/v1
    api_key_env: LOCAL_KEY_FOR_TEST
    price: "0.1,0.2"
    tool_mode: text
nodes:
  a: {kind: agent, task: "hi"}
""",
    )
    resources = build_resources(graph.spec, {}, graph.refs, tmp_path)
    model = resources.models["default"]
    assert isinstance(model, LiteLLMModel)
    assert (model.api_base, model.api_key, model.tool_mode) == ("http://127.0.0.1:8080/v1", "k-1", "text")
    price = model.price()
    assert price is not None and price.input == pytest.approx(0.1e-6) and price.output == pytest.approx(0.2e-6)

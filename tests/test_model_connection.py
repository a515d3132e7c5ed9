"""--base-url, --api-key-env and --price on every command that takes --model, and the same in
Python (``resolve_model``) and YAML ``models:``."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from agentloom import Budget
from agentloom.budget import Price
from agentloom.errors import ConfigError, MissingAPIKeyError
from agentloom.graph import load_graph
from agentloom.models.resolve import parse_price, resolve_model
from tests.cliutil import run_cli
from tests.fakeserver import FakeOpenAIServer, Reply, last_user_text


def _answer(body: dict[str, Any]) -> Reply:
    return Reply(text=f"served answer to: {last_user_text(body)[-40:]}", usage={"prompt_tokens": 1000, "completion_tokens": 100})


def test_prices_read_per_million_tokens() -> None:
    assert parse_price("0.15,0.60") == Price(0.15e-6, 0.60e-6)
    assert parse_price({"input": 1, "output": 2, "cached_input": 0.5}) == Price(1e-6, 2e-6, 0.5e-6)
    assert parse_price("0,0") == Price(0.0, 0.0)
    for bad in ("cheap", "1", "nan,1", "-1,2", "1,2,3,4"):
        with pytest.raises(ConfigError):
            parse_price(bad)


def test_a_bare_name_with_a_base_url_is_an_openai_compatible_model() -> None:
    model: Any = resolve_model("my-local", base_url="http://127.0.0.1:9/v1", price="0,0")
    assert model.name == "openai/my-local" and model.api_base == "http://127.0.0.1:9/v1"
    assert model.price() == Price(0.0, 0.0)


def test_an_unset_key_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_LLM_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError, match=r"\$MY_LLM_KEY is not set"):
        resolve_model("openai/x", base_url="http://127.0.0.1:9/v1", api_key_env="MY_LLM_KEY")


async def test_a_usd_budget_works_on_a_priced_local_model(openai_server: FakeOpenAIServer) -> None:
    """An unpriced model takes price=, so a USD limit can be enforced on it."""
    from agentloom.agents.agent import Agent

    openai_server.responder = _answer
    model = resolve_model("local-model", base_url=openai_server.base_url, price="1,10", tool_mode="native")  # one plain call
    result = await Agent(model=model, name="priced").run("How deep is the harbour?", budget=Budget(usd=0.5))
    assert "served answer" in str(result.output)
    assert result.usage.usd == pytest.approx(1000 * 1e-6 + 100 * 10e-6)


@pytest.mark.parametrize("command", ["ask", "research"])
def test_every_model_command_reaches_the_server_named_by_base_url(
    command: str, openai_server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCAL_KEY", "secret-local-key")
    openai_server.responder = _answer
    code, _out, err = run_cli([command, "How deep is the harbour?", "--model", "served", "--base-url",
                               openai_server.base_url, "--api-key-env", "LOCAL_KEY", "--price", "0,0", "--quiet"], capsys)
    assert openai_server.requests, err
    assert all(r.headers.get("authorization") == "Bearer secret-local-key" for r in openai_server.requests)
    assert all(r.body.get("model") == "served" for r in openai_server.requests)
    assert code in (0, 1, 3), err


def test_connection_flags_without_a_model_say_what_to_add(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_cli(["ask", "Why?", "--base-url", "http://127.0.0.1:9/v1"], capsys)
    assert code == 2
    assert "need a served model: add --model NAME" in err
    assert "Traceback" not in err


async def test_yaml_models_take_base_url_key_variable_and_price(openai_server: FakeOpenAIServer, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YAML_KEY", "yaml-key-value")
    openai_server.responder = _answer
    spec = tmp_path / "g.yaml"
    spec.write_text(textwrap.dedent(f"""\
        version: 1
        name: served
        inputs:
          question: {{type: string}}
        models:
          default:
            model: served-yaml
            base_url: {openai_server.base_url}
            api_key_env: YAML_KEY
            price: {{input: 2, output: 4}}
        nodes:
          answer: {{kind: agent, max_turns: 1}}
        """), encoding="utf-8")
    result = await load_graph(spec).run({"question": "How deep is the harbour?"}, budget=Budget(usd=1.0))
    assert openai_server.requests
    assert all(r.body.get("model") == "served-yaml" for r in openai_server.requests)
    assert all(r.headers.get("authorization") == "Bearer yaml-key-value" for r in openai_server.requests)
    calls = len(openai_server.requests)
    assert result.usage.usd == pytest.approx(calls * (1000 * 2e-6 + 100 * 4e-6))

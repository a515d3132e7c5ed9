"""The real path end to end with a real small model (Qwen2.5-Coder-0.5B behind llama.cpp's
server): ``ask`` and ``research`` call a tool and cite, through the tool protocol ``auto`` picks."""

from __future__ import annotations

import json

import pytest

from agentloom import Agent
from agentloom._paths import default_corpus
from agentloom.agents import tool_protocol as protocol
from agentloom.models.resolve import resolve_model
from agentloom.runstore import RunStore
from agentloom.tools.calculator import calculator
from agentloom.tools.corpus import corpus_tools
from scripts import local_model
from tests.cliutil import run_cli

pytestmark = pytest.mark.realmodel

QUESTION = "What is the installed capacity of the Skerry Sound Tidal Station?"


def _model(server: local_model.RunningServer) -> object:
    return resolve_model(f"openai/{server.alias}", base_url=server.base_url, price="0,0")


async def test_ask_with_a_real_model_calls_a_tool_and_cites(real_model_server: local_model.RunningServer) -> None:
    model = _model(real_model_server)
    assert protocol.resolve_tool_mode(model) == "json"  # a self-hosted server enforces the act schema
    agent = Agent(model, tools=[*corpus_tools([default_corpus()]), calculator], name="ask")
    result = await agent.run(QUESTION)
    calls = RunStore().events(result.run_id, "tool_call")
    assert any(e["name"] == "corpus_search" for e in calls)
    assert result.citations and result.grounded is True
    assert result.usage.llm_calls >= 1 and result.usage.tokens > 0


def test_loom_ask_and_research_with_a_real_model_cite(
    real_model_server: local_model.RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--model", real_model_server.alias, "--base-url", real_model_server.base_url, "--price", "0,0",
             "--budget-usd", "1", "--json", "--quiet"]
    code, out, err = run_cli(["ask", QUESTION, *flags], capsys)
    assert code == 0, err
    answer = json.loads(out)
    assert answer["usage"]["tool_calls"] >= 1 and answer["citations"] and answer["grounded"] is True

    code, out, err = run_cli(["research", QUESTION, *flags, "--budget-seconds", "600"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["usage"]["tool_calls"] >= 1 and report["citations"]
    assert report["answer"].strip(), "the report has a short answer"


async def test_the_readme_agent_snippet_runs_on_a_local_model_under_a_usd_budget(
    real_model_server: local_model.RunningServer,
) -> None:
    from agentloom import Budget

    agent = Agent(model=_model(real_model_server), tools=[calculator, *corpus_tools(["examples/corpus"])],
                  width="descending", max_turns=6)
    result = await agent.run(QUESTION, budget=Budget(usd=0.05, seconds=300))
    assert result.citations and result.usage.usd == 0.0

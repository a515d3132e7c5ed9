"""The same flags on ask, run and research (--memory, --resume, budget defaults), and a resumed
run that says so: resumed true in its record, JSON, `runs show` and timeline, with the pause
between the stop and the resume cut out of its wall time and its earlier spend counted."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from agentloom.runstore import RunStore
from tests.cliutil import run_cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
QUESTION = "What is the capacity of the Northpoint plant?"


@pytest.mark.parametrize("command", ["ask", "run", "research"])
def test_memory_and_resume_flags_exist_on_every_run_command(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, _ = run_cli([command, "--help"], capsys)
    text = " ".join(out.split())
    assert code == 0
    assert "--memory SCOPE Memory bank: run (this run only), project (shared across runs) or a file path" in text
    assert "--resume RUN_ID" in text


def test_ask_and_research_show_and_apply_the_same_default_budget(capsys: pytest.CaptureFixture[str]) -> None:
    helps = {}
    for command in ("ask", "research"):
        _, out, _ = run_cli([command, "--help"], capsys)
        text = " ".join(out.split())
        helps[command] = re.findall(r"--budget-(usd|tokens|seconds) \S+ [^(]*\(default: ([^)]+)\)", text)
    assert helps["ask"] == helps["research"] == [("usd", "none"), ("tokens", "400,000"), ("seconds", "300")]


def test_a_budget_flag_given_keeps_the_other_defaults() -> None:
    from agentloom._cli._common import DEFAULT_LIMITS, budget_from_flags
    from agentloom._cli.research import _budget

    for budget in (_budget(0.5, None, None), budget_from_flags(0.5, None, None, defaults=DEFAULT_LIMITS)):
        assert budget.limits["usd"] == 0.5 and budget.limits["tokens"] == 400_000 and budget.limits["seconds"] == 300


def test_ask_memory_run_keeps_tool_results_in_the_runs_bank(capsys: pytest.CaptureFixture[str], loom_home: Path) -> None:
    from agentloom.memory import MemoryBank

    code, out, err = run_cli(["ask", QUESTION, "--memory", "run", "--json"], capsys)
    assert code == 0, err
    run_id = json.loads(out)["run_id"]
    assert len(MemoryBank.for_scope("run", run_id=run_id)) > 0
    bank = loom_home / "ask-bank.db"
    code, _, err = run_cli(["ask", QUESTION, "--memory", str(bank), "--json"], capsys)
    assert code == 0, err
    assert len(MemoryBank(bank)) > 0


def test_run_memory_overrides_the_spec(capsys: pytest.CaptureFixture[str], loom_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentloom.graph.builder import Graph

    seen: dict[str, Any] = {}

    async def capture(self: Graph, *args: Any, **kwargs: Any) -> Any:
        seen["memory"] = self.spec.memory
        raise KeyboardInterrupt

    monkeypatch.setattr(Graph, "run", capture)
    bank = loom_home / "graph-bank.db"
    run_cli(["run", str(EXAMPLES / "pdr_reasoning.yaml"), "-i", "question=Why?", "--memory", str(bank)], capsys)
    assert seen["memory"] is not None and seen["memory"].path == str(bank.resolve())
    run_cli(["run", str(EXAMPLES / "pdr_reasoning.yaml"), "-i", "question=Why?", "--memory", "project"], capsys)
    assert seen["memory"].scope == "project"


def test_ask_resume_continues_an_interrupted_run_counting_what_it_spent(capsys: pytest.CaptureFixture[str], loom_home: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from agentloom import tracing
    from agentloom.agents.agent import Agent
    from agentloom.budget import Cost

    real_run = Agent.run

    async def stopped(self: Agent, task: str, **kwargs: Any) -> Any:
        ctx = tracing.current()
        assert ctx is not None and ctx.budget is not None
        ctx.budget.charge(Cost(input_tokens=700, output_tokens=30, llm_calls=2), what="before Ctrl-C")
        raise KeyboardInterrupt

    code, out, _ = run_cli(["research", QUESTION, "--json"], capsys)
    research_id, research_tokens = json.loads(out)["run_id"], json.loads(out)["usage"]["tokens"]
    monkeypatch.setattr(Agent, "run", stopped)
    code, _, err = run_cli(["ask", QUESTION, "--max-turns", "4", "--json"], capsys)
    assert code == 130
    run_id = re.search(r"loom ask --resume (\S+)", err).group(1)  # type: ignore[union-attr]
    store = RunStore()
    assert store.get_run(run_id).status == "interrupted"
    store.close()

    monkeypatch.setattr(Agent, "run", real_run)
    time.sleep(0.3)  # the pause between the stop and the resume
    code, out, err = run_cli(["ask", "--resume", run_id, "--json"], capsys)
    assert code == 0, err
    payload = json.loads(out)
    assert payload["run_id"] == run_id and payload["resumed"] is True and "Northpoint" in payload["answer"]
    assert payload["usage"]["llm_calls"] > 2 and payload["usage"]["input_tokens"] > 700  # the stop's spend is counted

    store = RunStore()
    record = store.get_run(run_id)
    store.close()
    assert record.status == "ok" and record.input["max_turns"] == 4  # the recorded settings were used
    assert record.meta["resumed"] is True and len(record.meta["pauses"]) == 1
    stopped_at, resumed_at = record.meta["pauses"][0]
    assert resumed_at - stopped_at >= 0.3

    code, out, _ = run_cli(["runs", "show", run_id, "--json"], capsys)
    shown = json.loads(out)
    assert shown["meta"]["resumed"] is True
    assert shown["duration_s"] <= record.finished - record.created - 0.3 + 1e-6  # the pause is not run time
    code, out, _ = run_cli(["runs", "show", run_id], capsys)
    assert re.search(r"resumed\s+yes, 1 time; \d+\.\d\ds paused", out)
    from agentloom.web.app import _summary

    store = RunStore()
    assert _summary(store, record)["wall_s"] == shown["duration_s"]  # loom ui says the same
    store.close()

    code, out, _ = run_cli(["research", "--resume", research_id, "--json"], capsys)  # a finished research run
    assert code == 0 and json.loads(out)["resumed"] is True
    code, out, _ = run_cli(["runs", "show", research_id, "--json"], capsys)
    shown = json.loads(out)
    assert shown["artifacts"] == ["report.md", "citations.json"] and shown["usage"]["tokens"] == research_tokens

    code, out, _ = run_cli(["ask", "--resume", run_id, "--json"], capsys)  # finished: its answer, no new calls
    again = json.loads(out)
    assert code == 0 and again["answer"] == payload["answer"] and again["usage"]["llm_calls"] == payload["usage"]["llm_calls"]


def test_resume_refuses_another_commands_run_and_a_question(capsys: pytest.CaptureFixture[str], loom_home: Path) -> None:
    code, out, _ = run_cli(["research", "What powers the trams?", "--json", "--budget-tokens", "3000"], capsys)
    run_id = json.loads(out)["run_id"]
    code, _, err = run_cli(["ask", "--resume", run_id], capsys)
    assert code == 2 and f"loom research --resume {run_id}" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["ask", "--resume", run_id, "Why?"], capsys)
    assert code == 2 and "leave the question out" in err


def test_timeline_cuts_a_recorded_pause_of_any_length() -> None:
    from agentloom.research.timeline import PAUSE_S, build_timeline

    short = PAUSE_S / 4  # shorter than the idle-gap rule: only the record says it was a stop
    events = [
        {"kind": "model_call", "name": "m", "span_id": "a", "start": 100.0, "end": 101.0},
        {"kind": "model_call", "name": "m", "span_id": "b", "start": 101.2 + short, "end": 102.2 + short},
    ]
    plain = build_timeline(events)
    assert plain.paused == 0 and plain.resumes == 0
    resumed = build_timeline(events, pauses=[[101.1, 101.1 + short]])
    assert resumed.resumes == 1 and resumed.to_dict()["resumed"] is True
    assert resumed.paused == pytest.approx(0.2 + short)  # the whole idle stretch around the stop
    assert resumed.wall == pytest.approx(2.0)
    assert "resumed 1 time" in resumed.summary()

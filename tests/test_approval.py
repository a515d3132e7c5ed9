"""Approval gates: a run pauses through LangGraph ``interrupt()``, is recorded as ``waiting``,
survives a process restart and continues on ``loom runs approve`` / ``deny`` or
``RunHandle.resume``. Offline and deterministic (the offline engine over the shipped corpus)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentloom import approvals
from agentloom.events import ApprovalRequested, Event
from agentloom.research.run import research
from agentloom.runstore import RunStore
from tests.cliutil import run_cli

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "How is Marrowick supplied with water?"


def loom(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    """``loom ARGS`` in a fresh process (the pause must live in the checkpoint, not in memory)."""
    env = {**os.environ, "AGENTLOOM_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "agentloom.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def waiting_id(home: Path) -> str:
    with RunStore(home / "runs.db") as store:
        runs = [r for r in store.list_runs() if r.status == "waiting"]
    assert len(runs) == 1, [(r.id, r.status) for r in runs]
    return runs[0].id


def test_plan_gate_survives_a_restart_and_finishes_on_approve(loom_home: Path) -> None:
    started = loom(["research", QUESTION, "--approve", "plan", "--quiet"], loom_home)
    assert started.returncode == 4, started.stderr
    assert "plan gate at 'plan'" in started.stderr and "projected:" in started.stderr
    run_id = waiting_id(loom_home)
    with RunStore(loom_home / "runs.db") as store:
        record = store.get_run(run_id)
        pending = record.meta["approval"]["pending"]
        events = store.events(run_id, "approval_requested")
    assert [p["gate"] for p in pending] == ["plan"]
    plan = pending[0]
    assert plan["branches"] and plan["sub_tasks"] and plan["width"] >= 1 and plan["depth"] >= 1
    assert plan["projected"]["branches"] == len(plan["branches"]) and plan["projected"]["tokens"] > 0
    assert len(events) == 1 and events[0]["data"]["gate"] == "plan"
    assert record.usage.get("llm_calls", 0) >= 1  # the planner ran; no branch did yet

    shown = loom(["runs", "show", run_id], loom_home)
    assert "waiting for approval" in shown.stdout and "plan gate at 'plan'" in shown.stdout
    listed = loom(["runs", "waiting", "--json"], loom_home)
    assert json.loads(listed.stdout)[0]["run_id"] == run_id

    approved = loom(["runs", "approve", run_id], loom_home)
    assert approved.returncode == 0, approved.stderr
    assert "## Approvals" in approved.stdout and "approved" in approved.stdout
    with RunStore(loom_home / "runs.db") as store:
        done = store.get_run(run_id)
        report = store.artifact(run_id, "report.md")
    assert done.status == "ok"
    assert done.meta["approvals"][0]["gate"] == "plan" and done.meta["approvals"][0]["approved"] is True
    # the whole run's spend (before and after the pause) is the actual beside the projection
    assert done.meta["actual"]["llm_calls"] > record.usage["llm_calls"]
    assert report is not None and "[1]" in report and "projected" in report

    shown = loom(["runs", "show", run_id], loom_home)
    assert "approvals" in shown.stdout and "projected" in shown.stdout and "actual spend" in shown.stdout
    again = loom(["runs", "approve", run_id], loom_home)
    assert again.returncode == 2 and "not waiting for approval" in again.stderr and "Traceback" not in again.stderr


async def test_python_handle_edit_plan_runs_the_edited_plan() -> None:
    seen: list[Event] = []
    result = await research(QUESTION, approve="plan", listeners=[seen.append])
    assert result.stop_reason == "waiting"
    requested = [e for e in seen if isinstance(e, ApprovalRequested)]
    assert [e.gate for e in requested] == ["plan"] and requested[0].run_id == result.run_id
    run = approvals.get(result.run_id)
    assert run.status == "waiting"
    [request] = run.requests
    one = request.plan["sub_tasks"][:1]
    assert one
    finished = await run.resume(approve=True, plan={"sub_tasks": one, "width": 1})
    assert finished.stop_reason == "done"
    assert finished.meta["width"] == 1
    assert finished.meta["approvals"][0]["edited"] is True
    with RunStore() as store:
        branches = [e for e in store.events(result.run_id) if e["kind"] == "node" and str(e["name"]).startswith("research[")]
    assert len(branches) == 1


def test_edit_plan_file_from_the_cli(loom_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["research", QUESTION, "--approve", "plan", "--quiet"], capsys)
    assert code == 4, err
    run_id = waiting_id(loom_home)
    bad = tmp_path / "plan.yaml"
    bad.write_text("width: zero\n")
    code, _, err = run_cli(["runs", "approve", run_id, "--edit-plan", str(bad)], capsys)
    assert code == 2 and "width" in err and len(err.strip().splitlines()) == 1
    assert approvals.get(run_id).status == "waiting"  # a bad edit runs nothing
    good = tmp_path / "plan2.yaml"
    good.write_text("branches:\n  - Where does Marrowick get its water?\n")
    code, out, err = run_cli(["runs", "approve", run_id, "--edit-plan", str(good), "--json"], capsys)
    assert code == 0, err
    payload = json.loads(out)
    assert payload["meta"]["width"] == 1 and payload["stop_reason"] == "done"


def test_deny_ends_gracefully_with_a_report(loom_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["research", QUESTION, "--approve", "plan", "--quiet"], capsys)
    assert code == 4, err
    run_id = waiting_id(loom_home)
    with RunStore(loom_home / "runs.db") as store:
        before = store.get_run(run_id).usage["llm_calls"]
    code, out, err = run_cli(["runs", "deny", run_id, "--reason", "too broad for today"], capsys)
    assert code == 0, err
    assert "Partial report" in out and "denied: too broad for today" in out
    with RunStore(loom_home / "runs.db") as store:
        record = store.get_run(run_id)
    assert record.status == "denied"
    assert record.meta["denied"]["reason"] == "too broad for today"
    assert record.usage["llm_calls"] == before  # nothing was spent after the denial


def test_spend_over_gate_pauses_before_the_fan_out() -> None:
    import asyncio

    result = asyncio.run(research(QUESTION, approve={"spend_over": "500 tokens"}))
    assert result.stop_reason == "waiting"
    [request] = approvals.get(result.run_id).requests
    assert request.gate == "spend" and request.node == "research"
    assert request.data["total"] > 500 and request.data["unit"] == "tokens"
    finished = approvals.get(result.run_id).resume_sync(approve=True)
    assert finished.stop_reason == "done"  # approved once: the rest of the run does not ask again
    assert [a["gate"] for a in finished.meta["approvals"]] == ["spend"]


def test_spend_over_not_reached_does_not_pause() -> None:
    import asyncio

    result = asyncio.run(research(QUESTION, approve={"spend_over": "10000000 tokens"}))
    assert result.stop_reason == "done" and "approvals" not in result.meta


_SMALL = """version: 1
name: small
models:
  default: offline
nodes:
  answer:
    kind: agent
    task: "What is 2 + 2?"
"""


@pytest.mark.parametrize(
    ("block", "line", "words"),
    [
        ("approve:\n  spend_over: lots\n", 2, "spend_over"),
        ("approve:\n  plan: maybe\n", 2, "plan"),
        ("approve:\n  tools: http_fetch\n", 2, "tools"),
        ("approve: [plan, later]\n", 1, "approve"),
        ("approve:\n  tools: [htp_fetch]\n", 2, "approve.tools names 'htp_fetch'"),
    ],
)
def test_bad_approve_block_is_one_line_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           block: str, line: int, words: str) -> None:
    spec = tmp_path / "graph.yaml"
    spec.write_text(block + _SMALL)
    code, _, err = run_cli(["validate", str(spec)], capsys)
    assert code == 2
    problems = [p for p in err.strip().splitlines() if not p.startswith("loom: error:")]
    assert len(problems) == 1, err
    assert problems[0].startswith(f"{spec}:{line}:") and words in problems[0]


def test_yaml_approve_block_pauses_a_graph_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = (ROOT / "examples" / "deep_research.yaml").read_text()
    spec = tmp_path / "deep.yaml"
    spec.write_text(source + "\napprove: [plan]\n")
    (tmp_path / "corpus").symlink_to(ROOT / "examples" / "corpus")
    code, _, err = run_cli(["run", str(spec), "--input", f"question={QUESTION}", "--quiet"], capsys)
    assert code == 4, err
    run_id = err.split("loom: run ")[1].split()[0]
    code, out, err = run_cli(["runs", "approve", run_id], capsys)
    assert code == 0, err
    assert "[1]" in out


def test_parse_approve_flags() -> None:
    assert approvals.parse_approve_flags(["plan", "spend_over=0.50", "tools=http_fetch,web_search"]) == {
        "plan": True, "spend_over": 0.5, "tools": ["http_fetch", "web_search"]}
    assert approvals.parse_approve_flags(["spend_over=20000tokens"]) == {"spend_over": "20000 tokens"}
    assert approvals.parse_approve_flags([]) is None


async def test_tools_gate_waits_before_the_call_and_runs_it_on_approve() -> None:
    result = await research(QUESTION, approve={"tools": ["corpus_search"]})
    assert result.stop_reason == "waiting"
    run = approvals.get(result.run_id)
    [request] = run.requests
    assert request.gate == "tool" and request.data["tool"] == "corpus_search" and request.data["args"]["query"]
    with RunStore() as store:  # the gated call has not run; the paused spans say waiting, not error
        assert not [e for e in store.events(result.run_id, "tool_call") if e["name"] == "corpus_search"]
        assert not [e for e in store.events(result.run_id) if e["status"] == "error"]
        assert [e for e in store.events(result.run_id, "node") if e["status"] == "waiting"]
    finished = await run.resume(approve=True)
    assert finished.stop_reason == "done"
    assert [a["gate"] for a in finished.meta["approvals"]] == ["tool"]
    assert "[1]" in str(finished.output)


async def test_tools_gate_denied_ends_the_run_with_what_it_found() -> None:
    result = await research(QUESTION, approve={"tools": ["corpus"]})  # a built-in group gates its tools
    run = approvals.get(result.run_id)
    assert [r.data["tool"] for r in run.requests] == ["corpus_search"]
    denied = await run.resume(approve=False, reason="no lookups today")
    assert denied.stop_reason == "denied" and denied.partial
    assert run.status == "denied"
    assert "Partial report" in str(denied.output) and "no lookups today" in str(denied.output)
    with RunStore() as store:
        assert not [e for e in store.events(result.run_id, "tool_call") if e["name"] == "corpus_search"]

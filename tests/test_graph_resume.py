"""Durable resume: a ``loom run`` killed with SIGKILL in the middle of a fan-out resumes with
``--resume RUN_ID``; map branches whose writes were checkpointed are not run again (zero
repeated tool calls for them), and the final output equals an uninterrupted run's."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from agentloom import tool
from agentloom.models.function import FunctionModel
from agentloom.models.types import ModelRequest

ROOT = Path(__file__).resolve().parent.parent
MOD = "tests.test_graph_resume"
LOG_ENV = "LOOM_RESUME_TEST_LOG"
ITEMS = 6


# --------------------------------------------------------------------------- what the graph calls
def items(n: int) -> list[str]:
    return [f"item-{i}" for i in range(n)]


@tool(cacheable=False)
async def slow_echo(text: str) -> dict[str, Any]:
    """Echo the text in capitals, slowly (item i takes 0.25 + 0.45 i seconds), logging each call.

    Args:
        text: what to echo, like item-3
    """
    log = Path(os.environ[LOG_ENV])
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"start {text}\n")
    await asyncio.sleep(0.25 + 0.45 * int(text.rsplit("-", 1)[1]))
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"end {text}\n")
    return {"echo": text.upper()}


def _respond(request: ModelRequest) -> Any:
    results = [m for m in request.messages if m.role == "tool"]
    if results:
        return {"text": f"echoed {json.loads(results[-1].content or '{}').get('echo')}"}
    return {"tool_calls": [{"name": "slow_echo", "arguments": {"text": str(request.metadata.get("question"))}}]}


def model() -> FunctionModel:
    return FunctionModel(_respond, name="echo")


def gather(results: list[dict[str, Any]]) -> list[str]:
    return [r["text"] for r in results]


SPEC = f"""\
version: 1
name: resume_demo
inputs:
  n: {{type: integer, default: {ITEMS}}}
models:
  echo: {{ref: "{MOD}:model"}}
tools:
  slow_echo: "{MOD}:slow_echo"
nodes:
  make: {{kind: function, fn: "{MOD}:items", args: {{n: "{{n}}"}}}}
  fan:
    kind: map
    over: make
    node: {{kind: agent, model: echo, tools: [slow_echo], max_turns: 3, memory: false}}
  done: {{kind: function, fn: "{MOD}:gather", args: {{results: "{{fan}}"}}}}
outputs:
  answers: done
"""


# --------------------------------------------------------------------------- the test
def _loom(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agentloom.cli", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _log_lines(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def _finished_branches(db: Path, thread_id: str) -> set[int]:
    """Map branches whose writes LangGraph saved in the checkpoint before the kill."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    with sqlite3.connect(db) as conn:
        saved = SqliteSaver(conn).get_tuple({"configurable": {"thread_id": thread_id}})
    assert saved is not None
    done: set[int] = set()
    for _task, channel, value in saved.pending_writes or []:
        if channel == "loom_branches" and isinstance(value, dict) and isinstance(value.get("fan"), dict):
            done.update(int(k) for k in value["fan"])
    return done


def start_demo_run(tmp_path: Path, loom_home: Path, *, finished: int) -> tuple[subprocess.Popen[str], Path, Path, dict[str, str]]:
    """Start ``loom run`` on the demo graph in a subprocess and return once ``finished`` map
    branches have logged their end: (process, spec file, call log, environment)."""
    spec = tmp_path / "resume.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    log = tmp_path / "calls.log"
    env = {**os.environ, "AGENTLOOM_HOME": str(loom_home), LOG_ENV: str(log), "PYTHONPATH": str(ROOT)}
    process = _loom(["run", str(spec), "--json", "-q"], env)
    deadline = time.monotonic() + 90
    while sum(line.startswith("end ") for line in _log_lines(log)) < finished:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the branches never finished"
        time.sleep(0.02)
    return process, spec, log, env


def test_killed_fan_out_resumes_without_repeating_finished_branches(tmp_path: Path, loom_home: Path) -> None:
    # 1. start the run, and kill -9 it once some branches have finished
    first, spec, log, env = start_demo_run(tmp_path, loom_home, finished=2)
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    assert first.returncode == -signal.SIGKILL

    db = loom_home / "checkpoints.db"
    with sqlite3.connect(db) as conn:
        threads = [row[0] for row in conn.execute("SELECT DISTINCT thread_id FROM checkpoints")]
    assert len(threads) == 1
    run_id = threads[0]
    finished = _finished_branches(db, run_id)
    assert finished, "no branch had finished before the kill"
    assert len(finished) < ITEMS, "every branch had finished; the kill came too late to test anything"
    before = Counter(line for line in _log_lines(log) if line.startswith("start "))
    with sqlite3.connect(loom_home / "branches.db") as conn:  # finished branches recorded before they returned
        finished |= {row[0] for row in conn.execute("SELECT idx FROM branch_results WHERE run_id = ?", (run_id,))}

    # 2. resume it
    resumed = _loom(["run", str(spec), "--resume", run_id, "--json", "-q"], env)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert "Traceback" not in err
    result = json.loads(out)
    assert result["run_id"] == run_id and result["meta"]["resumed"] is True

    starts = Counter(line for line in _log_lines(log) if line.startswith("start "))
    for i in finished:
        assert starts[f"start item-{i}"] == 1, f"finished branch {i} called its tool again"
    for i in set(range(ITEMS)) - finished:
        assert starts[f"start item-{i}"] == before[f"start item-{i}"] + 1, f"unfinished branch {i} was not re-run once"

    # 3. an uninterrupted run gives the same output
    clean = _loom(["run", str(spec), "--json", "-q"], env)
    out2, err2 = clean.communicate(timeout=120)
    assert clean.returncode == 0, err2
    assert json.loads(out2)["output"] == result["output"]
    assert result["output"] == {"answers": [f"echoed ITEM-{i}" for i in range(ITEMS)]}

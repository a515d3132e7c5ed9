"""Durable map branches: with ``config.max_concurrency`` below the number of map items, a
branch that finished before a SIGKILL is never run again by ``--resume`` (its result is recorded
before it returns, not left to LangGraph's checkpoint writes queued behind the concurrency
limit); and a ``loom research`` run killed before its first checkpoint resumes afresh."""

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
MOD = "tests.test_resume_durable"
LOG_ENV = "LOOM_DURABLE_TEST_LOG"
ITEMS = 8
CONCURRENCY = 3
SETTLE = 0.4  # seconds after a tool's end by which its branch has surely returned


def items(n: int) -> list[str]:
    return [f"item-{i}" for i in range(n)]


@tool(cacheable=False)
async def count_call(text: str) -> dict[str, Any]:
    """A side effect: log each execution (start and end, with times) to a file, then echo.

    Args:
        text: what to echo, like item-3
    """
    log = Path(os.environ[LOG_ENV])
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"start {text} {time.time()}\n")
    await asyncio.sleep(0.2 + 0.15 * (int(text.rsplit("-", 1)[1]) % 4))
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"end {text} {time.time()}\n")
    return {"echo": text.upper()}


def _respond(request: ModelRequest) -> Any:
    results = [m for m in request.messages if m.role == "tool"]
    if results:
        return {"text": f"echoed {json.loads(results[-1].content or '{}').get('echo')}"}
    return {"tool_calls": [{"name": "count_call", "arguments": {"text": str(request.metadata.get("question"))}}]}


def model() -> FunctionModel:
    return FunctionModel(_respond, name="echo")


def gather(results: list[dict[str, Any]]) -> list[str]:
    return [r["text"] for r in results]


SPEC = f"""\
version: 1
name: durable_demo
config: {{max_concurrency: {CONCURRENCY}}}
inputs:
  n: {{type: integer, default: {ITEMS}}}
models:
  echo: {{ref: "{MOD}:model"}}
tools:
  count_call: "{MOD}:count_call"
nodes:
  make: {{kind: function, fn: "{MOD}:items", args: {{n: "{{n}}"}}}}
  fan:
    kind: map
    over: make
    node: {{kind: agent, model: echo, tools: [count_call], max_turns: 3, memory: false}}
  done: {{kind: function, fn: "{MOD}:gather", args: {{results: "{{fan}}"}}}}
outputs:
  answers: done
"""


def loom(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "agentloom.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def log_entries(log: Path) -> list[tuple[str, str, float]]:
    """(start|end, item, time) for every logged line."""
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return [(kind, item, float(at)) for kind, item, at in (line.split() for line in lines if line.count(" ") == 2)]


def setup(tmp_path: Path, loom_home: Path) -> tuple[Path, Path, dict[str, str]]:
    spec = tmp_path / "durable.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    log = tmp_path / "calls.log"
    env = {**os.environ, "AGENTLOOM_HOME": str(loom_home), LOG_ENV: str(log), "PYTHONPATH": str(ROOT)}
    return spec, log, env


def kill_at(process: subprocess.Popen[str], log: Path, ends: int, extra: float) -> float:
    """SIGKILL ``process`` ``extra`` seconds after ``ends`` tool calls have ended; the kill time."""
    deadline = time.monotonic() + 90
    while sum(kind == "end" for kind, _, _ in log_entries(log)) < ends:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the branches never finished"
        time.sleep(0.01)
    time.sleep(extra)
    killed = time.time()
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    return killed


def repeats(log: Path, killed_at: list[float]) -> list[str]:
    """Items run again after a kill although their tool had ended ``SETTLE`` s before it."""
    entries = log_entries(log)
    found = []
    for kill in killed_at:
        done_before = {item for kind, item, at in entries if kind == "end" and at <= kill - SETTLE}
        found += [item for kind, item, at in entries if kind == "start" and at > kill and item in done_before]
    return found


def run_id_of(loom_home: Path) -> str:
    from agentloom.runstore import RunStore

    runs = RunStore(loom_home / "runs.db").list_runs()
    assert len(runs) == 1
    return runs[0].id


def test_finished_branches_survive_a_kill_at_low_concurrency(tmp_path: Path, loom_home: Path) -> None:
    spec, log, env = setup(tmp_path, loom_home)
    first = loom(["run", str(spec), "--json", "-q"], env)
    killed = kill_at(first, log, ends=1, extra=SETTLE + 0.05)
    assert first.returncode == -signal.SIGKILL
    done = {item for kind, item, at in log_entries(log) if kind == "end" and at <= killed - SETTLE}
    assert 1 <= len(done) < ITEMS, "the kill came too late to test anything"

    run_id = run_id_of(loom_home)
    resumed = loom(["run", str(spec), "--resume", run_id, "--json", "-q"], env)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    result = json.loads(out)
    assert result["run_id"] == run_id and result["meta"]["resumed"] is True
    assert result["output"] == {"answers": [f"echoed ITEM-{i}" for i in range(ITEMS)]}
    assert repeats(log, [killed]) == [], "a branch that had finished before the kill ran again"
    with sqlite3.connect(loom_home / "branches.db") as conn:  # a finished run leaves no branch results behind
        assert conn.execute("SELECT COUNT(*) FROM branch_results WHERE run_id = ?", (run_id,)).fetchone()[0] == 0
    starts = Counter(item for kind, item, _ in log_entries(log) if kind == "start")
    assert set(starts) == {f"item-{i}" for i in range(ITEMS)}


def test_research_killed_before_its_first_checkpoint_resumes_afresh(tmp_path: Path, loom_home: Path,
                                                                     capsys: Any) -> None:
    from agentloom.runstore import RunStore
    from tests.cliutil import run_cli

    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "harbour.md").write_text("# Harbour\n\nThe harbour of Pellmouth is 14 metres deep at the main quay.\n",
                                       encoding="utf-8")
    code, _, err = run_cli(["research", "How deep is the harbour of Pellmouth?", "--corpus", str(folder), "--quiet"], capsys)
    assert code == 0, err
    run_id = RunStore(loom_home / "runs.db").list_runs()[0].id
    # what a kill between the run's record and its first checkpoint leaves behind
    with sqlite3.connect(loom_home / "checkpoints.db") as conn:
        conn.execute("DELETE FROM checkpoints WHERE thread_id = ?", (run_id,))
        conn.execute("DELETE FROM writes WHERE thread_id = ?", (run_id,))

    code, out, err = run_cli(["research", "--resume", run_id, "--corpus", str(folder), "--quiet"], capsys)
    assert code == 0, err
    assert "Traceback" not in err and "was it started" not in err
    assert "14" in out
    with sqlite3.connect(loom_home / "checkpoints.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM checkpoints WHERE thread_id = ?", (run_id,)).fetchone()[0] > 0
    record = RunStore(loom_home / "runs.db").get_run(run_id)
    assert record.status == "ok" and len(RunStore(loom_home / "runs.db").list_runs()) == 1

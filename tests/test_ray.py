"""A real local Ray runtime (``ray.init(num_cpus=2)``, once per session): a ``remote=True`` tool
runs on a Ray worker; map branches on Ray give the same result as local ones and the run store
records the node and worker of each; a worker SIGKILLed mid-branch has that branch retried by
Ray while finished branches are not run again. Marked ``ray`` (left out of the default run;
``.ci/run`` requires them)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from agentloom import tool
from agentloom.executors import executor_for, use
from agentloom.models.function import FunctionModel
from agentloom.models.types import ModelRequest, ToolCall
from agentloom.runstore import RunStore
from agentloom.tools import ToolExecutor
from tests.ray_steps import kill_mid_step, read_log, repeated_after, victim

pytestmark = pytest.mark.ray

MOD = "tests.test_ray"


def burn(seconds: float) -> int:
    """Spin the CPU for ``seconds`` (CPU-bound work, not a sleep); a count to return."""
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


@tool(remote=True, num_cpus=1, cacheable=False)
def crunch(n: int) -> dict[str, Any]:
    """Square n after 50 ms of CPU work, saying which process did it.

    Args:
        n: a whole number
    """
    burn(0.05)
    return {"square": n * n, "pid": os.getpid()}


@tool(remote=True, cacheable=False)
def broken(n: int) -> int:
    """Always fails.

    Args:
        n: anything
    """
    raise ValueError(f"no good: {n}")


async def test_a_remote_tool_runs_on_a_ray_worker(ray_runtime: Any) -> None:
    executor = ToolExecutor([crunch, broken])
    calls = [ToolCall(id=str(i), name="crunch", arguments=json.dumps({"n": i})) for i in range(6)]
    with use(executor_for("ray")):
        results = await executor.run_batch([*calls, ToolCall(id="x", name="broken", arguments='{"n": 7}')])
    squares = [r.value["square"] for r in results[:6]]
    assert squares == [i * i for i in range(6)]
    workers = {r.value["pid"] for r in results[:6]}
    assert os.getpid() not in workers and 1 <= len(workers) <= 2  # two CPUs: at most two workers at once
    failed = results[6]
    assert not failed.ok and failed.error_type == "ValueError" and failed.error == "no good: 7"  # the tool's own error, one line


# ------------------------------------------------------------------ map branches on Ray


def numbers(n: int) -> list[int]:
    return list(range(n))


def branch_work(item: int, log: str = "") -> dict[str, Any]:
    """A CPU-bound branch; logs its start and end (with the process) when given a log file."""
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"start {item} {os.getpid()} {time.time()}\n")
    burn(0.05 if not log else 0.4)
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"end {item} {os.getpid()} {time.time()}\n")
    return {"item": item, "cube": item ** 3}


def total(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"cubes": [r["cube"] for r in results], "sum": sum(r["cube"] for r in results)}


SPEC = f"""\
version: 1
name: ray_map
inputs:
  n: {{type: integer, default: 10}}
  log: {{type: string, default: ""}}
nodes:
  make: {{kind: function, fn: "{MOD}:numbers", args: {{n: "{{n}}"}}}}
  fan:
    kind: map
    over: make
    node: {{kind: function, fn: "{MOD}:branch_work", args: {{item: "{{item}}", log: "{{log}}"}}}}
  done: {{kind: function, fn: "{MOD}:total", args: {{results: "{{fan}}"}}}}
"""


def _graph(tmp_path: Path, extra: str = "") -> Any:
    from agentloom.graph.loader import load_graph

    path = tmp_path / "ray_map.yaml"
    path.write_text(SPEC + extra, encoding="utf-8")
    return load_graph(path)


def _placements(run_id: str) -> list[dict[str, Any]]:
    with RunStore() as store:
        return [{"name": e["name"], **json.loads(e["data"])} if isinstance(e["data"], str) else {"name": e["name"], **e["data"]}
                for e in store.events(run_id, kind="placement")]


async def test_map_branches_on_ray_match_local_and_record_their_worker(ray_runtime: Any, tmp_path: Path) -> None:
    graph = _graph(tmp_path)
    local = await graph.run({"n": 10}, executor="local")
    remote = await graph.run({"n": 10}, executor="ray")
    expected = [i ** 3 for i in range(10)]
    assert local.output == remote.output == {"cubes": expected, "sum": sum(expected)}
    assert _placements(local.run_id) == []  # the local executor is the unchanged in-process path
    placed = _placements(remote.run_id)
    assert sorted(p["name"] for p in placed) == sorted(f"fan[{i}]" for i in range(10))
    assert {p["executor"] for p in placed} == {"ray"}
    assert {p["node_id"] for p in placed} == {ray_runtime.get_runtime_context().get_node_id()}
    assert all(p["worker_id"] and p["pid"] != os.getpid() for p in placed)


async def test_the_yaml_executor_block_selects_ray(ray_runtime: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTLOOM_EXECUTOR", raising=False)
    graph = _graph(tmp_path, "executor: {kind: ray, num_cpus: 1, max_retries: 2}\n")
    result = await graph.run({"n": 3})
    assert result.output["sum"] == 0 + 1 + 8
    assert len(_placements(result.run_id)) == 3
    monkeypatch.setenv("AGENTLOOM_EXECUTOR", "local")  # the environment (loom --executor) overrides the spec
    again = await graph.run({"n": 3})
    assert again.output == result.output and _placements(again.run_id) == []


async def test_a_worker_killed_mid_branch_is_retried_and_finished_branches_are_not_repeated(
    ray_runtime: Any, tmp_path: Path
) -> None:
    log = tmp_path / "branches.log"
    graph = _graph(tmp_path)
    killed: list[tuple[int, float]] = []
    stop = threading.Event()
    killer = threading.Thread(target=kill_mid_step, args=(log, 3, killed, stop), daemon=True)
    killer.start()
    try:
        result = await graph.run({"n": 10, "log": str(log)}, executor="ray")
    finally:
        stop.set()
        killer.join(5)
    assert len(killed) == 1, "no branch was running when the kill was due"
    expected = [i ** 3 for i in range(10)]
    assert result.output == {"cubes": expected, "sum": sum(expected)}
    entries = read_log(log)
    pid, at = killed[0]
    item = victim(entries, pid, at)
    ends = Counter(i for kind, i, *_ in entries if kind == "end")
    assert set(ends) == set(range(10))  # none lost
    assert repeated_after(entries, at, 0.3) == set()  # none that had finished ran again
    # only the killed branch may end twice: the kill can land after its end line, before Ray has its result
    assert {i for i, n in ends.items() if n > 1} <= {item}
    starts = [p for kind, i, p, _ in entries if kind == "start" and i == item]
    assert len(starts) == 2 and starts[0] == pid and starts[1] != pid  # Ray re-ran the killed one elsewhere
    placed = {p["name"]: p for p in _placements(result.run_id)}
    assert placed[f"fan[{item}]"]["pid"] == starts[1]  # the run store names the worker that finished it


async def test_a_branch_whose_worker_dies_past_its_retries_fails_alone(ray_runtime: Any, tmp_path: Path) -> None:
    log = tmp_path / "branches.log"
    graph = _graph(tmp_path)
    killed: list[tuple[int, float]] = []
    stop = threading.Event()
    killer = threading.Thread(target=kill_mid_step, args=(log, 2, killed, stop), daemon=True)
    killer.start()
    try:
        result = await graph.run({"n": 6, "log": str(log)}, executor=executor_for("ray", max_retries=0))
    finally:
        stop.set()
        killer.join(5)
    assert len(killed) == 1, "no branch was running when the kill was due"
    item = victim(read_log(log), *killed[0])
    (failure,) = result.meta["branch_failures"]
    assert failure["index"] == item and failure["kind"] == "ExecutorError"
    assert failure["error"].startswith("branch_work could not finish on Ray after 0 retries: ") and "\n" not in failure["error"]
    assert result.output["cubes"] == [i ** 3 for i in range(6) if i != item]  # its siblings finished


def test_a_killed_driver_resumes_on_ray_without_repeating_finished_branches(ray_runtime: Any, tmp_path: Path,
                                                                          loom_home: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    spec, log = tmp_path / "ray_map.yaml", tmp_path / "branches.log"
    spec.write_text(SPEC, encoding="utf-8")
    env = {**os.environ, "AGENTLOOM_HOME": str(loom_home), "PYTHONPATH": str(root), "AGENTLOOM_EXECUTOR": "ray",
           "RAY_ADDRESS": ray_runtime.get_runtime_context().gcs_address}  # a second driver on the same cluster
    args = [sys.executable, "-m", "agentloom.cli", "run", str(spec), "--input", "n=8", "--input", f"log={log}", "--json", "-q"]
    first = subprocess.Popen(args, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while sum(kind == "end" for kind, *_ in read_log(log)) < 3:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the branches never finished"
        time.sleep(0.01)
    time.sleep(0.5)
    killed = time.time()
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    done = {item for kind, item, _, at in read_log(log) if kind == "end" and at <= killed - 0.4}
    assert 3 <= len(done) < 8, "the kill came too late to test anything"

    with RunStore(loom_home / "runs.db") as store:
        (record,) = store.list_runs()
    resumed = subprocess.run([*args[:5], "--resume", record.id, "--json", "-q"], cwd=root, env=env,
                             capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    expected = [i ** 3 for i in range(8)]
    assert json.loads(resumed.stdout)["output"] == {"cubes": expected, "sum": sum(expected)}
    again = [item for kind, item, _, at in read_log(log) if kind == "start" and at > killed and item in done]
    assert again == [], "a branch that had finished before the kill ran again"
    assert {item for kind, item, *_ in read_log(log) if kind == "end"} == set(range(8))


# ------------------------------------------------------------------ an agent's remote tool in a graph


def _respond(request: ModelRequest) -> Any:
    results = [m for m in request.messages if m.role == "tool"]
    if results:
        return {"text": f"square {json.loads(results[-1].content or '{}').get('square')}"}
    return {"tool_calls": [{"name": "crunch", "arguments": {"n": int(str(request.metadata.get("question")))}}]}


def model() -> FunctionModel:
    return FunctionModel(_respond, name="squarer")


AGENT_SPEC = f"""\
version: 1
name: ray_agents
executor: ray
models:
  squarer: {{ref: "{MOD}:model"}}
tools:
  crunch: "{MOD}:crunch"
nodes:
  make: {{kind: function, fn: "{MOD}:numbers", args: {{n: 4}}}}
  fan:
    kind: map
    over: make
    node: {{kind: agent, model: squarer, tools: [crunch], max_turns: 3, memory: false}}
"""


async def test_agent_branches_call_their_remote_tool_on_ray(ray_runtime: Any, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from agentloom.graph.loader import parse_graph

    result = await parse_graph(AGENT_SPEC, base_dir=tmp_path).run()
    texts = [r["text"] if isinstance(r, dict) else r for r in result.output]
    assert texts == [f"square {i * i}" for i in range(4)]
    placed = _placements(result.run_id)
    tools = [p for p in placed if p["what"] == "tool"]
    assert [p["name"] for p in tools] == ["crunch"] * 4 and all(p["pid"] != os.getpid() for p in tools)
    branches = sorted((p for p in placed if p["what"] == "branch"), key=lambda p: p["name"])
    assert [p["name"] for p in branches] == [f"fan[{i}]" for i in range(4)]  # agent turns ran on Ray async actors
    assert {p["executor"] for p in branches} == {"ray"} and os.getpid() not in {p["pid"] for p in branches}
    assert branches[0]["node_id"] == ray_runtime.get_runtime_context().get_node_id()
    from tests.cliutil import run_cli

    code, out, _ = run_cli(["runs", "show", result.run_id], capsys)
    assert code == 0
    print(out)
    assert "  ray       4 branches, 4 remote tool calls; " in out

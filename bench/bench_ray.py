"""Ray fan-out and worker faults, on a local Ray runtime of 2 CPUs (``ray.init(num_cpus=2)``).

Fan-out: 1,000 branches, each a 50 ms CPU-bound ``@tool(remote=True)`` call, against the ideal
1,000 × 50 ms / 2 workers; once as one batch of tool calls (``ToolExecutor``) and once as a graph
``map`` whose 1,000 function branches run as Ray tasks. The in-process local executor runs the
same CPU-bound tool beside it (threads under the GIL). Overhead: per-branch cost of a no-op
through the Ray executor, Ray's own ``ray.get`` floor, the local executor and ``asyncio.gather``.

Faults: a graph map of CPU-bound branches each logging its start and end (with its pid); a
worker is SIGKILLed mid-branch; Ray re-runs that branch. Lost: an item missing from the output
or never logged as ended. Repeated: an item logged as ended more than once.

    python -m bench ray            # full: 1,000 branches, 10 fault trials
    python -m bench --quick ray    # 200 branches, 3 fault trials
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import statistics
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench._home import scratch_home

__all__ = ["run"]

WORK_S = 0.05
WORKERS = 2


def burn(seconds: float) -> int:
    """Spin the CPU (not a sleep) until this thread has used ``seconds`` of CPU time, so threads
    sharing the GIL each do the same work."""
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:
        n += 1
    return n


def crunch_fn(n: int) -> int:
    """50 ms of CPU, then n squared."""
    burn(WORK_S)
    return n * n


def noop_fn(n: int) -> int:
    return n


def numbers(n: int) -> list[int]:
    return list(range(n))


def branch_fn(item: int, work: float = WORK_S, log: str = "") -> int:
    """A graph branch: ``work`` seconds of CPU, logging start and end with the pid when ``log`` is set."""
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"start {item} {os.getpid()}\n")
    burn(work)
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"end {item} {os.getpid()}\n")
    return item * item


def total(results: list[int]) -> dict[str, Any]:
    return {"count": len(results), "squares": results}


SPEC = """\
version: 1
name: bench_ray
inputs:
  n: {type: integer}
  work: {type: number}
  log: {type: string, default: ""}
nodes:
  make: {kind: function, fn: "bench.bench_ray:numbers", args: {n: "{n}"}}
  fan:
    kind: map
    over: make
    node: {kind: function, fn: "bench.bench_ray:branch_fn", args: {item: "{item}", work: "{work}", log: "{log}"}}
  done: {kind: function, fn: "bench.bench_ray:total", args: {results: "{fan}"}}
"""


async def _batch(executor_name: str, fn: Any, count: int) -> float:
    from agentloom.executors import executor_for, use
    from agentloom.models.types import ToolCall
    from agentloom.tools import ToolExecutor, tool

    remote_tool = tool(name=fn.__name__, remote=True, cacheable=False)(fn)
    calls = [ToolCall(f"c{i}", fn.__name__, json.dumps({"n": i})) for i in range(count)]
    runner = ToolExecutor([remote_tool], max_concurrency=count)
    with use(executor_for(executor_name)):
        started = time.perf_counter()
        results = await runner.run_batch(calls)
        wall = time.perf_counter() - started
    bad = [r.error for r in results if not r.ok]
    assert not bad, bad[:3]
    return wall


async def _gather(count: int) -> float:
    async def one(i: int) -> int:
        return noop_fn(i)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - started


async def _graph(count: int, work: float, log: str = "", executor: str = "ray") -> tuple[float, Any]:
    from agentloom.graph.loader import parse_graph

    graph = parse_graph(SPEC, source="bench_ray.yaml", base_dir=Path.cwd())
    started = time.perf_counter()
    result = await graph.run({"n": count, "work": work, "log": log}, executor=executor)
    return time.perf_counter() - started, result


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _ray_plain(ray: Any, fn: Any, count: int) -> float:
    """Ray's own floor: ``ray.get`` of ``count`` plain tasks of ``fn``, no agentloom in between."""
    remote = ray.remote(fn)
    ray.get([remote.remote(i) for i in range(WORKERS * 4)])
    started = time.perf_counter()
    ray.get([remote.remote(i) for i in range(count)])
    return time.perf_counter() - started


async def _graph_wall(count: int, work: float, executor: str = "ray") -> float:
    wall, result = await _graph(count, work, executor=executor)
    assert result.output["count"] == count, result.output
    return wall


async def _fanout(ray: Any, count: int, repeats: int) -> list[dict[str, Any]]:
    ideal = count * WORK_S / WORKERS
    cases = {
        f"{count:,} plain Ray tasks × 50 ms CPU, ray.get (Ray's floor)": lambda: asyncio.to_thread(_ray_plain, ray, crunch_fn, count),
        f"{count:,} remote tool calls × 50 ms CPU, Ray executor": lambda: _batch("ray", crunch_fn, count),
        f"graph map of {count:,} branches × 50 ms CPU, Ray executor": lambda: _graph_wall(count, WORK_S),
    }
    await _batch("ray", crunch_fn, WORKERS * 4)  # warm the workers and export the functions
    await _graph(WORKERS * 4, WORK_S)
    walls: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):  # interleaved, so drift in the machine's load hits each alike
        for name, case in cases.items():
            walls[name].append(await case())
    rows = [{"case": name, "wall_s": round(_median(v), 2), "ideal_s": round(ideal, 2), "ratio": round(_median(v) / ideal, 3),
             "each_s": " / ".join(f"{w:.1f}" for w in v)} for name, v in walls.items()]
    local = await _batch("local", crunch_fn, count)
    rows.append({"case": f"{count:,} remote tool calls × 50 ms CPU, local executor (threads, GIL)", "wall_s": round(local, 2),
                 "ideal_s": round(ideal, 2), "ratio": round(local / ideal, 3)})
    return rows


async def _overhead(ray: Any, count: int, repeats: int) -> list[dict[str, Any]]:
    cases = {
        "Ray executor (ToolExecutor → Ray task)": lambda: _batch("ray", noop_fn, count),
        "ray.get of plain Ray tasks (Ray's floor)": lambda: asyncio.to_thread(_ray_plain, ray, noop_fn, count),
        "local executor (ToolExecutor → thread)": lambda: _batch("local", noop_fn, count),
        "asyncio.gather of coroutines": lambda: _gather(count),
        "graph map, Ray executor (function branches as Ray tasks)": lambda: _graph_wall(count, 0.0),
        "graph map, local executor": lambda: _graph_wall(count, 0.0, executor="local"),
    }
    walls: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats + 1):  # interleaved; the first round warms up and is dropped
        for name, case in cases.items():
            walls[name].append(await case())
    gather = _median(walls["asyncio.gather of coroutines"][1:])
    rows = []
    for name, values in walls.items():
        wall = _median(values[1:])
        rows.append({"case": f"{count:,} no-op branches, {name}", "wall_s": round(wall, 3),
                     "per_branch_us": round(wall / count * 1e6, 1), "vs_gather": round(wall / gather, 1)})
    return rows


def _log_entries(log: Path) -> list[tuple[str, int, int]]:
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return [(kind, int(item), int(pid)) for kind, item, pid in (line.split() for line in lines if line.count(" ") == 2)]


def _killer(log: Path, after_ends: int, killed: list[tuple[int, int]], stop: threading.Event) -> None:
    while not stop.is_set():
        entries = _log_entries(log)
        if sum(kind == "end" for kind, _, _ in entries) >= after_ends:
            ended = {(item, pid) for kind, item, pid in entries if kind == "end"}
            running = [(item, pid) for kind, item, pid in entries if kind == "start" and (item, pid) not in ended]
            if running:
                item, pid = running[-1]
                os.kill(pid, signal.SIGKILL)
                killed.append((item, pid))
                return
        time.sleep(0.002)


async def _faults(trials: int, items: int, work: float, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    killed_total = lost = repeated = retried = finished_before = 0
    with tempfile.TemporaryDirectory(prefix="loom-bench-ray-") as tmp:
        for trial in range(trials):
            log = Path(tmp) / f"trial{trial}.log"
            after = rng.randint(1, items // 2)
            killed: list[tuple[int, int]] = []
            stop = threading.Event()
            thread = threading.Thread(target=_killer, args=(log, after, killed, stop), daemon=True)
            thread.start()
            try:
                _, result = await _graph(items, work, str(log))
            finally:
                stop.set()
                thread.join(5)
            entries = _log_entries(log)
            ends = Counter(item for kind, item, _ in entries if kind == "end")
            squares = result.output["squares"]
            lost += sum(1 for i in range(items) if ends[i] == 0 or i * i not in squares) + (items - len(squares))
            repeated += sum(n - 1 for n in ends.values() if n > 1)
            killed_total += len(killed)
            finished_before += after
            for item, _pid in killed:
                retried += sum(1 for kind, i, _ in entries if kind == "start" and i == item) - 1
    return [{"case": f"worker SIGKILLed mid-branch, {trials} trials of a {items}-branch map ({int(work * 1000)} ms CPU each)",
             "kills": killed_total, "killed_branches_rerun": retried, "branches_finished_before_kill": finished_before,
             "lost": lost, "repeated": repeated}]


def run(quick: bool = False) -> list[dict[str, Any]]:
    try:
        import ray
    except ImportError:
        return [{"case": "ray is not installed: pip install 'agentloom[ray]'"}]
    count, repeats, trials = (200, 1, 3) if quick else (1_000, 3, 10)
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(num_cpus=WORKERS, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        with scratch_home("loom-bench-ray-"):
            async def go() -> list[dict[str, Any]]:
                rows = await _fanout(ray, count, repeats)
                rows += await _overhead(ray, count, repeats)
                rows += await _faults(trials, 24, 0.1, seed=7)
                return rows

            return asyncio.run(go())
    finally:
        if started_here:
            ray.shutdown()


if __name__ == "__main__":
    from bench.run import format_table

    print(format_table(run(quick=os.environ.get("BENCH_QUICK") == "1")))

"""Agent branches on Ray async actors against the local executor, on a local Ray runtime of 2 CPUs.

Fan-out: a graph ``map`` of N agent branches, each one model call to the loopback
OpenAI-compatible server, which answers after 200 ms (a model's latency; the branches wait, they
do not compute). Local: the branches are asyncio tasks in the driver. Ray: they run on the
executor's async host actors and charge the run's budget through the database. Ideal: N / 64
(the map's concurrency) waves of 200 ms. Reported: wall, the per-branch cost over the ideal,
and Ray against local.

Faults: 12 agent branches, each calling a 300 ms tool that logs its start and end (with the
pid); one host process is SIGKILLed mid-run. Lost: a branch missing from the output. Repeated:
a branch whose tool had ended (300 ms before the kill) and started again after it.

    python -m bench ray_agents            # 400 branches, 3 repeats, 10 fault trials
    python -m bench --quick ray_agents    # 100 branches, 1 repeat, 3 fault trials
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench._home import scratch_home
from tests.ray_steps import MOD, kill_mid_step, read_log, repeated_after, step_spec

__all__ = ["run"]

LATENCY_S = 0.2
CONCURRENCY = 64
STEP_S = 0.3


FAN_SPEC = """\
version: 1
name: ray_agents_bench
inputs:
  n: {{type: integer}}
config: {{max_concurrency: {conc}}}
models:
  default: {{model: "openai/m", base_url: "{url}", tool_mode: text}}
nodes:
  make: {{kind: function, fn: "{mod}:numbers", args: {{n: "{{n}}"}}}}
  fan:
    kind: map
    over: make
    node: {{kind: agent, task: "{{item}}", max_turns: 1, memory: false}}
"""


FAULT_SPEC = step_spec("ray_agents_faults", seconds=STEP_S)


async def _fan(url: str, count: int, executor: str) -> float:
    from agentloom.graph.loader import parse_graph

    graph = parse_graph(FAN_SPEC.format(url=url, mod=MOD, conc=CONCURRENCY), base_dir=Path.cwd())
    started = time.perf_counter()
    result = await graph.run({"n": count}, executor=executor)
    wall = time.perf_counter() - started
    done = sum(1 for r in result.output if isinstance(r, dict) and r.get("text"))
    if done != count:
        raise RuntimeError(f"{executor}: {done} of {count} branches answered")
    return wall


async def _fanout(count: int, repeats: int) -> list[dict[str, Any]]:
    from tests.fakeserver import FakeOpenAIServer, Reply

    ideal = math.ceil(count / CONCURRENCY) * LATENCY_S
    walls: dict[str, list[float]] = {"local": [], "ray": []}
    with FakeOpenAIServer(lambda body: Reply(text="noted", delay=LATENCY_S)) as server:
        await _fan(server.base_url, 8, "ray")  # start the hosts before timing
        for _ in range(repeats):
            for executor in ("local", "ray"):  # interleaved
                walls[executor].append(await _fan(server.base_url, count, executor))
    rows = []
    local = statistics.median(walls["local"])
    for executor, label in (("local", "local executor (asyncio tasks in the driver)"),
                            ("ray", "Ray executor (async host actors, budget in the database)")):
        wall = statistics.median(walls[executor])
        rows.append({"case": f"{count} agent branches × 1 model call of {LATENCY_S * 1000:.0f} ms: {label}",
                     "wall_s": round(wall, 2), "ideal_s": round(ideal, 2),
                     "over_ideal_ms_per_branch": round((wall - ideal) / count * 1000, 2),
                     "vs_local": round(wall / local, 2), "load": round(os.getloadavg()[0], 1)})
    return rows


async def _faults(trials: int, items: int, seed: int) -> list[dict[str, Any]]:
    from agentloom.graph.loader import parse_graph

    rng = random.Random(seed)
    lost = repeated = kills = 0
    for _ in range(trials):
        log = Path(tempfile.mkdtemp(prefix="loom-ray-agents-")) / "steps.log"
        killed: list[tuple[int, float]] = []
        stop = threading.Event()
        killer = threading.Thread(target=kill_mid_step, args=(log, rng.randint(1, items // 2), killed, stop), daemon=True)
        killer.start()
        try:
            result = await parse_graph(FAULT_SPEC, base_dir=Path.cwd()).run({"log": str(log), "n": items}, executor="ray")
        finally:
            stop.set()
            killer.join(5)
        texts = {r.get("text") for r in result.output if isinstance(r, dict)}
        lost += sum(f"stepped {i}" not in texts for i in range(items))
        if killed:
            kills += 1
            repeated += len(repeated_after(read_log(log), killed[0][1], STEP_S))
    return [{"case": f"host SIGKILLed mid-run, {items} agent branches of a 300 ms tool call, {trials} trials",
             "trials_with_a_kill": kills, "lost": lost, "repeated_finished": repeated}]


def run(quick: bool = False) -> list[dict[str, Any]]:
    try:
        import ray
    except ImportError:
        return [{"case": "ray is not installed: pip install 'agentloom[ray]'"}]
    count, repeats, trials = (100, 1, 3) if quick else (400, 3, 10)
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        with scratch_home("loom-bench-ray-agents-"):
            async def go() -> list[dict[str, Any]]:
                return await _fanout(count, repeats) + await _faults(trials, 12, seed=11)

            return asyncio.run(go())
    finally:
        if started_here:
            ray.shutdown()


if __name__ == "__main__":
    from bench.run import format_table

    print(format_table(run(quick=os.environ.get("BENCH_QUICK") == "1")))

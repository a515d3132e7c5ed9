"""One budget across processes: 4 processes × 50 concurrent runs against the loopback fake server.

Every run has its own ``Budget(llm_calls=100, ...)`` and makes model calls (``OpenAIModel`` over
HTTP) until its budget refuses one. Side by side:

- ``shared``: every run names the same shared budget (``shared="bench"``), on SQLite (the loom
  home, one file) and on Postgres (a throwaway local cluster);
- ``per process``: the runs of one process share one ``Budget`` object, as before shared budgets
  existed; processes know nothing of each other.

Rows: calls the server saw (goal for ``shared``: at most 100), the calls granted as each process
counted them, wall time, and the mean time one reservation took (the shared budget's database
transaction beside an in-process lock).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakeserver import FakeOpenAIServer, Reply  # noqa: E402

LIMIT = 100

#: One process: ``runs`` concurrent runs, each calling the model until its budget refuses.
_PROCESS = """
import asyncio, json, os, sys, time
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
from agentloom import tracing
from agentloom.budget import Budget, Cost
from agentloom.errors import BudgetExceeded
from agentloom.models.openai_model import OpenAIModel
from agentloom.models.types import Message, ModelRequest

base_url, runs, mode, limit = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
model = OpenAIModel("gpt-4o-mini", base_url=base_url, api_key="k", max_retries=0)
one = Budget(llm_calls=limit) if mode == "per-process" else None
reserve_s = []

async def run(i):
    budget = one if one is not None else Budget(llm_calls=limit, shared="bench")
    calls = 0
    with tracing.use(tracing.RunContext(run_id=f"run-{os.getpid()}-{i}", store=None, budget=budget)):
        for step in range(1000):
            started = time.perf_counter()
            try:
                budget.reserve(Cost(), what="a timed reservation").release()
            except BudgetExceeded:
                pass
            reserve_s.append(time.perf_counter() - started)
            try:
                await model.complete(ModelRequest(messages=[Message("user", f"run {i} step {step}")], max_tokens=8))
            except BudgetExceeded:
                return calls
            calls += 1
    return calls

async def main():
    granted = await asyncio.gather(*(run(i) for i in range(runs)))
    print(json.dumps({"granted": sum(granted), "reserve_ms": 1000 * sum(reserve_s) / max(len(reserve_s), 1)}))

asyncio.run(main())
"""


def _case(name: str, mode: str, env: dict[str, str], *, processes: int, runs: int, server: FakeOpenAIServer) -> dict[str, Any]:
    before = len(server.requests)
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", _PROCESS, server.base_url, str(runs), mode, str(LIMIT)],
                              stdout=subprocess.PIPE, text=True, env=env) for _ in range(processes)]
    outs = [json.loads(p.communicate(timeout=600)[0]) for p in procs]
    wall = time.perf_counter() - started
    return {
        "case": name,
        "server calls": len(server.requests) - before,
        "limit": LIMIT if mode == "shared" else f"{LIMIT} per process",
        "granted (as counted)": sum(o["granted"] for o in outs),
        "wall s": round(wall, 2),
        "reserve ms (mean)": round(sum(o["reserve_ms"] for o in outs) / len(outs), 3),
    }


def run(quick: bool = False, *, processes: int = 4, runs: int = 50) -> list[dict[str, Any]]:
    """Rows for ``python -m bench scale`` (``quick``: 2 processes × 10 runs, SQLite only)."""
    if quick:
        processes, runs = 2, 10
    rows = []
    with ExitStack() as stack, FakeOpenAIServer() as server:
        server.responder = lambda body: Reply(text="ok", usage={"prompt_tokens": 9, "completion_tokens": 1})
        base = dict(os.environ, PYTHONPATH=str(ROOT), LITELLM_LOCAL_MODEL_COST_MAP="True")
        base.pop("AGENTLOOM_DATABASE_URL", None)
        home = stack.enter_context(tempfile.TemporaryDirectory(prefix="loom-scale-"))
        rows.append(_case("per process (no sharing)", "per-process", base | {"AGENTLOOM_HOME": home + "/a"},
                          processes=processes, runs=runs, server=server))
        rows.append(_case("shared, SQLite", "shared", base | {"AGENTLOOM_HOME": home + "/b"},
                          processes=processes, runs=runs, server=server))
        if not quick:
            from tests.postgres import throwaway_postgres

            url = stack.enter_context(throwaway_postgres())
            rows.append(_case("shared, Postgres", "shared", base | {"AGENTLOOM_HOME": home + "/c", "AGENTLOOM_DATABASE_URL": url},
                              processes=processes, runs=runs, server=server))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--runs", type=int, default=50, help="concurrent runs per process")
    args = parser.parse_args(argv)
    from bench.run import format_table

    print(f"{args.processes} processes × {args.runs} concurrent runs, Budget(llm_calls={LIMIT}) per run")
    print(format_table(run(processes=args.processes, runs=args.runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The event loop's longest stall while another process holds the SQLite write lock for 1 s.

Workload: one recorded run with 4 concurrent branches; each branch, over and over, opens a span,
emits a few events (run-store writes, flushed at the span's end), makes a tool call through the
shared ``MemoryBank`` (lookups, hits, admissions: memory-bank reads and writes) and sleeps 2 ms.
A ticker coroutine sleeps 1 ms at a time and records how late it wakes: that lateness is the
loop's stall. Meanwhile a second process takes ``BEGIN IMMEDIATE`` on both ``runs.db`` and
``memory.db`` and holds it for 1 s.

Rows side by side in the same process: ``writer thread`` (the storage seam's default: writes
queue to one writer thread per store), the same with the second process holding no lock (a
control: the machine's own noise), and ``waits on the loop`` (every transaction runs on the
calling thread, the event loop, which is what storage did before the seam).
Goal: the writer thread's longest stall under 10 ms. Each case runs 5 times (1 with ``--quick``);
the table gives the median of the runs' longest stalls and the worst one.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench._home import scratch_home

__all__ = ["run"]

_HOLD_S = 1.0
_HOLDER = r"""
import sqlite3, sys, time
conns = [sqlite3.connect(p, timeout=30, isolation_level=None) for p in sys.argv[3:]]
for c in conns:
    c.execute("BEGIN IMMEDIATE" if sys.argv[2] == "lock" else "BEGIN")
print("locked", flush=True)
time.sleep(float(sys.argv[1]))
for c in conns:
    c.execute("COMMIT")
print("released", flush=True)
"""


async def _ticker(lags: list[tuple[float, float]], stop: asyncio.Event) -> None:
    """Record (wake time, lateness) of 1 ms sleeps until ``stop``."""
    while not stop.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        lags.append((now, now - t0 - 0.001))


async def _branch(i: int, bank: Any, stop: asyncio.Event, counts: list[int]) -> None:
    from agentloom import tracing
    from agentloom.tools.base import Tool, ToolResult

    def lookup(q: str) -> str:
        return q

    tool = Tool(lookup, name="lookup")
    step = 0
    while not stop.is_set():
        step += 1
        with tracing.span("step", f"branch{i}", team=f"t{i}"):
            for n in range(4):
                tracing.emit("note", f"n{n}", data={"branch": i, "step": step})
            args = {"q": f"topic {step % 25} detail {i % 2}"}

            async def execute(args: dict[str, Any] = args) -> ToolResult:
                now = time.time()
                return ToolResult("", "lookup", dict(args), ok=True, value=f"result for {args['q']} " * 8,
                                  started=now, ended=now + 0.01)

            await bank.call(tool, args, execute)
        counts[0] += 1
        await asyncio.sleep(0.002)


async def _workload(home: Path, on_loop: bool, lock: bool) -> dict[str, Any]:
    from agentloom._runtime import run_scope
    from agentloom.memory import AdmitAll, MemoryBank
    from agentloom.runstore import RunStore

    store = RunStore(home / "runs.db")
    bank = MemoryBank(home / "memory.db", policy=AdmitAll())
    if on_loop:
        _block_on_writes(store, bank)
    lags: list[tuple[float, float]] = []
    counts = [0]
    stop = asyncio.Event()
    async with run_scope("bench", "storage-stall", {}, store=store, memory=bank):
        ticker = asyncio.create_task(_ticker(lags, stop))
        branches = [asyncio.create_task(_branch(i, bank, stop, counts)) for i in range(4)]
        await asyncio.sleep(0.3)
        spawned = time.perf_counter()
        holder = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _HOLDER, str(_HOLD_S), "lock" if lock else "none", str(home / "runs.db"), str(home / "memory.db"),
            stdout=asyncio.subprocess.PIPE,
        )
        assert holder.stdout is not None
        await holder.stdout.readline()  # locked
        steps_before = counts[0]
        await holder.stdout.readline()  # released
        released = time.perf_counter()
        steps_during = counts[0] - steps_before
        await holder.wait()
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.gather(ticker, *branches)
    store.close()
    bank.close()
    # every tick that woke after the second process started and began before the release was seen
    during = [lag for woke, lag in lags if woke >= spawned and woke - lag <= released]
    return {
        "max_stall_ms": round(max(during) * 1000, 2),
        "p99_stall_ms": round((statistics.quantiles(during, n=100, method="inclusive")[98] if len(during) > 1 else max(during)) * 1000, 2),
        "steps_while_locked": steps_during,
    }


def _block_on_writes(store: Any, bank: Any) -> None:
    """The peer: every store write runs its transaction on the calling (loop) thread."""
    for database in (getattr(store, "database", None), getattr(getattr(bank, "db", None), "database", None)):
        if database is not None:
            database.inline = True


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Each case ``repeats`` times (fresh home each time); the median of the longest stalls."""
    repeats = 1 if quick else 5
    rows = []
    cases = (("writer thread, lock held", False, True), ("writer thread, no lock (control)", False, False),
             ("waits on the loop, lock held", True, True))
    for label, on_loop, lock in cases:
        runs = []
        for _ in range(repeats):
            with scratch_home("agentloom-bench-stall-") as home:
                runs.append(asyncio.run(_workload(Path(home), on_loop, lock)))
        rows.append({
            "case": label,
            "max_stall_ms": statistics.median(r["max_stall_ms"] for r in runs),
            "worst_of_runs_ms": max(r["max_stall_ms"] for r in runs),
            "p99_stall_ms": statistics.median(r["p99_stall_ms"] for r in runs),
            "steps_while_locked": round(statistics.median(r["steps_while_locked"] for r in runs)),
        })
    base = rows[-1]["max_stall_ms"]
    for row in rows:
        row["ratio_vs_loop"] = round(row["max_stall_ms"] / base, 4) if base else None
    return rows


if __name__ == "__main__":  # pragma: no cover
    from bench.run import format_table

    print(format_table(run()))

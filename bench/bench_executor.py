"""Executor overhead: 1,000 no-op async tool calls through ``ToolExecutor.run_batch`` against a
bare ``asyncio.gather`` of the same coroutine function, side by side in one process.

Rows: the default executor (global cap 16), the executor with a cap above the batch size, and
the default executor recording every call in a ``RunStore``. Each is the median of several
repeats, interleaved with the peer's repeats so drift hits both alike.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

__all__ = ["run"]

CALLS = 1_000


async def _noop(i: int) -> int:
    return i


async def _median_pair(
    subject: Callable[[], Awaitable[Any]], peer: Callable[[], Awaitable[Any]], repeats: int
) -> tuple[float, float]:
    subject_times: list[float] = []
    peer_times: list[float] = []
    await subject()  # warm up both (imports, pydantic caches, thread pools)
    await peer()
    for _ in range(repeats):
        for fn, times in ((subject, subject_times), (peer, peer_times)):
            started = time.perf_counter()
            await fn()
            times.append(time.perf_counter() - started)
    return statistics.median(subject_times), statistics.median(peer_times)


async def _measure(repeats: int, store_dir: Path) -> list[dict[str, Any]]:
    from agentloom import tracing
    from agentloom.models.types import ToolCall
    from agentloom.runstore import RunStore
    from agentloom.tools import ToolExecutor, tool

    noop = tool(_noop)
    calls = [ToolCall(f"c{i}", "_noop", json.dumps({"i": i})) for i in range(CALLS)]

    async def gather() -> list[int]:
        return list(await asyncio.gather(*(_noop(i) for i in range(CALLS))))

    def batch(executor: ToolExecutor) -> Callable[[], Awaitable[Any]]:
        async def go() -> Any:
            results = await executor.run_batch(calls)
            assert results[-1].value == CALLS - 1
            return results

        return go

    rows: list[dict[str, Any]] = []

    def row(case: str, subject_s: float, peer_s: float) -> None:
        rows.append(
            {
                "case": case,
                "executor_ms": round(subject_s * 1000, 2),
                "gather_ms": round(peer_s * 1000, 2),
                "per_call_us": round((subject_s - peer_s) / CALLS * 1e6, 1),
                "ratio": round(subject_s / peer_s, 1),
            }
        )

    row(f"{CALLS:,} no-op calls, default cap 16", *await _median_pair(batch(ToolExecutor([noop])), gather, repeats))
    row(f"{CALLS:,} no-op calls, cap {CALLS:,}", *await _median_pair(batch(ToolExecutor([noop], max_concurrency=CALLS)), gather, repeats))

    store = RunStore(store_dir / "runs.db")
    run_id = store.create_run("bench")
    recorded = ToolExecutor([noop])

    async def with_store() -> Any:
        with tracing.use(tracing.RunContext(run_id=run_id, store=store)):
            results = await recorded.run_batch(calls)
        store.flush()
        return results

    row(f"{CALLS:,} no-op calls, recorded in RunStore", *await _median_pair(with_store, gather, repeats))
    assert len(store.events(run_id, "tool_call")) == CALLS * (repeats + 1)
    store.close()
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    repeats = 5 if quick else 15
    with tempfile.TemporaryDirectory(prefix="loom-bench-executor-") as tmp:
        return asyncio.run(_measure(repeats, Path(tmp)))


def _print(rows: list[dict[str, Any]]) -> None:
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols))


if __name__ == "__main__":
    _print(run(quick="--quick" in sys.argv))

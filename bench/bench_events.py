"""Event-stream throughput: events per second from ``tracing.emit`` to an ``async for``
consumer of ``events.stream_run``, beside the same emits into a plain list listener (the peer:
no buffer, no consumer task). A third row floods token deltas past a small buffer to show the
consumer is never waited for (deltas are dropped and counted instead)."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["run"]


async def _produce(listener: Callable[[Any], None], count: int, kind: str) -> int:
    from agentloom import tracing

    ctx = tracing.RunContext(run_id="bench", listeners=[listener])
    with tracing.use(ctx):
        for i in range(count):
            tracing.emit(kind, "bench", data={"text": "x", "i": i})
            if i % 1000 == 999:
                await asyncio.sleep(0)  # a real run yields to the loop between steps
    return count


async def _streamed(count: int, kind: str, maxsize: int) -> tuple[float, int, int]:
    from agentloom.events import stream_run

    started = time.perf_counter()
    stream = stream_run(lambda listener: _produce(listener, count, kind), maxsize=maxsize)
    received = 0
    async for _event in stream:
        received += 1
    return time.perf_counter() - started, received, stream.dropped


async def _plain(count: int) -> float:
    sink: list[Any] = []
    started = time.perf_counter()
    await _produce(sink.append, count, "step")
    assert len(sink) == count
    return time.perf_counter() - started


async def _measure(count: int, repeats: int) -> list[dict[str, Any]]:
    await _streamed(1000, "step", 10_000)  # warm up
    stream_s, plain_s = [], []
    for _ in range(repeats):
        elapsed, received, _ = await _streamed(count, "step", 10_000)
        assert received == count
        stream_s.append(elapsed)
        plain_s.append(await _plain(count))
    s, p = statistics.median(stream_s), statistics.median(plain_s)
    rows = [{"case": f"{count:,} events to an async-for consumer", "events_per_s": round(count / s),
             "peer": "plain list listener", "peer_events_per_s": round(count / p), "ratio": round(s / p, 2), "dropped": 0}]
    elapsed, received, dropped = await _streamed(count, "token", 100)
    rows.append({"case": f"{count:,} token deltas, buffer 100", "events_per_s": round(count / elapsed),
                 "peer": "", "peer_events_per_s": None, "ratio": None, "dropped": dropped})
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    return asyncio.run(_measure(20_000 if quick else 200_000, 3 if quick else 5))


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)

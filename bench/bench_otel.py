"""OpenTelemetry overhead: one graph run fanning out to 1,000 branches (each an agent on the
offline model: two model calls and a calculator call, so five spans a branch), traced against
untraced, side by side in one process.

Traced runs send every span over OTLP/HTTP to a real receiver in a separate process on loopback
(``tests/otlpreceiver.py``, decoding the protobuf like a collector would), and include the run
end's flush: the wall time is until every span was sent. Untraced and traced runs alternate, so
drift on a shared machine hits both; ``wall_s`` is the median. ``ratio`` is traced over untraced
(goal: at most 1.15), ``cpu_ratio`` the same for the process's CPU time (the exporter's thread
included); ``spans`` is what the receiver got per run (the batch queue dropped none);
``sdk_setup_s`` is the once-a-process cost of the first traced run (importing the SDK, making
the exporter), kept out of the timed runs by a traced warm-up. Each repeat runs the pair in
alternating order (untraced first, then traced first), so a drift within a repeat favours neither.

A third row times the encoding alone, on the spans of one traced run: the SDK's OTLP encoder
(``opentelemetry-exporter-otlp-proto-common``) beside agentloom's (``observability._wire``), CPU
per span, medians of 5 (this part of the cost does not move with machine load the way whole runs do).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._home import scratch_home  # noqa: E402

#: The receiver, out of process: prints its endpoint, then the spans it holds for each "count" line.
_RECEIVER = """
import sys
from tests.otlpreceiver import OTLPReceiver
with OTLPReceiver() as receiver:
    print(receiver.endpoint, flush=True)
    for line in sys.stdin:
        print(len(receiver.spans()), flush=True)
"""


class Receiver:
    """``tests/otlpreceiver.py`` in a child process."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _RECEIVER], cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.endpoint = self.proc.stdout.readline().strip()

    def count(self) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _graph(n: int) -> Any:
    from agentloom import Graph

    graph = Graph("otel_fanout")
    graph.add_input("items", "list", default=[f"What is {i} * 7 + 5?" for i in range(n)])
    graph.add_model("default", "offline")
    graph.add_tool("calculator")
    graph.configure(max_concurrency=64)
    graph.add_node("fan", "map", over="items", node={"kind": "agent", "task": "{item}", "tools": ["calculator"], "max_turns": 2})
    return graph


async def _once(graph: Any) -> tuple[float, float]:
    """Wall and CPU seconds (every thread of the process: the exporter's too) of one run."""
    start, cpu = time.perf_counter(), time.process_time()
    result = await graph.run()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert not result.partial and not result.budget_limited, result.stop_reason
    return wall, cpu


def run(quick: bool = False) -> list[dict[str, Any]]:
    """One row per mode (untraced, traced) and the ratio between them."""
    from agentloom import observability

    n, repeats = (100, 2) if quick else (1000, 6)
    receiver = Receiver()
    runs: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
    spans: list[int] = []
    try:
        with scratch_home("bench-otel-"):
            graph = _graph(n)
            asyncio.run(_once(graph))  # warm-up: imports, the offline engine, LangGraph compile
            os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
            start = time.perf_counter()
            observability.run_listener()  # once a process: import the SDK, make the exporter
            setup = time.perf_counter() - start
            asyncio.run(_once(graph))
            for i in range(repeats):
                for mode in ("off", "on") if i % 2 == 0 else ("on", "off"):
                    if mode == "off":
                        os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
                        runs["off"].append(asyncio.run(_once(graph)))
                        continue
                    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
                    before = receiver.count()
                    runs["on"].append(asyncio.run(_once(graph)))
                    spans.append(receiver.count() - before)
            os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
            encoding = _encoding(graph)
    finally:
        os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        observability.flush()
        receiver.close()
    wall = {mode: statistics.median(w for w, _ in figures) for mode, figures in runs.items()}
    cpu = {mode: statistics.median(c for _, c in figures) for mode, figures in runs.items()}
    return [
        {"branches": n, "tracing": "off", "wall_s": round(wall["off"], 3), "per_branch_ms": round(wall["off"] / n * 1000, 3),
         "cpu_s": round(cpu["off"], 3), "spans": 0, "sdk_setup_s": None, "runs": repeats, "ratio": 1.0, "cpu_ratio": 1.0},
        {"branches": n, "tracing": "on (OTLP/HTTP)", "wall_s": round(wall["on"], 3),
         "per_branch_ms": round(wall["on"] / n * 1000, 3), "cpu_s": round(cpu["on"], 3), "spans": min(spans),
         "sdk_setup_s": round(setup, 3), "runs": repeats, "ratio": round(wall["on"] / wall["off"], 3),
         "cpu_ratio": round(cpu["on"] / cpu["off"], 3)},
        encoding,
    ]


def _encoding(graph: Any) -> dict[str, Any]:
    """CPU per span of encoding one traced run's spans (tracing is on): the SDK's encoder beside agentloom's."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest as Request

    from agentloom import observability
    from agentloom.observability._wire import encode_spans

    exporter = observability._current_exporter()
    captured: list[Any] = []
    on_end = exporter.processor.on_end
    exporter.processor.on_end = lambda span: (captured.append(span), on_end(span))
    try:
        asyncio.run(_once(graph))
    finally:
        exporter.processor.on_end = on_end

    def cpu(encode: Any) -> float:
        times = []
        for _ in range(5):
            start = time.process_time()
            encode(captured)
            times.append(time.process_time() - start)
        return statistics.median(times)

    sdk = cpu(lambda spans: sdk_encode(spans).SerializePartialToString())
    ours = cpu(encode_spans)
    same = Request.FromString(sdk_encode(captured).SerializePartialToString()) == Request.FromString(encode_spans(captured))
    assert same, "the two encoders disagree"
    return {"tracing": "encoding alone: agentloom's (SDK's)", "spans": len(captured),
            "cpu_s": round(ours, 3), "us_per_span": f"{ours / len(captured) * 1e6:.1f} ({sdk / len(captured) * 1e6:.1f})",
            "cpu_ratio": round(ours / sdk, 3)}


if __name__ == "__main__":
    from bench.run import format_table

    print(format_table(run(quick="--quick" in sys.argv)))

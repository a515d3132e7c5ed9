"""Cold start: ``import agentloom`` and ``loom --help`` against ``python -c pass``, each a fresh
process, interleaved so machine noise hits all three alike."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Any

CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import agentloom": [sys.executable, "-c", "import agentloom"],
    "loom --help": [sys.executable, "-c", "import sys; sys.argv=['loom','--help']; from agentloom.cli import main; main()"],
    "heavy modules after loom --help": [
        sys.executable,
        "-c",
        "import sys, io, contextlib; sys.argv=['loom','--help']\n"
        "from agentloom.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()): main()\n"
        "bad=[m for m in ('litellm','langgraph','openai') if m in sys.modules]\n"
        "sys.exit(1 if bad else 0)",
    ],
}


def _time(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def run(quick: bool = False) -> list[dict[str, Any]]:
    repeats = 5 if quick else 15
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(repeats):
        for name, cmd in CASES.items():
            samples[name].append(_time(cmd))
    base = statistics.median(samples["python -c pass"])
    rows = []
    for name, values in samples.items():
        median = statistics.median(values)
        rows.append({"case": name, "median_ms": round(median * 1000, 1), "ratio_vs_python": round(median / base, 2), "runs": repeats})
    return rows


if __name__ == "__main__":
    from bench.run import format_table

    print(format_table(run()))

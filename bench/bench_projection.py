"""Projected against actual cost at the plan gate: offline research runs at widths 1-4.

Each run starts with ``approve="plan"``; the plan gate's projection of the whole run's tokens
(``run_tokens``: spend before the gate, the branches and the steps after them) is read from the
waiting run, the run is approved, and its actual tokens are compared. Two cases side by side:

- cold: every run in a fresh home, so the projection has only the branch's tool-loop shape;
- warm: the runs share one home, so each projection also reads the earlier runs' actuals (the
  first run of the warm case has none and is a prior).

``ratio`` is actual / projected (1.0 is exact; the goal is 0.5-2.0). ``old ratio`` is actual over
the projection the gate showed before (one model call per branch at the tokens per call so far). Questions are the first
``--questions`` of ``bench/questions_shipped_fresh.json`` (their text only).
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._home import scratch_home  # noqa: E402

WIDTHS = (1, 2, 3, 4)


def questions(n: int) -> list[str]:
    data = json.loads((Path(__file__).parent / "questions_shipped_fresh.json").read_text())
    return [str(q["question"]) for q in data[:n]]


async def one(question: str, width: int) -> dict[str, Any]:
    """Projected and actual tokens of one approved research run, in the current home."""
    from agentloom import approvals
    from agentloom.research.run import research

    result = await research(question, width=width, approve="plan")
    if result.stop_reason != "waiting":
        return {"width": width, "projected": None, "actual": result.usage.tokens, "basis": "no gate"}
    run = approvals.get(result.run_id)
    projected = run.requests[0].projected
    done = await run.resume(approve=True)
    spent = projected.get("spent_before") or {}
    per_call = spent.get("tokens", 0) / spent["llm_calls"] if spent.get("llm_calls") else 0
    return {"width": width, "projected": projected.get("run_tokens"), "actual": done.usage.tokens,
            "basis": projected.get("basis"), "old": projected.get("branches", 0) * per_call}


def measure(qs: list[str], warm: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if warm:
        with scratch_home("bench-projection-warm-"):
            for q in qs:
                for w in WIDTHS:
                    out.append(asyncio.run(one(q, w)))
        return out
    for q in qs:
        for w in WIDTHS:
            with scratch_home("bench-projection-cold-"):
                out.append(asyncio.run(one(q, w)))
    return out


def summarise(case: str, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for width in (*WIDTHS, None):
        chosen = [r for r in runs if r["projected"] and (width is None or r["width"] == width)]
        ratios = [r["actual"] / r["projected"] for r in chosen]
        if not ratios:
            continue
        rows.append({
            "case": case, "width": "all" if width is None else width, "runs": len(ratios),
            "history-based": sum(1 for r in chosen if r["basis"] == "history"),
            "mean projected": round(statistics.mean(r["projected"] for r in chosen)),
            "mean actual": round(statistics.mean(r["actual"] for r in chosen)),
            "ratio geo-mean": round(math.exp(statistics.mean(math.log(x) for x in ratios)), 2),
            "ratio min": round(min(ratios), 2), "ratio max": round(max(ratios), 2),
            "within 2x": f"{sum(1 for x in ratios if 0.5 <= x <= 2.0)}/{len(ratios)}",
            "old ratio geo-mean": round(math.exp(statistics.mean(math.log(r["actual"] / r["old"]) for r in chosen)), 1)
            if all(r["old"] for r in chosen) else None,
        })
    return rows


def run(quick: bool = False, n: int | None = None) -> list[dict[str, Any]]:
    qs = questions(n or (2 if quick else 6))
    return summarise("cold (prior)", measure(qs, warm=False)) + summarise("warm (history)", measure(qs, warm=True))


if __name__ == "__main__":
    import argparse

    from bench.run import format_table

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=6)
    args = parser.parse_args()
    print(format_table(run(n=args.questions)))

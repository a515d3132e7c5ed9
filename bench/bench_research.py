"""Offline research on a 1,000-document corpus (target: under 10 s wall on 2 cores), beside its
peer, one agent answering the same question over the same corpus (what `loom ask` runs).

The corpus is the shipped Marrowick corpus plus synthetic filler documents, so the question has
real answers among many distractors. Each figure is the median of a few runs in this process.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._home import scratch_home
from bench.bench_index import make_corpus

QUESTION = "What are the daily capacities of the Northpoint, Saltmarsh and Kettle Bay desalination plants?"
SHIPPED = Path(__file__).resolve().parents[1] / "examples" / "corpus"


def _research(corpus: Path) -> tuple[float, Any]:
    from agentloom.research.run import research

    start = time.perf_counter()
    result = asyncio.run(research(QUESTION, corpus=[corpus]))
    return time.perf_counter() - start, result


def _ask(corpus: Path) -> tuple[float, Any]:
    from agentloom.agents.agent import Agent
    from agentloom.tools.calculator import calculator
    from agentloom.tools.corpus import corpus_tools

    start = time.perf_counter()
    agent = Agent("offline", tools=[*corpus_tools([corpus]), calculator], name="ask")
    result = asyncio.run(agent.run(QUESTION))
    return time.perf_counter() - start, result


def run(quick: bool = False) -> list[dict[str, Any]]:
    documents = 200 if quick else 1000
    repeats = 1 if quick else 3
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus = make_corpus(root / "corpus", documents - sum(1 for _ in SHIPPED.iterdir()))
        shutil.copytree(SHIPPED, corpus / "marrowick")
        files = sum(1 for p in corpus.rglob("*") if p.is_file())

        with scratch_home("", str(root / "home-ask")):
            ask_cold = _ask(corpus)[0]  # builds its own index on first use
        with scratch_home("", str(root / "home-research")):
            cold, first = _research(corpus)  # builds its own index on first use (and loads LangGraph)
            warm = statistics.median(_research(corpus)[0] for _ in range(repeats))
            ask = statistics.median(_ask(corpus)[0] for _ in range(repeats))
        found = all(s in str(first.output) for s in ("45,000", "62,000", "28,000"))
        for case, mine, peer in (
            (f"cold: index {files} docs on first use", cold, ask_cold),
            (f"warm index ({files} docs)", warm, ask),
        ):
            rows.append({"case": case, "research_s": round(mine, 3), "ask_s": round(peer, 3),
                         "ratio": round(mine / peer, 2), "answer_found": found, "target_s": 10})
    return rows


if __name__ == "__main__":
    from bench.run import format_table

    print(format_table(run()))

"""Shared memory across parallel teams: tool calls, wall time, tokens, bank size and success with
no memory, ``AdmitAll``, ``HeuristicAdmission`` and ``LearnedAdmission`` side by side; plus key
search on a 1,000,000-entry bank and the cost of one admission decision.

Workload: one research run whose question names a topic; K teams (``Agent``s with ``team=``,
nested in the run like graph ``map`` branches) each answer a sub-question in 4 turns of 2
parallel ``search`` calls. A fraction of every team's 8 calls (the overlap: 0, 25 or 50%) are
background searches on the run's topic that every team makes, each team in its own order;
the rest are about the team's own sub-topic. The model is a ``FunctionModel`` that reads its
search plan from the sub-question text and answers by quoting its results; a team succeeds when
its answer holds every fact its searches should find. ``search`` sleeps (injected latency) and,
like a real search API, allows at most 4 calls at once across all teams: saved calls turn into
saved wall time through that limit (a row with no limit shows what happens without one).

``LearnedAdmission`` is trained (``train``) on a separate split: other topics, logged under
``AdmitAll``. Targets (8 teams, 50% overlap): >= 40% fewer tool calls and >= 30% less wall time
than no memory at equal success; learned stores <= half of AdmitAll's entries while keeping
>= 90% of its savings; key search on 1,000,000 entries < 10 ms median; a decision < 1 ms.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["run"]

_SYL = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "su", "do", "fa", "gu", "hi", "je", "xo", "ba", "ce"]
_ASPECTS = ["overview", "history", "market", "policy", "technology", "costs", "risks", "outlook"]
CALLS_PER_TEAM = 8
WIDTH = 2
TOOL_CAP = 4


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYL) for _ in range(3))


def _fact(query: str) -> str:
    return "finding " + hashlib.sha1(query.encode()).hexdigest()[:10]


@dataclass
class Workload:
    question: str
    team_questions: list[str]
    expected: list[set[str]]


def make_workload(teams: int, overlap: float, seed: int) -> Workload:
    """One run: a topic, and per team a sub-question whose plan shares ``overlap`` of its calls."""
    rng = random.Random(seed)
    topic = " ".join(_word(rng) for _ in range(3))
    n_shared = round(overlap * CALLS_PER_TEAM)
    shared = [f"{topic} {_ASPECTS[i]}" for i in range(n_shared)]
    questions, expected = [], []
    for team in range(teams):
        sub = " ".join(_word(rng) for _ in range(2))
        private = [f"{sub} {_word(rng)} {_ASPECTS[(i + team) % len(_ASPECTS)]}" for i in range(CALLS_PER_TEAM - n_shared)]
        queries = shared + private
        rng.shuffle(queries)  # each team meets the shared searches at its own point
        turns = [queries[i : i + WIDTH] for i in range(0, len(queries), WIDTH)]
        plan = " ; ".join(" | ".join(t) for t in turns)
        questions.append(f"Sub-question {team + 1} on {sub}. Plan: {plan}")
        expected.append({_fact(q) for q in queries})
    return Workload(f"Research the prospects of {topic}.", questions, expected)


def _respond(request: Any) -> dict[str, Any]:
    """The model: follow the plan written in the sub-question, then quote every result."""
    question = request.metadata.get("question") or request.last_user_text()
    plan = [[q.strip() for q in turn.split("|")] for turn in question.split("Plan:", 1)[1].split(";")]
    done = sum(1 for m in request.messages if m.role == "assistant" and m.tool_calls)
    if done < len(plan):
        return {"tool_calls": [{"name": "search", "arguments": {"query": q}} for q in plan[done]]}
    facts = []
    for m in request.messages:
        if m.role == "tool" and m.name == "search" and m.content:
            try:
                facts.append(json.loads(m.content)["results"][0]["text"])
            except (ValueError, KeyError, IndexError, TypeError):
                continue
    return {"text": " ".join(facts)}


def _search_tool(latency: float, cap: int | None, counter: list[int]) -> Any:
    from agentloom.tools import tool

    @tool(max_concurrency=cap, cache=True)  # a read-only search: its results may be shared
    async def search(query: str) -> dict[str, Any]:
        """Search the corpus."""
        counter[0] += 1
        await asyncio.sleep(latency)
        h = hashlib.sha1(query.encode()).hexdigest()[:10]
        return {"query": query, "results": [{"id": f"p_{h}", "path": f"corpus/{h}.md", "line_start": 1, "line_end": 4,
                                             "text": f"{query}: {_fact(query)} [p_{h}]."}]}

    return search


async def _run_teams(work: Workload, bank: Any, latency: float, cap: int | None, store_path: Path) -> dict[str, Any]:
    from agentloom import Agent, Budget, tracing
    from agentloom.models.function import FunctionModel
    from agentloom.runstore import RunStore

    counter = [0]
    search = _search_tool(latency, cap, counter)
    model = FunctionModel(_respond, latency=0.005)
    store = RunStore(store_path)
    budget = Budget()
    run_id = store.create_run("bench", name="memory", input={"question": work.question})
    agents = [
        Agent(model=model, tools=[search], memory=bank, team=f"team{i}", width=WIDTH,
              max_turns=CALLS_PER_TEAM // WIDTH + 1, name=f"team{i}")
        for i in range(len(work.team_questions))
    ]
    with tracing.use(tracing.RunContext(run_id=run_id, store=store, budget=budget)):
        started = time.perf_counter()
        results = await asyncio.gather(*(a.run(q) for a, q in zip(agents, work.team_questions, strict=True)))
        wall = time.perf_counter() - started
    store.finish_run(run_id, "ok")
    store.close()
    success = sum(all(f in str(r.output) for f in want) for r, want in zip(results, work.expected, strict=True))
    return {
        "tool_calls": counter[0],
        "wall_s": wall,
        "tokens": budget.spent.tokens,
        "bank_entries": len(bank) if bank is not None else 0,
        "success": f"{success}/{len(results)}",
        "hits": sum(r.usage.memory_hits for r in results),
    }


def _policies(model: Any) -> dict[str, Any]:
    from agentloom.memory import AdmitAll, HeuristicAdmission, LearnedAdmission

    return {
        "none": None,
        "admit_all": AdmitAll,
        "heuristic": HeuristicAdmission,
        "learned": lambda: LearnedAdmission(model),
    }


def _train(root: Path, latency: float, quick: bool) -> Any:
    """Log a training split (other topics) under AdmitAll, then fit the learned policy."""
    from agentloom.memory import AdmitAll, MemoryBank, train

    bank = MemoryBank(root / "train.db", policy=AdmitAll())
    configs = [(8, 0.5), (4, 0.25)] if quick else [(8, 0.5), (8, 0.25), (4, 0.5), (4, 0.25), (2, 0.5)]
    for i, (k, overlap) in enumerate(configs):
        asyncio.run(_run_teams(make_workload(k, overlap, seed=10_000 + i), bank, latency, TOOL_CAP, root / "train-runs.db"))
    report = train(bank)
    return report


def _team_rows(root: Path, quick: bool) -> list[dict[str, Any]]:
    from agentloom.memory import MemoryBank

    latency = 0.03 if quick else 0.08
    report = _train(root, latency, quick)
    grid = [(2, 0.0), (2, 0.5), (8, 0.0), (8, 0.5)] if quick else [(k, o) for k in (2, 4, 8) for o in (0.0, 0.25, 0.5)]
    rows: list[dict[str, Any]] = []
    for k, overlap in grid:
        work = make_workload(k, overlap, seed=k * 100 + int(overlap * 100))
        measured: dict[str, dict[str, Any]] = {}
        for name, factory in _policies(report.model).items():
            bank = MemoryBank(root / f"k{k}-o{int(overlap * 100)}-{name}.db", policy=factory()) if factory else None
            measured[name] = _run_teams_sync(work, bank, latency, TOOL_CAP, root / "runs.db")
        base = measured["none"]
        saved_all = base["tool_calls"] - measured["admit_all"]["tool_calls"]
        for name, m in measured.items():
            saved = base["tool_calls"] - m["tool_calls"]
            rows.append({
                "case": f"teams={k} overlap={int(overlap * 100)}%",
                "policy": name,
                "tool_calls": m["tool_calls"],
                "calls_ratio": round(m["tool_calls"] / base["tool_calls"], 3),
                "wall_s": round(m["wall_s"], 3),
                "ratio": round(m["wall_s"] / base["wall_s"], 3),
                "tokens": m["tokens"],
                "bank": m["bank_entries"],
                "success": m["success"],
                "served": m["hits"],
                "kept_savings": round(saved / saved_all, 3) if saved_all > 0 and name != "none" else None,
                "stored_vs_all": round(m["bank_entries"] / measured["admit_all"]["bank_entries"], 3)
                if name != "none" and measured["admit_all"]["bank_entries"] else None,
            })
    # without a shared rate limit, coalescing saves calls but not wall time
    work = make_workload(8, 0.5, seed=850)
    uncapped = {name: _run_teams_sync(work, MemoryBank(root / f"uncapped-{name}.db", policy=f()) if f else None, latency, None, root / "runs.db")
                for name, f in list(_policies(report.model).items())[:2]}
    for name, m in uncapped.items():
        rows.append({"case": "teams=8 overlap=50% no tool limit", "policy": name, "tool_calls": m["tool_calls"],
                     "calls_ratio": round(m["tool_calls"] / uncapped["none"]["tool_calls"], 3), "wall_s": round(m["wall_s"], 3),
                     "ratio": round(m["wall_s"] / uncapped["none"]["wall_s"], 3), "tokens": m["tokens"], "bank": m["bank_entries"],
                     "success": m["success"], "served": m["hits"]})
    rows.append({"case": "learned model (training split)", "policy": f"v{report.version}", "decisions": report.n_decisions,
                 "useful": report.n_positive, "admit_fraction": report.metrics.get("admit_fraction"),
                 "credit_captured": report.metrics.get("credit_captured"), "threshold": round(report.threshold, 3),
                 "ratio": report.metrics.get("admit_fraction")})
    return rows


def _run_teams_sync(work: Workload, bank: Any, latency: float, cap: int | None, store_path: Path) -> dict[str, Any]:
    try:
        return asyncio.run(_run_teams(work, bank, latency, cap, store_path))
    finally:
        if bank is not None:
            bank.close()


def _fill_bank(path: Path, n: int, seed: int = 7) -> Any:
    """A bank of ``n`` tool-result entries with Zipf-distributed content words, loaded with
    ``import_entries`` (executemany in 50,000-row transactions, indexed in one pass each)."""
    import numpy as np

    from agentloom.memory import AdmitNone, MemoryBank

    bank = MemoryBank(path, policy=AdmitNone())
    rng = np.random.default_rng(seed)
    vocab_size = 50_000
    vocab = np.array(["".join(_SYL[(i // 18**j) % 18] for j in range(4)) + f"{i % 7}" for i in range(vocab_size)])
    weights = 1.0 / (np.arange(vocab_size) + 100.0)  # Zipf over content words (stopwords are not indexed terms)
    weights /= weights.sum()
    batch = 200_000

    def records() -> Any:
        for start in range(0, n, batch):
            size = min(batch, n - start)
            kw = vocab[rng.choice(vocab_size, size=(size, 6), p=weights)].tolist()
            vw = vocab[rng.choice(vocab_size, size=(size, 14), p=weights)].tolist()
            for i in range(size):
                yield {"key": f'search(query="{kw[i][0]} {kw[i][1]} {kw[i][2]}") → {" ".join(kw[i][3:])}',
                       "value": " ".join(vw[i]), "kind": "tool_result", "fingerprint": f"fp{start + i}",
                       "team": f"t{i % 8}", "run": "bulk"}

    bank.import_entries(records(), batch=batch)
    return bank


def _search_rows(root: Path, quick: bool) -> list[dict[str, Any]]:
    n = 50_000 if quick else 1_000_000
    started = time.perf_counter()
    bank = _fill_bank(root / "big.db", n)
    build = time.perf_counter() - started
    rng = random.Random(3)
    picks = ",".join(str(rng.randint(1, n)) for _ in range(300))
    samples = bank.db.read(f"SELECT key, fingerprint FROM entries WHERE rid IN ({picks})")
    queries = [" ".join(k.split('"')[1].split()[rng.randint(0, 1):][:2]) for k, _ in samples]
    bank.search(queries[0])  # warm the page cache
    search_ms, lookup_ms, found = [], [], 0
    for (key, fp), query in zip(samples, queries, strict=True):
        t = time.perf_counter()
        hits = bank.search(query, k=8)
        search_ms.append((time.perf_counter() - t) * 1000)
        found += any(h.key == key for h in hits)
        t = time.perf_counter()
        bank.lookup(fp)
        lookup_ms.append((time.perf_counter() - t) * 1000)
    bank.close()
    median = statistics.median(search_ms)
    return [
        {"case": f"key search, {n:,} entries (vs 10 ms)", "policy": "fts5 bm25", "build_s": round(build, 1),
         "ms_median": round(median, 3), "ms_p95": round(sorted(search_ms)[int(len(search_ms) * 0.95)], 3),
         "ratio": round(median / 10.0, 3), "success": f"{found}/{len(samples)} found"},
        {"case": f"fingerprint lookup, {n:,} entries (vs 10 ms)", "policy": "index", "ms_median": round(statistics.median(lookup_ms), 4),
         "ratio": round(statistics.median(lookup_ms) / 10.0, 4)},
    ]


def _decision_rows(root: Path) -> list[dict[str, Any]]:
    import numpy as np

    from agentloom.memory import (
        FEATURE_NAMES,
        AdmissionCandidate,
        AdmissionModel,
        LearnedAdmission,
        MemoryBank,
    )

    model = AdmissionModel(weights=np.linspace(-1, 1, len(FEATURE_NAMES)), bias=0.1, threshold=0.5, version=1)
    policy = LearnedAdmission(model)
    bank = MemoryBank(root / "decide.db", policy=policy, task="tidal lagoon energy prospects")
    rng = random.Random(5)
    for i in range(2000):
        bank.add(f"entry {i} " + " ".join(_word(rng) for _ in range(5)), " ".join(_word(rng) for _ in range(30)))
    decide_us, offer_us = [], []
    for i in range(500):
        cand = AdmissionCandidate(kind="tool_result", key=f"search {i} " + " ".join(_word(rng) for _ in range(4)),
                         value=" ".join(_word(rng) for _ in range(60)), team=f"t{i % 8}", run="r", cost_seconds=0.5)
        t = time.perf_counter()
        d = bank.offer(cand)
        offer_us.append((time.perf_counter() - t) * 1e6)
        t = time.perf_counter()
        policy.decide(d.features)
        decide_us.append((time.perf_counter() - t) * 1e6)
    bank.close()
    return [
        {"case": "admission decision, learned (vs 1 ms)", "policy": "decide()", "ms_median": round(statistics.median(decide_us) / 1000, 4),
         "ms_p95": round(sorted(decide_us)[int(len(decide_us) * 0.95)] / 1000, 4), "ratio": round(statistics.median(decide_us) / 1000, 4)},
        {"case": "offer: features + decision + logged write (vs 1 ms)", "policy": "offer()", "ms_median": round(statistics.median(offer_us) / 1000, 3),
         "ms_p95": round(sorted(offer_us)[int(len(offer_us) * 0.95)] / 1000, 3), "ratio": round(statistics.median(offer_us) / 1000, 3)},
    ]


def run(quick: bool = False) -> list[dict[str, Any]]:
    """All rows: team runs per policy, key search at scale, decision cost."""
    with tempfile.TemporaryDirectory(prefix="loom-bench-memory-") as tmp:
        root = Path(tmp)
        old_home = os.environ.get("AGENTLOOM_HOME")
        os.environ["AGENTLOOM_HOME"] = str(root / "home")
        try:
            rows = _team_rows(root, quick)
            rows += _decision_rows(root)
            rows += _search_rows(root, quick)
        finally:
            if old_home is None:
                os.environ.pop("AGENTLOOM_HOME", None)
            else:
                os.environ["AGENTLOOM_HOME"] = old_home
    return rows


if __name__ == "__main__":
    from bench.run import format_table

    started = time.perf_counter()
    print(format_table(run(quick="--quick" in sys.argv)))
    print(f"({time.perf_counter() - started:.1f}s)")

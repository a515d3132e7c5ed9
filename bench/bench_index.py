"""Corpus indexing: a cold build of 10,000 synthetic documents (1,000 in quick mode), an
incremental refresh with nothing changed, and search latency.

The peer for the cold build is the target from issue 7 (10,000 documents in under 30 s): its
``ratio`` is measured time over the target's time for the same number of documents, so a
ratio below 1 meets the target. The refresh is compared with the cold build it avoids redoing,
and BM25 search with a brute-force unranked ``LIKE`` scan for the same words. The documents
draw from a Zipf-weighted vocabulary of pseudo-words so term frequencies look like real text.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["run", "make_corpus", "queries"]

TARGET_SECONDS_PER_10K = 30.0

_TOPICS = [
    "budget", "reservation", "ledger", "planner", "crossover", "verifier", "memory", "passage", "index",
    "executor", "branch", "citation", "schedule", "width", "depth", "latency", "token", "retry",
    "checkpoint", "consensus", "parallel", "refinement", "agent", "corpus", "graph", "dataflow",
]
_SYLLABLES = "ka lo mi nu pe ra si to vu ze bra cli dro fen gal hin jor kel mun nor".split()


def _vocabulary(size: int = 5000) -> list[str]:
    """Deterministic pseudo-words; drawn with Zipf weights they give a long-tailed vocabulary
    like real text (a few very common words, many rare ones)."""
    words = [a + b for a in _SYLLABLES for b in _SYLLABLES]
    words += [a + b + c for a in _SYLLABLES for b in _SYLLABLES for c in _SYLLABLES]
    random.Random(3).shuffle(words)
    return words[:size]


_VOCAB = _vocabulary()
_CUM: list[float] = []
for _rank in range(len(_VOCAB)):
    _CUM.append((_CUM[-1] if _CUM else 0.0) + 1.0 / (_rank + 1))


def _sentence(rng: random.Random) -> str:
    words = rng.choices(_VOCAB, cum_weights=_CUM, k=rng.randint(6, 14))
    words.insert(rng.randrange(len(words)), rng.choice(_TOPICS))
    return " ".join(words).capitalize() + "."


def queries(n: int, seed: int = 11) -> list[str]:
    """Question-like queries: a topic word and two mid-frequency words."""
    rng = random.Random(seed)
    mid = _VOCAB[50:1500]
    return [f"how does {rng.choice(_TOPICS)} relate to {rng.choice(mid)} and {rng.choice(mid)}?" for _ in range(n)]


def make_corpus(folder: Path, documents: int, seed: int = 7) -> Path:
    """Write ``documents`` deterministic files (mostly Markdown, some .txt and .html)."""
    rng = random.Random(seed)
    for i in range(documents):
        sub = folder / f"part{i % 20:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        topic = rng.choice(_TOPICS)
        paragraphs = [" ".join(_sentence(rng) for _ in range(rng.randint(2, 5))) for _ in range(rng.randint(2, 6))]
        kind = i % 10
        if kind == 8:
            body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
            text = f"<html><head><title>{topic} note {i}</title></head><body>\n<h1>{topic} {i}</h1>\n{body}\n</body></html>\n"
            (sub / f"doc{i:05d}.html").write_text(text)
        elif kind == 9:
            (sub / f"doc{i:05d}.txt").write_text("\n\n".join(paragraphs) + "\n")
        else:
            sections = "\n\n".join(f"## {topic} part {j}\n\n{p}" for j, p in enumerate(paragraphs))
            (sub / f"doc{i:05d}.md").write_text(f"# {topic.title()} document {i}\n\n{sections}\n")
    return folder


def run(quick: bool = False) -> list[dict[str, Any]]:
    from agentloom.tools.corpus import CorpusIndex

    documents = 1_000 if quick else 10_000
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="loom-bench-index-") as tmp:
        corpus = make_corpus(Path(tmp) / "corpus", documents)
        index = CorpusIndex(corpus, index_path=Path(tmp) / "index.db")
        cold = index.refresh()
        target = TARGET_SECONDS_PER_10K * documents / 10_000
        rows.append({"case": f"cold index, {documents:,} docs", "seconds": round(cold.seconds, 3),
                     "peer": f"target {target:g} s", "peer_seconds": target,
                     "ratio": round(cold.seconds / target, 3), "passages": cold.passages})
        time.sleep(2.1)  # past the racy window, so the refresh below is the steady-state one
        warm = index.refresh()
        assert warm.indexed == 0 and warm.unchanged == documents, warm
        rows.append({"case": f"no-change refresh, {documents:,} docs", "seconds": round(warm.seconds, 3),
                     "peer": "cold index", "peer_seconds": round(cold.seconds, 3),
                     "ratio": round(warm.seconds / cold.seconds, 3), "passages": warm.passages})
        from agentloom.tools.corpus import fts_query

        index.search("warm up")
        latencies, scans = [], []
        conn = index._reader()
        for q in queries(60 if quick else 100):
            t0 = time.perf_counter()
            index.search(q, 5)
            latencies.append(time.perf_counter() - t0)
            terms = [t.strip('"') for t in fts_query(q).split(" OR ")]
            t0 = time.perf_counter()
            conn.execute(
                "SELECT count(*) FROM passages WHERE " + " OR ".join("text LIKE ?" for _ in terms),
                [f"%{t}%" for t in terms],
            ).fetchone()
            scans.append(time.perf_counter() - t0)
        med, scan = statistics.median(latencies), statistics.median(scans)
        rows.append({"case": f"search k=5, median of {len(latencies)}", "seconds": round(med, 5),
                     "peer": "LIKE scan, same words", "peer_seconds": round(scan, 5),
                     "ratio": round(med / scan, 3), "passages": warm.passages})
        index.close()
    return rows


def _print(rows: list[dict[str, Any]]) -> None:
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols))


if __name__ == "__main__":
    _print(run(quick="--quick" in sys.argv))

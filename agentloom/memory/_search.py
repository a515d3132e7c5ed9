"""Search over the bank's live entries: FTS5/BM25 in stages that stay cheap on big banks, vector
search when there is an embedder, and reciprocal-rank fusion of the two."""

from __future__ import annotations

import logging
import time
from typing import Any

from agentloom.memory._database import BankDatabase
from agentloom.memory._fulltext import match_expression, ranked_sql, rowid_scan_hint
from agentloom.memory._rows import SELECT, to_entry
from agentloom.memory.types import Embedder, MemoryEntry
from agentloom.storage import Connection, Dialect

__all__ = ["Search"]

log = logging.getLogger("agentloom.memory")

# Ranking looks at the most recent matches of all terms (then of any term) first; it looks at
# every match when the scope filter leaves fewer than k of them. Bounds search cost on big banks.
_SEARCH_CAP = 1000
_SEARCH_CAP_ANY = 300


class Search:
    """Keyword, vector and hybrid search over the entries ``db`` sees; vector search needs an
    ``embedder`` (there is none by default)."""

    def __init__(self, db: BankDatabase, embedder: Embedder | None = None) -> None:
        self.db = db
        self.embedder = embedder

    def search(self, query: str, k: int = 8, *, kind: str | None = None, mode: str = "auto") -> list[MemoryEntry]:
        """The ``k`` entries most relevant to ``query``: FTS5 (BM25, key weighted over value;
        all terms first, any term if too few), fused with vector search when there is an
        embedder (``mode``: auto, fts, vector). Any text is a safe query; it never raises."""
        if k <= 0:
            return []
        fts_hits: list[MemoryEntry] = []
        if mode in ("auto", "fts", "hybrid"):
            fts_hits = self._fts_search(query, k if self.embedder is None or mode == "fts" else k * 2, kind)
        if self.embedder is None or mode == "fts":
            return fts_hits[:k]
        vec_hits = self._vector_search(query, k * 2, kind)
        if mode == "vector":
            return vec_hits[:k]
        return _fuse(fts_hits, vec_hits, k)

    def _live_where(self, kind: str | None) -> tuple[str, list[Any]]:
        """SQL filter (alias ``e``) for the unexpired entries in scope, of ``kind`` if given."""
        where, params = self.db.where("e.")
        where += " AND (e.expires IS NULL OR e.expires > ?)"
        params.append(time.time())
        if kind is not None:
            where += " AND e.kind = ?"
            params.append(kind)
        return where, params

    def _fts_search(self, query: str, k: int, kind: str | None, modes: tuple[str, ...] = ("and", "or")) -> list[MemoryEntry]:
        """BM25 search in stages that stay cheap on big banks: rank the most recent matches
        (all terms, then any term), fetch only the best few rows; widen to every capped match,
        then to every match, only when the scope filter leaves fewer than ``k``."""
        where, params = self._live_where(kind)
        dialect = self.db.database.dialect

        def run(conn: Connection) -> list[MemoryEntry]:
            found: dict[str, MemoryEntry] = {}
            for mode in modes:
                expression = match_expression(dialect, query, mode=mode)
                if not expression:
                    return []
                want = k + len(found)
                cap = _SEARCH_CAP if mode == "and" else _SEARCH_CAP_ANY
                top = max(4 * want, 32)
                ranked = _ranked(conn, dialect, expression, cap, top)
                rows = _fetch_ranked(conn, dialect, ranked, where, params)
                if len(rows) < want and len(ranked) == top:  # the filter dropped some: rank every capped match
                    ranked = _ranked(conn, dialect, expression, cap, None)
                    rows = _fetch_ranked(conn, dialect, ranked, where, params)
                    if len(rows) < want and len(ranked) >= cap:  # still short and matches go beyond the cap
                        rows = _fetch_ranked(conn, dialect, _ranked(conn, dialect, expression, None, None), where, params)
                for row, score in rows[:want]:
                    entry = to_entry(row, score=round(-score, 6))
                    found.setdefault(entry.id, entry)
                if len(found) >= k:
                    break
            return list(found.values())[:k]

        try:
            return self.db.query(run, after_writes=False)
        except Exception as exc:  # a query the engine cannot parse: no hits, never an error
            log.debug("memory search failed for %r: %s", query, exc)
            return []

    def _vector_search(self, query: str, k: int, kind: str | None) -> list[MemoryEntry]:
        index = self.db.vector_index()
        if index is None or self.embedder is None:
            return []
        try:
            vector = self.embedder.embed([query])[0]
        except Exception as exc:  # an embedder failure degrades to keyword search
            log.warning("memory embedder failed: %s", exc)
            return []
        where, params = self._live_where(kind)

        def run(conn: Connection) -> list[MemoryEntry]:
            allowed = {int(r[0]) for r in conn.execute(f"SELECT e.rid FROM entries e WHERE {where}", params)}
            pairs = index.nearest(conn, vector, k, allowed)
            if not pairs:
                return []
            marks = ",".join("?" * len(pairs))
            rows = conn.execute(f"SELECT {SELECT} FROM entries e WHERE e.rid IN ({marks})", [p[0] for p in pairs]).fetchall()
            by_rid = {int(r[0]): r for r in rows}
            return [to_entry(by_rid[rid], score=round(sim, 6)) for rid, sim in pairs if rid in by_rid]

        return self.db.query(run, after_writes=False)


def _fuse(fts_hits: list[MemoryEntry], vec_hits: list[MemoryEntry], k: int) -> list[MemoryEntry]:
    """Reciprocal-rank fusion of two ranked lists, best ``k`` first."""
    fused: dict[str, float] = {}
    by_id: dict[str, MemoryEntry] = {}
    for hits in (fts_hits, vec_hits):
        for rank, entry in enumerate(hits):
            fused[entry.id] = fused.get(entry.id, 0.0) + 1.0 / (60 + rank)
            by_id.setdefault(entry.id, entry)
    order = sorted(fused, key=lambda i: (-fused[i], i))[:k]
    out = []
    for entry_id in order:
        entry = by_id[entry_id]
        entry.score = round(fused[entry_id], 6)
        out.append(entry)
    return out


def _ranked(conn: Connection, dialect: Dialect, expression: str, cap: int | None, top: int | None) -> list[tuple[int, float]]:
    """(rid, r) of the matches, best (lowest r) first: among the ``cap`` most recent, at most ``top``."""
    params: list[Any] = [expression]
    if cap is not None:
        params.append(cap)
    if top is not None:
        params.append(top)
    sql = ranked_sql(dialect, capped=cap is not None, limited=top is not None)
    return [(int(r[0]), float(r[1])) for r in conn.execute(sql, params)]


def _fetch_ranked(conn: Connection, dialect: Dialect, ranked: list[tuple[int, float]], where: str,
                  params: list[Any]) -> list[tuple[tuple[Any, ...], float]]:
    """The entry rows for ranked rids that pass the scope filter, in rank order."""
    if not ranked:
        return []
    score = dict(ranked)
    hint = rowid_scan_hint(dialect)
    out: list[tuple[tuple[Any, ...], float]] = []
    for i in range(0, len(ranked), 900):
        chunk = [rid for rid, _ in ranked[i : i + 900]]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(f"SELECT {SELECT} FROM entries e {hint} WHERE e.rid IN ({marks}) AND {where}", [*chunk, *params]):
            out.append((row, score[int(row[0])]))
    out.sort(key=lambda item: (item[1], item[0][0]))
    return out

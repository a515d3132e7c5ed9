"""``MemoryBank``: a shared memory for parallel teams and runs, in SQLite (sqlite-utils, WAL).

Entries carry a short ``key`` (what teams see) and a ``value`` (read on demand). The bank is the
executor's ``ToolCache``: an identical tool call is served from the bank (a *hit*), or joins the
same call already in flight in another team (*coalesced*), or runs and is offered to the
admission policy. Every admission decision is logged with its features and every read with the
reading team, so ``loom memory train`` can learn what is worth sharing.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from agentloom import tracing
from agentloom._paths import loom_home
from agentloom._sqlite import DBLock, open_db
from agentloom.errors import ConfigError, StoreError
from agentloom.memory import _inflight
from agentloom.memory._schema import ensure_schema
from agentloom.memory._text import content_hash, count_tokens, fts_query, shorten, term_set, value_text
from agentloom.memory.admission import AdmissionModel, AdmissionPolicy, LearnedAdmission
from agentloom.memory.context import current_task
from agentloom.memory.features import compute_features
from agentloom.memory.types import KINDS, Candidate, Decision, Embedder, MemoryEntry
from agentloom.tools.base import Tool, ToolResult

if TYPE_CHECKING:
    from agentloom.memory._vectors import VectorIndex

__all__ = ["MemoryBank", "SCOPES", "tool_key"]

log = logging.getLogger("agentloom.memory")
T = TypeVar("T")

#: Scope names: ``run`` (entries live in one run's namespace) or ``project`` (shared across runs).
SCOPES = ("run", "project")

_COLUMNS = (
    "rid", "id", "ns", "key", "value", "value_format", "kind", "fingerprint", "team", "run", "step",
    "citations", "cost_tokens", "cost_usd", "cost_seconds", "tokens", "created", "uses", "last_used",
    "verified", "expires",
)
_SELECT = ", ".join(f"e.{c}" for c in _COLUMNS)
_SIMILARITY_CHARS = 1500  # similarity compares the key and the start of the value
# Ranking looks at the most recent matches of all terms (then of any term) first; it looks at
# every match when the scope filter leaves fewer than k of them. Bounds search cost on big banks.
_SEARCH_CAP = 1000
_SEARCH_CAP_ANY = 300
_NEIGHBOUR_CAP = 50  # near-duplicate candidates: the most recent entries sharing a key term


def _entry(row: tuple[Any, ...], score: float | None = None) -> MemoryEntry:
    d = dict(zip(_COLUMNS, row, strict=True))
    return MemoryEntry(
        id=d["id"], key=d["key"], value=d["value"], kind=d["kind"], fingerprint=d["fingerprint"],
        team=d["team"], run=d["run"], step=d["step"], citations=json.loads(d["citations"] or "[]"),
        cost_tokens=int(d["cost_tokens"] or 0), cost_usd=float(d["cost_usd"] or 0.0),
        cost_seconds=float(d["cost_seconds"] or 0.0), created=float(d["created"] or 0.0),
        uses=int(d["uses"] or 0), last_used=d["last_used"], verified=bool(d["verified"]), scope=d["ns"],
        value_format=d["value_format"] or "text", tokens=int(d["tokens"] or 0), expires=d["expires"], score=score,
    )


def _entry_id(ns: str, chash: str) -> str:
    """Deterministic id: the same content in the same scope always gets the same id."""
    return "mem_" + hashlib.sha256(f"{ns}\x00{chash}".encode()).hexdigest()[:16]


def _summary(value: Any, limit: int) -> str:
    """A short preview of a tool value: the text, or its first meaningful string leaves."""
    if isinstance(value, str):
        return shorten(value, limit)
    found: list[str] = []

    def walk(v: Any) -> None:
        if len(found) >= 3:
            return
        if isinstance(v, str):
            if len(v) >= 16 and " " in v:
                found.append(v)
        elif isinstance(v, dict):
            for item in v.values():
                walk(item)
        elif isinstance(v, list | tuple):
            for item in v:
                walk(item)

    walk(value)
    if not found:
        return shorten(json.dumps(value, default=str), limit)
    return shorten(" | ".join(found), limit)


def tool_key(name: str, args: dict[str, Any], value: Any, *, limit: int = 200) -> str:
    """The key shown to teams for a tool result: the call, then a preview of what it returned."""
    shown = ", ".join(f"{k}={json.dumps(v, default=str, ensure_ascii=False)}" for k, v in sorted(args.items()))
    call = shorten(f"{name}({shown})", 110)
    preview = _summary(value, max(20, limit - len(call) - 3))
    return f"{call} → {preview}" if preview else call


@dataclass(slots=True)
class _Shared:
    """What a flight's leader publishes to the callers waiting on it (a snapshot of its result)."""

    result: ToolResult


class MemoryBank:
    """A memory bank at ``path`` (default ``<loom home>/memory.db``), in one scope.

    ``MemoryBank()`` is the project bank (persists across runs); ``MemoryBank("run")`` or
    ``MemoryBank.for_scope("run", run_id=...)`` keeps entries in one run's namespace (with no
    ``run_id``, the current run's). A ``str`` path equal to a scope name is read as that scope.
    ``policy`` decides admission (default: ``LearnedAdmission``, which falls back to the
    heuristic until a model is trained). ``embedder`` adds vector search; there is none by
    default. ``ttl`` (seconds) makes entries expire; ``quota_entries``/``quota_tokens`` cap
    what one run may store.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        scope: str = "project",
        run_id: str | None = None,
        policy: AdmissionPolicy | None = None,
        embedder: Embedder | None = None,
        ttl: float | None = None,
        quota_entries: int | None = None,
        quota_tokens: int | None = None,
        task: str | None = None,
        team: str | None = None,
        create: bool = True,
    ) -> None:
        if isinstance(path, str) and path in SCOPES + ("all",):
            scope, path = path, None
        if scope not in SCOPES + ("all",):
            raise ConfigError(f"unknown memory scope '{scope}'; use one of: {', '.join(SCOPES)}")
        if ttl is not None and ttl <= 0:
            raise ConfigError(f"memory ttl must be positive seconds, got {ttl}")
        for name, value in (("quota_entries", quota_entries), ("quota_tokens", quota_tokens)):
            if value is not None and value < 0:
                raise ConfigError(f"memory {name} must be 0 or more, got {value}")
        self.path = Path(path) if path is not None else loom_home() / "memory.db"
        self.scope = scope
        self.run_id = run_id
        self.ttl = ttl
        self.quota_entries = quota_entries
        self.quota_tokens = quota_tokens
        self.task = task
        self.team = team
        self.embedder = embedder
        self.db = open_db(self.path, "memory", create=create)
        self._conn: sqlite3.Connection = self.db.conn
        self._conn.execute("PRAGMA cache_size = -32768")  # 32 MB page cache: indexes stay hot on big banks
        self._file_key = str(self.path.resolve())
        self._lock = DBLock.for_path(self.path)
        self._run_tasks: dict[str, str] = {}
        self._vectors: VectorIndex | None = None
        self._vec_lock = threading.Lock()
        with self._lock:
            self._guard(lambda: ensure_schema(self.db))
        self.policy: AdmissionPolicy = policy if policy is not None else LearnedAdmission()
        self.policy.bind(self)

    # ----------------------------------------------------------------- construction helpers
    @classmethod
    def for_scope(cls, name: str, *, run_id: str | None = None, path: str | Path | None = None, **kwargs: Any) -> MemoryBank:
        """The bank of scope ``name``: ``"run"`` (one run's entries; ``run_id`` or the current
        run's) or ``"project"`` (persists across runs). Same file, separate namespaces."""
        if name not in SCOPES:
            raise ConfigError(f"unknown memory scope '{name}'; use one of: {', '.join(SCOPES)}")
        return cls(path, scope=name, run_id=run_id, **kwargs)

    def __repr__(self) -> str:
        return f"MemoryBank({str(self.path)!r}, scope={self.scope!r}, policy={self.policy.name!r})"

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> MemoryBank:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- namespaces
    def namespace(self) -> str:
        """The namespace writes go to now: ``project`` or ``run:<id>``."""
        if self.scope == "project":
            return "project"
        if self.scope == "run":
            run_id = self.run_id
            if run_id is None:
                ctx = tracing.current()
                run_id = ctx.run_id if ctx is not None and ctx.run_id else None
            if not run_id:
                raise ConfigError("a run-scoped memory bank was used outside a run; pass run_id= or use scope 'project'")
            return f"run:{run_id}"
        raise ConfigError(f"{self.path}: this bank view spans every scope; open scope 'run' or 'project' to use it")

    def scope_label(self) -> str:
        """``project``, ``run:<id>``, ``run:*`` (every run) or ``*`` (the whole file)."""
        where, params = self._where()
        if params:
            return str(params[0])
        return "run:*" if self.scope == "run" else "*"

    def _where(self, alias: str = "") -> tuple[str, list[Any]]:
        """SQL filter for the entries this bank sees (a view may span several namespaces)."""
        col = f"{alias}ns" if alias else "ns"
        if self.scope == "all":
            return "1=1", []
        if self.scope == "run" and self.run_id is None:
            ctx = tracing.current()
            if ctx is None or not ctx.run_id:
                return f"{col} LIKE 'run:%'", []
        return f"{col} = ?", [self.namespace()]

    # ----------------------------------------------------------------- low-level access
    def _guard(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError):
                raise
            raise StoreError(f"{self.path}: memory database error ({exc}); the file may be corrupt") from None

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one ``BEGIN IMMEDIATE`` transaction: the write lock is taken up front,
        so check-then-insert is atomic across threads and processes and never deadlocks."""
        delay = 0.01
        for attempt in range(12):
            with self._lock:
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise StoreError(f"{self.path}: cannot write to the memory database ({exc})") from None
                    if attempt == 11:
                        raise StoreError(f"{self.path}: memory database stayed locked; another process holds it") from None
                else:
                    try:
                        out = self._guard(lambda: fn(self._conn))
                        self._conn.execute("COMMIT")
                        return out
                    except BaseException:
                        if self._conn.in_transaction:
                            self._conn.execute("ROLLBACK")
                        raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        raise StoreError(f"{self.path}: memory database stayed locked")  # pragma: no cover

    def _read(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._guard(lambda: self._conn.execute(sql, params).fetchall())

    # ----------------------------------------------------------------- lookups
    def get(self, entry_id: str) -> MemoryEntry | None:
        """The entry with this id in the bank's scope (expired entries included), or None."""
        where, params = self._where("e.")
        rows = self._read(f"SELECT {_SELECT} FROM entries e WHERE e.id = ? AND {where}", [entry_id, *params])
        return _entry(rows[0]) if rows else None

    def lookup(self, fp: str, *, now: float | None = None) -> MemoryEntry | None:
        """The live entry stored for a tool-call fingerprint, or None."""
        now = time.time() if now is None else now
        where, params = self._where("e.")
        rows = self._read(
            f"SELECT {_SELECT} FROM entries e WHERE e.fingerprint = ? AND {where} "
            "AND (e.expires IS NULL OR e.expires > ?) ORDER BY e.rid LIMIT 1",
            [fp, *params, now],
        )
        return _entry(rows[0]) if rows else None

    def entries(self, *, kind: str | None = None, limit: int | None = None) -> Iterator[MemoryEntry]:
        """Every entry in scope, oldest first."""
        where, params = self._where("e.")
        if kind is not None:
            where += " AND e.kind = ?"
            params.append(kind)
        sql = f"SELECT {_SELECT} FROM entries e WHERE {where} ORDER BY e.rid"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        for row in self._read(sql, params):
            yield _entry(row)

    def __len__(self) -> int:
        where, params = self._where()
        return int(self._read(f"SELECT count(*) FROM entries WHERE {where}", params)[0][0])

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

    def _fts_search(self, query: str, k: int, kind: str | None, modes: tuple[str, ...] = ("and", "or")) -> list[MemoryEntry]:
        """BM25 search in stages that stay cheap on big banks: rank the most recent matches
        (all terms, then any term), fetch only the best few rows; widen to every capped match,
        then to every match, only when the scope filter leaves fewer than ``k``."""
        where, params = self._where("e.")
        where += " AND (e.expires IS NULL OR e.expires > ?)"
        params.append(time.time())
        if kind is not None:
            where += " AND e.kind = ?"
            params.append(kind)
        found: dict[str, MemoryEntry] = {}
        try:
            with self._lock:
                for mode in modes:
                    expression = fts_query(query, mode=mode)
                    if not expression:
                        return []
                    want = k + len(found)
                    cap = _SEARCH_CAP if mode == "and" else _SEARCH_CAP_ANY
                    top = max(4 * want, 32)
                    ranked = self._ranked(expression, cap, top)
                    rows = self._fetch_ranked(ranked, where, params)
                    if len(rows) < want and len(ranked) == top:  # the filter dropped some: rank every capped match
                        ranked = self._ranked(expression, cap, None)
                        rows = self._fetch_ranked(ranked, where, params)
                        if len(rows) < want and len(ranked) >= cap:  # still short and matches go beyond the cap
                            rows = self._fetch_ranked(self._ranked(expression, None, None), where, params)
                    for row, score in rows[:want]:
                        entry = _entry(row, score=round(-score, 6))
                        found.setdefault(entry.id, entry)
                    if len(found) >= k:
                        break
        except sqlite3.DatabaseError as exc:
            log.debug("memory search failed for %r: %s", query, exc)
        return list(found.values())[:k]

    def _ranked(self, expression: str, cap: int | None, top: int | None) -> list[tuple[int, float]]:
        """(rowid, bm25) of the matches, best first: among the ``cap`` most recent, at most ``top``."""
        inner = "SELECT rowid, rank AS r FROM entries_fts WHERE entries_fts MATCH ?"
        params: list[Any] = [expression]
        if cap is not None:
            inner += " ORDER BY rowid DESC LIMIT ?"
            params.append(cap)
        sql = f"SELECT rowid, r FROM ({inner}) ORDER BY r, rowid"
        if top is not None:
            sql += " LIMIT ?"
            params.append(top)
        return [(int(r[0]), float(r[1])) for r in self._conn.execute(sql, params)]

    def _fetch_ranked(self, ranked: list[tuple[int, float]], where: str, params: list[Any]) -> list[tuple[tuple[Any, ...], float]]:
        """The entry rows for ranked rowids that pass the scope filter, in rank order."""
        if not ranked:
            return []
        score = dict(ranked)
        out: list[tuple[tuple[Any, ...], float]] = []
        for i in range(0, len(ranked), 900):
            chunk = [rid for rid, _ in ranked[i : i + 900]]
            marks = ",".join("?" * len(chunk))
            for row in self._conn.execute(f"SELECT {_SELECT} FROM entries e NOT INDEXED WHERE e.rid IN ({marks}) AND {where}", [*chunk, *params]):
                out.append((row, score[int(row[0])]))
        out.sort(key=lambda item: (item[1], item[0][0]))
        return out

    def _vector_search(self, query: str, k: int, kind: str | None) -> list[MemoryEntry]:
        index = self._vector_index()
        if index is None or self.embedder is None:
            return []
        try:
            vector = self.embedder.embed([query])[0]
        except Exception as exc:  # an embedder failure degrades to keyword search
            log.warning("memory embedder failed: %s", exc)
            return []
        where, params = self._where("e.")
        where += " AND (e.expires IS NULL OR e.expires > ?)"
        params.append(time.time())
        if kind is not None:
            where += " AND e.kind = ?"
            params.append(kind)
        with self._lock:
            allowed = {int(r[0]) for r in self._conn.execute(f"SELECT e.rid FROM entries e WHERE {where}", params)}
            pairs = self._guard(lambda: index.nearest(vector, k, allowed))
            if not pairs:
                return []
            marks = ",".join("?" * len(pairs))
            rows = self._conn.execute(f"SELECT {_SELECT} FROM entries e WHERE e.rid IN ({marks})", [p[0] for p in pairs]).fetchall()
        by_rid = {int(r[0]): r for r in rows}
        return [_entry(by_rid[rid], score=round(sim, 6)) for rid, sim in pairs if rid in by_rid]

    def _vector_index(self, dim: int | None = None) -> VectorIndex | None:
        """The vector store, created on first use (its dimension is remembered in the file)."""
        if self._vectors is not None:
            return self._vectors
        with self._vec_lock, self._lock:
            if self._vectors is not None:
                return self._vectors
            row = self._conn.execute("SELECT value FROM loom_meta WHERE key = 'vec_dim'").fetchone()
            known = int(row[0]) if row else None
            if known is None and dim is None:
                return None
            if known is not None and dim is not None and known != dim:
                raise ConfigError(f"{self.path}: stores {known}-dimensional vectors; the embedder returned {dim}")
            from agentloom.memory._vectors import VectorIndex

            self._vectors = VectorIndex(self._conn, known or dim or 0)
            if known is None:
                self._conn.execute("INSERT OR REPLACE INTO loom_meta VALUES ('vec_dim', ?)", (str(dim),))
            return self._vectors

    # ----------------------------------------------------------------- the run's task
    def _task(self) -> str:
        """What admission judges relevance against: ``use_task``, else ``task=``, else the
        current run's input from the run store."""
        task = current_task() or self.task
        if task:
            return task
        ctx = tracing.current()
        if ctx is None or ctx.store is None or not ctx.run_id:
            return ""
        cached = self._run_tasks.get(ctx.run_id)
        if cached is None:
            try:
                value = ctx.store.get_run(ctx.run_id).input
            except Exception:
                value = None
            if isinstance(value, dict):
                value = value.get("question") or value.get("task") or value.get("input") or json.dumps(value)
            cached = value if isinstance(value, str) else ("" if value is None else json.dumps(value, default=str))
            self._run_tasks[ctx.run_id] = cached
        return cached

    # ----------------------------------------------------------------- admission
    def offer(self, candidate: Candidate) -> Decision:
        """Offer one step for admission: compute its features, ask the policy, log the decision
        (always), store the entry (if admitted and within quota). Dedup is atomic."""
        ns = self.namespace()
        if not candidate.task:
            candidate.task = self._task()
        chash = content_hash(candidate.kind, candidate.value, candidate.fingerprint)
        now = time.time()
        cand_terms = term_set(candidate.key + " " + candidate.value[:_SIMILARITY_CHARS])
        exact = bool(self._read(
            "SELECT 1 FROM entries WHERE ns = ? AND content_hash = ? AND (expires IS NULL OR expires > ?) LIMIT 1",
            [ns, chash, now],
        ))
        neighbours = [] if exact else self._neighbour_terms(candidate)
        features = compute_features(candidate, exact=exact, neighbours=neighbours, candidate_terms=cand_terms)
        t0 = time.perf_counter()
        decision = self.policy.decide(features)
        decision.elapsed_s = time.perf_counter() - t0
        vector = self._embed(candidate) if decision.admit and self.embedder is not None else None
        index = self._vector_index(len(vector)) if vector is not None else None

        def txn(conn: sqlite3.Connection) -> tuple[str | None, bool, str]:
            admit, reason, entry_id = decision.admit, decision.reason, None
            step = conn.execute(
                "SELECT count(*) FROM decisions WHERE ns = ? AND run IS ? AND team IS ?", (ns, candidate.run, candidate.team)
            ).fetchone()[0] + 1
            tokens = count_tokens(candidate.value)
            if admit and candidate.run is not None and (self.quota_entries is not None or self.quota_tokens is not None):
                n, used = conn.execute(
                    "SELECT count(*), coalesce(sum(tokens), 0) FROM entries WHERE ns = ? AND run = ?", (ns, candidate.run)
                ).fetchone()
                if self.quota_entries is not None and n >= self.quota_entries:
                    admit, reason = False, f"quota: run {candidate.run} already stores {n} entries (limit {self.quota_entries})"
                elif self.quota_tokens is not None and used + tokens > self.quota_tokens:
                    admit, reason = False, f"quota: run {candidate.run} would store {used + tokens} tokens (limit {self.quota_tokens})"
            if admit:
                conn.execute(
                    "DELETE FROM entries WHERE ns = ? AND content_hash = ? AND expires IS NOT NULL AND expires <= ?",
                    (ns, chash, now),
                )
                new_id = _entry_id(ns, chash)
                cur = conn.execute(
                    "INSERT INTO entries (id, ns, key, value, value_format, kind, fingerprint, content_hash, team, run, "
                    "step, citations, cost_tokens, cost_usd, cost_seconds, tokens, created, uses, shown, last_used, "
                    "verified, expires) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,0,NULL,0,?) ON CONFLICT DO NOTHING",
                    (new_id, ns, candidate.key, candidate.value, candidate.value_format, candidate.kind,
                     candidate.fingerprint, chash, candidate.team, candidate.run, step, json.dumps(candidate.citations),
                     int(candidate.cost_tokens), float(candidate.cost_usd), float(candidate.cost_seconds), tokens, now,
                     now + self.ttl if self.ttl is not None else None),
                )
                if cur.rowcount == 1:
                    entry_id = new_id
                    if index is not None and vector is not None:
                        index.add(int(cur.lastrowid or 0), vector)
                    self._store_passages(conn, ns, candidate)
                else:
                    admit, reason = False, "duplicate (stored concurrently)"
            conn.execute(
                "INSERT INTO decisions (ns, run, team, step, kind, source, fingerprint, content_hash, key_tokens, "
                "value_tokens, cost_seconds, cost_tokens, cost_usd, policy, fallback, score, admitted, reason, entry_id, "
                "features, elapsed_us, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (ns, candidate.run, candidate.team, step, candidate.kind, candidate.source, candidate.fingerprint, chash,
                 count_tokens(candidate.key), tokens, float(candidate.cost_seconds), int(candidate.cost_tokens),
                 float(candidate.cost_usd), decision.policy, int(decision.fallback), float(decision.score), int(admit),
                 reason, entry_id, json.dumps(decision.features), round(decision.elapsed_s * 1e6, 2), now),
            )
            return entry_id, admit, reason

        entry_id, admitted, reason = self._write(txn)
        decision.admit, decision.reason, decision.entry_id = admitted, reason, entry_id
        return decision

    def _neighbour_terms(self, candidate: Candidate) -> list[frozenset[str]]:
        """Term sets of the stored entries most similar to the candidate: FTS over the words of
        its key (without the tool's name, which every result of that tool shares) and the start
        of its value, ranked among the most recent matches."""
        text = candidate.key
        if candidate.kind == "tool_result" and "(" in text:
            text = text.split("(", 1)[1]
        expression = fts_query(text + " " + candidate.value[:200], mode="or", limit=5)
        if not expression:
            return []
        where, params = self._where("e.")
        sql = (
            "SELECT e.key, e.value FROM (SELECT rowid, rank AS r FROM entries_fts WHERE entries_fts MATCH ? "
            f"ORDER BY rowid DESC LIMIT {_NEIGHBOUR_CAP}) f CROSS JOIN entries e ON e.rid = f.rowid WHERE {where} "
            "ORDER BY f.r LIMIT 5"
        )
        try:
            rows = self._read(sql, [expression, *params])
        except sqlite3.DatabaseError:
            return []
        return [term_set(key + " " + value[:_SIMILARITY_CHARS]) for key, value in rows]

    def _embed(self, candidate: Candidate) -> list[float] | None:
        assert self.embedder is not None
        try:
            return [float(x) for x in self.embedder.embed([candidate.key + "\n" + candidate.value[:2000]])[0]]
        except Exception as exc:  # an embedder failure never loses the entry
            log.warning("memory embedder failed; storing without a vector: %s", exc)
            return None

    @staticmethod
    def _store_passages(conn: sqlite3.Connection, ns: str, candidate: Candidate) -> None:
        if candidate.value_format != "json":
            return
        from agentloom.citations import collect_passages

        try:
            data = json.loads(candidate.value)
        except ValueError:
            return
        for pid, citation in collect_passages(data).items():
            conn.execute("INSERT OR REPLACE INTO passages (ns, id, data) VALUES (?, ?, ?)",
                         (ns, pid, json.dumps(citation.to_dict(), ensure_ascii=False)))

    def passages(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Source passages (as tool results returned them) for citation ids, where known."""
        if not ids:
            return {}
        ns = self.namespace() if self.scope != "all" else None
        marks = ",".join("?" * len(ids))
        sql = f"SELECT id, data FROM passages WHERE id IN ({marks})" + (" AND ns = ?" if ns else "")
        rows = self._read(sql, [*ids, ns] if ns else ids)
        return {r[0]: {k: v for k, v in json.loads(r[1]).items() if v is not None} for r in rows}

    def add(
        self,
        key: str,
        value: Any,
        *,
        kind: str = "finding",
        fingerprint: str | None = None,
        team: str | None = None,
        run: str | None = None,
        citations: list[str] | None = None,
        cost: dict[str, float] | None = None,
        verified: bool = False,
    ) -> MemoryEntry:
        """Store an entry directly (no admission policy). Identical content in this scope is
        stored once: adding it again returns the existing entry."""
        if kind not in KINDS:
            raise ConfigError(f"memory entry kind must be one of {', '.join(KINDS)}, got '{kind}'")
        text, fmt = value_text(value)
        ctx = tracing.current()
        team = team if team is not None else (ctx.team if ctx is not None else self.team)
        run = run if run is not None else (ctx.run_id if ctx is not None and ctx.run_id else None)
        ns = self.namespace()
        chash = content_hash(kind, text, fingerprint)
        new_id = _entry_id(ns, chash)
        cost = cost or {}
        now = time.time()

        def txn(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM entries WHERE ns = ? AND content_hash = ? AND expires IS NOT NULL AND expires <= ?",
                         (ns, chash, now))
            conn.execute(
                "INSERT INTO entries (id, ns, key, value, value_format, kind, fingerprint, content_hash, team, run, "
                "citations, cost_tokens, cost_usd, cost_seconds, tokens, created, uses, shown, verified, expires) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,0,?,?) ON CONFLICT DO NOTHING",
                (new_id, ns, key, text, fmt, kind, fingerprint, chash, team, run, json.dumps(citations or []),
                 int(cost.get("tokens", 0)), float(cost.get("usd", 0.0)), float(cost.get("seconds", 0.0)),
                 count_tokens(text), now, int(verified), now + self.ttl if self.ttl is not None else None),
            )

        self._write(txn)
        rows = self._read(f"SELECT {_SELECT} FROM entries e WHERE e.ns = ? AND e.content_hash = ?", [ns, chash])
        return _entry(rows[0])

    def import_entries(self, entries: Iterable[MemoryEntry | dict[str, Any]], *, batch: int = 50_000) -> int:
        """Bulk-load entries (``MemoryEntry`` objects or records as ``export`` writes them) into
        this bank's scope, skipping content already stored; returns how many were added. Each
        batch is one transaction that indexes its rows for search in a single pass."""
        from agentloom.memory._schema import INSERT_TRIGGER

        ns = self.namespace()
        now = time.time()
        sql = (
            "INSERT INTO entries (id, ns, key, value, value_format, kind, fingerprint, content_hash, team, run, step, "
            "citations, cost_tokens, cost_usd, cost_seconds, tokens, created, uses, shown, last_used, verified, expires) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,?,?,?) ON CONFLICT DO NOTHING"
        )

        def row(item: MemoryEntry | dict[str, Any]) -> tuple[Any, ...]:
            d = item.to_dict() if isinstance(item, MemoryEntry) else item
            get = d.get
            kind = get("kind") or "finding"
            if kind not in KINDS:
                raise ConfigError(f"cannot import an entry of kind '{kind}'; kinds are {', '.join(KINDS)}")
            value = d["value"]
            if not isinstance(value, str):
                value = json.dumps(value, default=str)
            fp = get("fingerprint")
            chash = content_hash(kind, value, fp)
            citations = get("citations")
            return (
                _entry_id(ns, chash), ns, str(d["key"]), value, get("value_format") or "text", kind, fp,
                chash, get("team"), get("run"), get("step"), json.dumps(list(citations)) if citations else "[]",
                int(get("cost_tokens") or 0), float(get("cost_usd") or 0.0), float(get("cost_seconds") or 0.0),
                int(get("tokens") or (len(value) + 3) // 4), float(get("created") or now), int(get("uses") or 0),
                get("last_used"), 1 if get("verified") else 0, get("expires"),
            )

        def load(rows: list[tuple[Any, ...]]) -> int:
            def txn(conn: sqlite3.Connection) -> int:
                start = conn.execute("SELECT coalesce(max(rid), 0) FROM entries").fetchone()[0]
                conn.execute("DROP TRIGGER IF EXISTS entries_ai")
                conn.executemany(sql, rows)
                conn.execute("INSERT INTO entries_fts(rowid, key, value) SELECT rid, key, value FROM entries WHERE rid > ?", (start,))
                conn.execute(INSERT_TRIGGER)
                return int(conn.execute("SELECT count(*) FROM entries WHERE rid > ?", (start,)).fetchone()[0])

            return self._write(txn)

        added, pending = 0, []
        for item in entries:
            pending.append(row(item))
            if len(pending) >= batch:
                added += load(pending)
                pending = []
        if pending:
            added += load(pending)
        return added

    def mark_verified(self, entry_id: str, verified: bool = True) -> bool:
        """Set an entry's verified flag (e.g. after a verifier accepted it); False if unknown."""
        return bool(self._write(lambda c: c.execute("UPDATE entries SET verified = ? WHERE id = ?", (int(verified), entry_id)).rowcount))

    # ----------------------------------------------------------------- reads
    def read(self, entry_id: str, *, team: str | None = None, via: str = "memory_read") -> MemoryEntry:
        """Read an entry's value on behalf of ``team`` (default: the current team), logging it."""
        entry = self.get(entry_id)
        if entry is None or (entry.expires is not None and entry.expires <= time.time()):
            raise LookupError(f"no memory entry '{entry_id}' in {self.path} (it may have expired or been evicted)")
        ctx = tracing.current()
        team = team if team is not None else (ctx.team if ctx is not None else self.team)
        self._log_read(entry, team, ctx.run_id if ctx is not None else None, via)
        entry.uses += 1
        return entry

    def _log_read(self, entry: MemoryEntry, team: str | None, run: str | None, via: str, *,
                  saved_seconds: float | None = None) -> None:
        now = time.time()
        seconds = entry.cost_seconds if saved_seconds is None else saved_seconds

        def txn(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE entries SET uses = uses + 1, last_used = ? WHERE id = ?", (now, entry.id))
            conn.execute(
                "INSERT INTO reads (ns, entry_id, fingerprint, team, run, via, saved_seconds, saved_tokens, saved_usd, created) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                (entry.scope, entry.id, entry.fingerprint, team, run, via, seconds, entry.cost_tokens, entry.cost_usd, now),
            )

        self._write(txn)

    def note_shown(self, entry_ids: list[str]) -> None:
        """Count that these keys were put in a prompt (their context cost, for training)."""
        if not entry_ids:
            return
        marks = ",".join("?" * len(entry_ids))
        self._write(lambda c: c.execute(f"UPDATE entries SET shown = shown + 1 WHERE id IN ({marks})", entry_ids))

    # ----------------------------------------------------------------- the ToolCache protocol
    async def call(self, tool: Tool, args: dict[str, Any], execute: Callable[[], Awaitable[ToolResult]]) -> ToolResult:
        """Serve a tool call from the bank, join the identical call in flight, or run it and
        offer the result for admission. Errors are shared with waiters but never stored."""
        fp = tool.cache_key(args)
        ctx = tracing.current()
        team = ctx.team if ctx is not None and ctx.team is not None else self.team
        run = ctx.run_id if ctx is not None and ctx.run_id else None
        ns = self.namespace()
        while True:
            entry = self.lookup(fp)
            if entry is not None:
                return self._serve_hit(entry, tool, args, team, run)
            flight, leader = _inflight.claim((self._file_key, ns, fp), team)
            if not leader:
                waited_from = time.time()
                outcome = await _inflight.wait(flight)
                if outcome is None:
                    continue  # the leader gave up (cancelled, out of budget): try again
                return self._serve_coalesced(outcome, tool, args, team, run, waited_from, flight.team)
            entry = self.lookup(fp)  # stored between our lookup and our claim
            if entry is not None:
                _inflight.finish(flight, None)
                return self._serve_hit(entry, tool, args, team, run)
            return await self._lead(flight, tool, args, fp, execute, team, run)

    async def _lead(self, flight: _inflight.Flight, tool: Tool, args: dict[str, Any], fp: str,
                    execute: Callable[[], Awaitable[ToolResult]], team: str | None, run: str | None) -> ToolResult:
        try:
            result = await execute()
        except BaseException:
            _inflight.finish(flight, None)
            raise
        gave_up = not result.ok and result.error_type in ("BudgetExceeded", "Cancelled")
        # waiters get the result now; the flight stays joinable until the entry is stored
        _inflight.publish(flight, None if gave_up else _Shared(copy.deepcopy(result)))
        entry_id: str | None = None
        try:
            # off the event loop: other teams' calls proceed while SQLite writes (it drops the GIL)
            entry_id = await asyncio.to_thread(self._admit_tool_result, tool, args, fp, result, team, run)
        except Exception as exc:  # a storage problem must not lose the tool's result
            log.warning("memory bank %s: could not offer %s result: %s", self.path, tool.name, exc)
            tracing.emit("memory_error", tool.name, status="error", error=str(exc))
        finally:
            _inflight.finish(flight)
        result.memory_id = entry_id
        return result

    def _admit_tool_result(self, tool: Tool, args: dict[str, Any], fp: str, result: ToolResult,
                           team: str | None, run: str | None) -> str | None:
        if not result.ok:
            self._log_error(tool, fp, result, team, run)
            return None
        text, fmt = value_text(result.value)
        from agentloom.citations import collect_passages

        candidate = Candidate(
            kind="tool_result", key=tool_key(tool.name, args, result.value), value=text, task=self._task(),
            team=team, run=run, fingerprint=fp, citations=list(collect_passages(result.value)),
            cost_seconds=round(max(result.duration, 0.0), 6), value_format=fmt, source="tool",
        )
        return self.offer(candidate).entry_id

    def _log_error(self, tool: Tool, fp: str, result: ToolResult, team: str | None, run: str | None) -> None:
        """Failed calls are never stored, but they count as misses (decision 'error')."""
        ns, now = self.namespace(), time.time()
        self._write(lambda c: c.execute(
            "INSERT INTO decisions (ns, run, team, kind, source, fingerprint, policy, fallback, score, admitted, "
            "reason, features, cost_seconds, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (ns, run, team, "tool_result", "tool", fp, self.policy.name, 0, 0.0, 0,
             f"error: {result.error_type}: {shorten(result.error or '', 160)}", "{}", result.duration, now),
        ))

    def _serve_hit(self, entry: MemoryEntry, tool: Tool, args: dict[str, Any], team: str | None, run: str | None) -> ToolResult:
        now = time.time()
        self._log_read(entry, team, run, "hit")
        tracing.emit(
            "memory_hit", tool.name,
            data={"via": "hit", "entry_id": entry.id, "fingerprint": entry.fingerprint, "from_team": entry.team,
                  "saved_seconds": entry.cost_seconds, "saved_tokens": entry.cost_tokens, "saved_usd": entry.cost_usd},
        )
        return ToolResult("", tool.name, dict(args), ok=True, value=entry.data(), started=now, ended=time.time(),
                          attempts=0, cached=True, memory_id=entry.id)

    def _serve_coalesced(self, shared: _Shared, tool: Tool, args: dict[str, Any], team: str | None, run: str | None,
                         waited_from: float, leader_team: str | None) -> ToolResult:
        src = shared.result
        saved = max(src.duration, 0.0)
        if src.ok:
            now = time.time()
            ns = self.namespace()
            self._write(lambda c: c.execute(
                "INSERT INTO reads (ns, entry_id, fingerprint, team, run, via, saved_seconds, saved_tokens, saved_usd, created) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                (ns, None, tool.cache_key(args), team, run, "coalesced", saved, 0, 0.0, now),
            ))
            tracing.emit(
                "memory_hit", tool.name, start=waited_from,
                data={"via": "coalesced", "from_team": leader_team,
                      "saved_seconds": round(saved, 6), "saved_tokens": 0, "saved_usd": 0.0},
            )
        return ToolResult("", tool.name, dict(args), ok=src.ok, value=copy.deepcopy(src.value), error=src.error,
                          error_type=src.error_type, started=waited_from, ended=time.time(), attempts=0,
                          coalesced=True, memory_id=None)

    # ----------------------------------------------------------------- models
    def load_model(self, version: int | None = None) -> AdmissionModel | None:
        """The newest trained admission model (or ``version``), or None."""
        sql = "SELECT * FROM models " + ("WHERE version = ?" if version is not None else "ORDER BY version DESC LIMIT 1")
        with self._lock:
            cur = self._conn.execute(sql, [version] if version is not None else [])
            row = cur.fetchone()
            names = [d[0] for d in cur.description] if cur.description else []
        return AdmissionModel.from_row(dict(zip(names, row, strict=True))) if row else None

    def save_model(self, model: AdmissionModel) -> int:
        """Store a trained model as the next version; returns the version."""
        row = model.to_row()
        cols = ", ".join(row)
        marks = ", ".join("?" * len(row))
        version = self._write(lambda c: int(c.execute(f"INSERT INTO models ({cols}) VALUES ({marks})", list(row.values())).lastrowid or 0))
        model.version = version
        return version

    def train(self, **kwargs: Any) -> Any:
        """Fit a ``LearnedAdmission`` model from this bank's logs and store it (see ``training.train``)."""
        from agentloom.memory.training import train

        return train(self, **kwargs)

    # ----------------------------------------------------------------- hygiene
    def evict(self, *, expired: bool = True, unused_for: float | None = None) -> int:
        """Delete expired entries and, with ``unused_for`` seconds, entries never read that old."""
        where, params = self._where()
        now = time.time()
        clauses = []
        if expired:
            clauses.append("(expires IS NOT NULL AND expires <= ?)")
            params = [*params, now]
        if unused_for is not None:
            clauses.append("(uses = 0 AND created <= ?)")
            params = [*params, now - unused_for]
        if not clauses:
            return 0
        sql = f"DELETE FROM entries WHERE {where} AND ({' OR '.join(clauses)})"
        removed = int(self._write(lambda c: c.execute(sql, params).rowcount))
        if removed and self._vector_index() is not None:
            with self._lock:
                assert self._vectors is not None
                self._vectors.delete_missing()
        return removed

    def clear(self, *, logs: bool = False) -> int:
        """Delete every entry in scope (and, with ``logs``, its decisions, reads and, for a
        whole-file view, the trained models). Returns how many entries were deleted."""
        where, params = self._where()

        def txn(conn: sqlite3.Connection) -> int:
            n = int(conn.execute(f"DELETE FROM entries WHERE {where}", params).rowcount)
            conn.execute(f"DELETE FROM passages WHERE {where}", params)
            if logs:
                conn.execute(f"DELETE FROM decisions WHERE {where}", params)
                conn.execute(f"DELETE FROM reads WHERE {where}", params)
                if self.scope == "all":
                    conn.execute("DELETE FROM models")
            return n

        removed = self._write(txn)
        if self._vector_index() is not None:
            with self._lock:
                assert self._vectors is not None
                self._vectors.delete_missing()
        return removed

    def stats(self) -> dict[str, Any]:
        """Entries, hit rate and saved cost for this bank's scope."""
        where, params = self._where()
        now = time.time()
        entries, tokens, expired, verified = self._read(
            f"SELECT count(*), coalesce(sum(tokens), 0), coalesce(sum(expires IS NOT NULL AND expires <= ?), 0), "
            f"coalesce(sum(verified), 0) FROM entries WHERE {where}", [now, *params])[0]
        by_kind = dict(self._read(f"SELECT kind, count(*) FROM entries WHERE {where} GROUP BY kind", params))
        reads = {r[0]: r[1:] for r in self._read(
            f"SELECT via, count(*), coalesce(sum(saved_seconds), 0), coalesce(sum(saved_tokens), 0), "
            f"coalesce(sum(saved_usd), 0) FROM reads WHERE {where} GROUP BY via", params)}
        executed = self._read(f"SELECT count(*) FROM decisions WHERE {where} AND source = 'tool'", params)[0][0]
        decided, admitted = self._read(
            f"SELECT count(*), coalesce(sum(admitted), 0) FROM decisions WHERE {where} AND reason NOT LIKE 'error:%'", params)[0]
        hits = reads.get("hit", (0, 0, 0, 0))[0]
        coalesced = reads.get("coalesced", (0, 0, 0, 0))[0]
        served = hits + coalesced
        saved = [sum(float(v[i]) for via, v in reads.items() if via in ("hit", "coalesced")) for i in (1, 2, 3)]
        model = self.load_model()
        return {
            "path": str(self.path),
            "scope": self.scope_label(),
            "entries": int(entries),
            "by_kind": {k: int(v) for k, v in sorted(by_kind.items())},
            "tokens_stored": int(tokens),
            "expired": int(expired),
            "verified": int(verified),
            "tool_calls_executed": int(executed),
            "hits": int(hits),
            "coalesced": int(coalesced),
            "memory_reads": int(reads.get("memory_read", (0,))[0]),
            "hit_rate": round(served / (served + executed), 4) if served + executed else 0.0,
            "saved_seconds": round(saved[0], 3),
            "saved_tokens": int(saved[1]),
            "saved_usd": round(saved[2], 6),
            "decisions": int(decided),
            "admitted": int(admitted),
            "admit_rate": round(admitted / decided, 4) if decided else 0.0,
            "model_version": model.version if model is not None else None,
        }

    def audit(self, **kwargs: Any) -> dict[str, Any]:
        """Duplicate, near-duplicate and stale rates (see ``audit.audit``)."""
        from agentloom.memory.audit import audit

        return audit(self, **kwargs)

    def export(self, out: IO[str], *, table: str = "entries") -> int:
        """Write ``entries`` (or ``decisions``, ``reads``, ``models``) as JSON lines; returns the count."""
        if table == "entries":
            n = 0
            for entry in self.entries():
                out.write(json.dumps(entry.to_dict(), ensure_ascii=False) + "\n")
                n += 1
            return n
        if table not in ("decisions", "reads", "models"):
            raise ConfigError(f"cannot export '{table}'; choose entries, decisions, reads or models")
        where, params = self._where() if table != "models" else ("1=1", [])
        with self._lock:
            cur = self._conn.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY 1", params)
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        for row in rows:
            record = dict(zip(names, row, strict=True))
            for field_name in ("features", "weights", "metrics"):
                if isinstance(record.get(field_name), str):
                    record[field_name] = json.loads(record[field_name])
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return len(rows)

    @contextmanager
    def using_task(self, task: str) -> Iterator[MemoryBank]:
        """Judge relevance against ``task`` inside the body (sugar for ``use_task``)."""
        from agentloom.memory.context import use_task

        with use_task(task):
            yield self

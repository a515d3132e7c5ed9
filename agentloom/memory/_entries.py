"""``EntryStore``: entries in and out of the bank: lookups, direct and bulk inserts
(dedup-then-insert), reads logged per team, prompt exposure counts, and the source passages
seen in stored values."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Iterator
from typing import Any

from agentloom import tracing
from agentloom.errors import ConfigError
from agentloom.memory._database import BankDatabase
from agentloom.memory._rows import SELECT, entry_id, insert, to_entry
from agentloom.memory._text import content_hash, value_text
from agentloom.memory.types import KINDS, AdmissionCandidate, MemoryEntry
from agentloom.storage import Connection
from agentloom.tokens import count_tokens

__all__ = ["EntryStore", "store_entry", "log_read"]


def store_entry(conn: Connection, ns: str, chash: str, fields: dict[str, Any], *,
                now: float, ttl: float | None) -> int | None:
    """Dedup-then-insert one entry with content hash ``chash`` in ``ns``: an expired copy is
    replaced, a live one is kept. Returns the new row id, or None if the content was stored."""
    conn.execute("DELETE FROM entries WHERE ns = ? AND content_hash = ? AND expires IS NOT NULL AND expires <= ?",
                 (ns, chash, now))
    row = {"id": entry_id(ns, chash), "ns": ns, "content_hash": chash, **fields,
           "created": now, "uses": 0, "shown": 0, "expires": now + ttl if ttl is not None else None}
    cur = insert(conn, "entries", row, on_conflict="DO NOTHING")
    if cur.rowcount != 1:
        return None
    rid = getattr(cur, "lastrowid", None)  # sqlite3 has it; psycopg does not
    if not rid:
        rid = conn.execute("SELECT rid FROM entries WHERE id = ?", (row["id"],)).fetchone()[0]
    return int(rid)


#: One row of the ``reads`` log (``read_row`` builds its parameters).
READ_SQL = ("INSERT INTO reads (ns, entry_id, fingerprint, team, run, via, saved_seconds, saved_tokens, saved_usd, created) "
            "VALUES (?,?,?,?,?,?,?,?,?,?)")
#: Keep the newest copy of a cited passage (the same statement on SQLite and Postgres).
_PASSAGE_UPSERT = ("INSERT INTO passages (ns, id, data) VALUES (?, ?, ?) "
                   "ON CONFLICT (ns, id) DO UPDATE SET data = excluded.data")
_USE_SQL = "UPDATE entries SET uses = uses + 1, last_used = ? WHERE id = ?"
_SHOWN_SQL = "UPDATE entries SET shown = shown + 1 WHERE id = ?"


def read_row(*, ns: str, entry_id: str | None, fingerprint: str | None, team: str | None, run: str | None, via: str,
             saved_seconds: float, saved_tokens: int, saved_usd: float, now: float) -> tuple[Any, ...]:
    """The ``READ_SQL`` parameters of one read (``hit``, ``coalesced``, ``memory_read``) and what it saved."""
    return (ns, entry_id, fingerprint, team, run, via, saved_seconds, saved_tokens, saved_usd, now)


def log_read(conn: Connection, **fields: Any) -> None:
    """Log one read in ``conn``'s transaction (``fields`` as ``read_row`` takes them)."""
    conn.execute(READ_SQL, read_row(**fields))


_IMPORT_SQL = (
    "INSERT INTO entries (id, ns, key, value, value_format, kind, fingerprint, content_hash, team, run, step, "
    "citations, cost_tokens, cost_usd, cost_seconds, tokens, created, uses, shown, last_used, verified, expires) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,?,?,?) ON CONFLICT DO NOTHING"
)


class EntryStore:
    """The entries of one bank scope. ``ttl`` (seconds) makes new entries expire; ``team`` is
    the reader named in logs when no run context says otherwise."""

    def __init__(self, db: BankDatabase, *, ttl: float | None = None, team: str | None = None) -> None:
        self.db = db
        self.ttl = ttl
        self.team = team

    # ----------------------------------------------------------------- lookups
    def get(self, entry_id: str) -> MemoryEntry | None:
        """The entry with this id in the bank's scope (expired entries included), or None."""
        where, params = self.db.where("e.")
        rows = self.db.read(f"SELECT {SELECT} FROM entries e WHERE e.id = ? AND {where}", [entry_id, *params],
                            after_writes=False)
        return to_entry(rows[0]) if rows else None

    def lookup(self, fp: str, *, now: float | None = None) -> MemoryEntry | None:
        """The live entry stored for a tool-call fingerprint, or None."""
        now = time.time() if now is None else now
        where, params = self.db.where("e.")
        rows = self.db.read(
            f"SELECT {SELECT} FROM entries e WHERE e.fingerprint = ? AND {where} "
            "AND (e.expires IS NULL OR e.expires > ?) ORDER BY e.rid LIMIT 1", [fp, *params, now], after_writes=False,
        )
        return to_entry(rows[0]) if rows else None

    async def alookup(self, fp: str) -> MemoryEntry | None:
        """``lookup`` off the event loop (on a worker thread: it never waits behind queued writes)."""
        return await asyncio.to_thread(self.lookup, fp)

    def entries(self, *, kind: str | None = None, limit: int | None = None) -> Iterator[MemoryEntry]:
        """Every entry in scope, oldest first."""
        where, params = self.db.where("e.")
        if kind is not None:
            where += " AND e.kind = ?"
            params.append(kind)
        sql = f"SELECT {SELECT} FROM entries e WHERE {where} ORDER BY e.rid"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        for row in self.db.read(sql, params):
            yield to_entry(row)

    def count(self) -> int:
        where, params = self.db.where()
        return int(self.db.read(f"SELECT count(*) FROM entries WHERE {where}", params)[0][0])

    def passages(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Source passages (as tool results returned them) for citation ids, where known."""
        if not ids:
            return {}
        ns = self.db.namespace() if self.db.scope != "all" else None
        marks = ",".join("?" * len(ids))
        sql = f"SELECT id, data FROM passages WHERE id IN ({marks})" + (" AND ns = ?" if ns else "")
        rows = self.db.read(sql, [*ids, ns] if ns else ids)
        return {r[0]: {k: v for k, v in json.loads(r[1]).items() if v is not None} for r in rows}

    # ----------------------------------------------------------------- writes
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
        ns = self.db.namespace()
        chash = content_hash(kind, text, fingerprint)
        cost = cost or {}
        fields = {
            "key": key, "value": text, "value_format": fmt, "kind": kind, "fingerprint": fingerprint, "team": team,
            "run": run, "citations": json.dumps(citations or []), "cost_tokens": int(cost.get("tokens", 0)),
            "cost_usd": float(cost.get("usd", 0.0)), "cost_seconds": float(cost.get("seconds", 0.0)),
            "tokens": count_tokens(text), "verified": int(verified),
        }
        now = time.time()
        self.db.write(lambda conn: store_entry(conn, ns, chash, fields, now=now, ttl=self.ttl))
        rows = self.db.read(f"SELECT {SELECT} FROM entries e WHERE e.ns = ? AND e.content_hash = ?", [ns, chash])
        return to_entry(rows[0])

    def import_entries(self, entries: Iterable[MemoryEntry | dict[str, Any]], *, batch: int = 50_000) -> int:
        """Bulk-load entries (``MemoryEntry`` objects or records as ``export`` writes them) into
        this scope, skipping content already stored; returns how many were added. Each batch is
        one transaction that indexes its rows for search in a single pass."""
        ns = self.db.namespace()
        now = time.time()

        fulltext = self.db.database.dialect.fulltext

        def load(rows: list[tuple[Any, ...]]) -> int:
            return self.db.write(lambda conn: _load_batch(conn, rows, fulltext))

        added, pending = 0, []
        for item in entries:
            pending.append(_import_row(item, ns, now))
            if len(pending) >= batch:
                added += load(pending)
                pending = []
        if pending:
            added += load(pending)
        return added

    def mark_verified(self, entry_id: str, verified: bool = True) -> bool:
        """Set an entry's verified flag (e.g. after a verifier accepted it); False if unknown."""
        return bool(self.db.write(lambda c: c.execute("UPDATE entries SET verified = ? WHERE id = ?", (int(verified), entry_id)).rowcount))

    @staticmethod
    def store_passages(conn: Connection, ns: str, candidate: AdmissionCandidate) -> None:
        """Keep the source passages cited in a JSON value, so ``memory_read`` can show them."""
        if candidate.value_format != "json":
            return
        from agentloom.citations import collect_passages

        try:
            data = json.loads(candidate.value)
        except ValueError:
            return
        for pid, citation in collect_passages(data).items():
            conn.execute(_PASSAGE_UPSERT, (ns, pid, json.dumps(citation.to_dict(), ensure_ascii=False)))

    # ----------------------------------------------------------------- reads
    def read(self, entry_id: str, *, team: str | None = None, via: str = "memory_read") -> MemoryEntry:
        """Read an entry's value on behalf of ``team`` (default: the current team), logging it."""
        entry = self.get(entry_id)
        if entry is None or (entry.expires is not None and entry.expires <= time.time()):
            raise LookupError(f"no memory entry '{entry_id}' in {self.db.path} (it may have expired or been evicted)")
        ctx = tracing.current()
        team = team if team is not None else (ctx.team if ctx is not None else self.team)
        self.log_read(entry, team, ctx.run_id if ctx is not None else None, via, wait=True)
        entry.uses += 1
        return entry

    def log_read(self, entry: MemoryEntry, team: str | None, run: str | None, via: str, *,
                 saved_seconds: float | None = None, wait: bool = False) -> None:
        """Count a use of ``entry`` and log the read; ``wait`` for it to land, or just queue it."""
        now = time.time()
        seconds = entry.cost_seconds if saved_seconds is None else saved_seconds

        row = read_row(ns=entry.scope, entry_id=entry.id, fingerprint=entry.fingerprint, team=team, run=run, via=via,
                       saved_seconds=seconds, saved_tokens=entry.cost_tokens, saved_usd=entry.cost_usd, now=now)
        if wait:
            self.db.write(lambda conn: (conn.execute(_USE_SQL, (now, entry.id)), conn.execute(READ_SQL, row)))
        else:  # batched with the other logs queued meanwhile
            self.db.add_rows(_USE_SQL, [(now, entry.id)])
            self.db.add_rows(READ_SQL, [row])

    def note_shown(self, entry_ids: list[str]) -> None:
        """Count that these keys were put in a prompt (their context cost, for training). Queued:
        the caller (often the event loop) does not wait for it."""
        self.db.add_rows(_SHOWN_SQL, [(i,) for i in entry_ids])


def _import_row(item: MemoryEntry | dict[str, Any], ns: str, now: float) -> tuple[Any, ...]:
    """One ``entries`` row (in ``_IMPORT_SQL`` order) from an entry or an exported record."""
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
        entry_id(ns, chash), ns, str(d["key"]), value, get("value_format") or "text", kind, fp,
        chash, get("team"), get("run"), get("step"), json.dumps(list(citations)) if citations else "[]",
        int(get("cost_tokens") or 0), float(get("cost_usd") or 0.0), float(get("cost_seconds") or 0.0),
        int(get("tokens") or (len(value) + 3) // 4), float(get("created") or now), int(get("uses") or 0),
        get("last_used"), 1 if get("verified") else 0, get("expires"),
    )


def _load_batch(conn: Connection, rows: list[tuple[Any, ...]], fulltext: str = "fts5") -> int:
    """Insert rows with the FTS trigger off, then index the new rows in one statement (a
    ``tsvector`` column indexes itself)."""
    from agentloom.memory._schema import INSERT_TRIGGER

    start = conn.execute("SELECT coalesce(max(rid), 0) FROM entries").fetchone()[0]
    if fulltext == "tsvector":
        conn.executemany(_IMPORT_SQL, rows)
        return int(conn.execute("SELECT count(*) FROM entries WHERE rid > ?", (start,)).fetchone()[0])
    conn.execute("DROP TRIGGER IF EXISTS entries_ai")
    conn.executemany(_IMPORT_SQL, rows)
    conn.execute("INSERT INTO entries_fts(rowid, key, value) SELECT rid, key, value FROM entries WHERE rid > ?", (start,))
    conn.execute(INSERT_TRIGGER)
    return int(conn.execute("SELECT count(*) FROM entries WHERE rid > ?", (start,)).fetchone()[0])

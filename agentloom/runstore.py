"""The run store: every run, event (model call, tool call, budget charge, span, decision) and
artifact, at ``<home>/runs.db`` through the storage seam (SQLite by default). Secrets never reach it."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentloom._paths import loom_home
from agentloom.errors import RunNotFoundError
from agentloom.secrets import redact
from agentloom.storage.types import Connection

__all__ = ["RunStore", "RunRecord", "redact", "new_run_id"]

def new_run_id() -> str:
    """A short, sortable, unique run id: ``YYYYmmdd-HHMMSS-xxxxxx``."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]


_EVENT_COLUMNS = ("run_id", "span_id", "parent_id", "kind", "name", "team", "start", "end", "duration", "status", "data", "error")
_INSERT_EVENT = f"INSERT INTO events ({', '.join(f'[{c}]' for c in _EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(_EVENT_COLUMNS))})"


def _dumps(value: Any) -> str:
    return json.dumps(redact(value), default=str, ensure_ascii=False)


@dataclass
class RunRecord:
    """One row of the ``runs`` table, decoded."""

    id: str
    kind: str
    name: str
    status: str
    created: float
    finished: float | None
    input: Any
    output: Any
    usage: dict[str, Any]
    error: str | None
    meta: dict[str, Any]


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS [runs] ([id] TEXT PRIMARY KEY, [kind] TEXT, [name] TEXT, [status] TEXT, [created] FLOAT, "
    "[finished] FLOAT, [input] TEXT, [output] TEXT, [usage] TEXT, [error] TEXT, [meta] TEXT)",
    "CREATE TABLE IF NOT EXISTS [events] ([id] INTEGER PRIMARY KEY, [run_id] TEXT, [span_id] TEXT, [parent_id] TEXT, "
    "[kind] TEXT, [name] TEXT, [team] TEXT, [start] FLOAT, [end] FLOAT, [duration] FLOAT, [status] TEXT, [data] TEXT, [error] TEXT)",
    "CREATE INDEX IF NOT EXISTS [idx_events_run_id_kind] ON [events] ([run_id], [kind])",
    "CREATE TABLE IF NOT EXISTS [artifacts] ([id] INTEGER PRIMARY KEY, [run_id] TEXT, [name] TEXT, [mime] TEXT, "
    "[content] TEXT, [created] FLOAT)",
    "CREATE INDEX IF NOT EXISTS [idx_artifacts_run_id_name] ON [artifacts] ([run_id], [name])",
)
_RUN_COLUMNS = ("id", "kind", "name", "status", "created", "finished", "input", "output", "usage", "error", "meta")


class RunStore:
    """Runs, events and artifacts. Writes are queued to the store's writer thread (the storage
    seam), so recording never blocks the event loop; events are buffered and handed over in
    batches by ``flush()`` (at span ends and when a run finishes). Reads, and ``close()``, wait
    for what is queued."""

    def __init__(self, path: str | Path | None = None) -> None:
        from agentloom.storage import open_database

        self.path = Path(path) if path is not None else loom_home() / "runs.db"
        self.database = open_database(self.path, "runs")
        self._lock = threading.RLock()
        self._buffer: list[dict[str, Any]] = []
        self._last_flush = time.monotonic()
        if not {"runs", "events", "artifacts"} <= self.database.tables():  # an existing store needs no write lock to open
            self.database.write(lambda conn: [conn.execute(sql) for sql in _SCHEMA])

    # ----------------------------------------------------------------- runs
    def create_run(
        self,
        kind: str,
        *,
        name: str = "",
        input: Any = None,
        run_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> str:
        run_id = run_id or new_run_id()
        row = (run_id, kind, name, "running", time.time(), None, _dumps(input), None, "{}", None, _dumps(meta or {}))
        sql = self.database.dialect.upsert("runs", _RUN_COLUMNS, ["id"])
        self.database.submit(lambda conn: conn.execute(sql, row))
        return run_id

    def resume_run(self, run_id: str) -> RunRecord:
        """Mark a known run as running again (``meta``: ``resumed`` true, and the stretch from its
        last stop to now appended to ``pauses``, which is not run time); unknown ids raise
        ``RunNotFoundError``. Returns the record as it was before."""
        record = self.get_run(run_id)
        now = time.time()
        pauses = [list(p) for p in (record.meta or {}).get("pauses") or []]
        if record.finished:
            pauses.append([record.finished, now])
        meta = _dumps({**(record.meta or {}), "resumed": True, "pauses": pauses})
        self.database.submit(lambda conn: conn.execute(
            "UPDATE runs SET status = 'running', finished = NULL, error = NULL, meta = ? WHERE id = ?", (meta, record.id)))
        return record

    def finish_run(
        self,
        run_id: str,
        status: str,
        *,
        output: Any = None,
        usage: dict[str, Any] | None = None,
        error: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.flush()
        updates: dict[str, Any] = {"status": status, "finished": time.time(),
                                   "error": redact(error) if error is not None else None}
        if output is not None:
            updates["output"] = _dumps(output)
        if usage is not None:
            updates["usage"] = _dumps(usage)

        def txn(conn: Connection) -> None:
            if meta is not None:
                row = conn.execute("SELECT meta FROM runs WHERE id = ?", (run_id,)).fetchone()
                current = json.loads(row[0]) if row and row[0] else {}
                updates["meta"] = _dumps(current | meta)
            sets = ", ".join(f"[{k}] = ?" for k in updates)
            conn.execute(f"UPDATE runs SET {sets} WHERE id = ?", [*updates.values(), run_id])

        self.database.submit(txn)

    def patch_run(self, run_id: str, update: Callable[[dict[str, Any]], None], *, status: str | None = None) -> None:
        """Change a run's ``meta`` in place with ``update`` (read and written in one transaction, so
        two processes patching the same run do not lose each other's change), and its status."""

        def txn(conn: Connection) -> None:
            row = conn.execute("SELECT meta FROM runs WHERE id = ?", (run_id,)).fetchone()
            meta = json.loads(row[0]) if row and row[0] else {}
            update(meta)
            sets, values = "[meta] = ?", [_dumps(meta)]
            if status is not None:
                sets, values = sets + ", [status] = ?", [*values, status]
            conn.execute(f"UPDATE runs SET {sets} WHERE id = ?", [*values, run_id])

        self.flush()
        self.database.write(txn)

    def get_run(self, run_id: str) -> RunRecord:
        self.flush()
        rows = self._rows("SELECT * FROM runs WHERE id = ?", [run_id])
        if not rows:
            matches = self._rows("SELECT * FROM runs WHERE id LIKE ? LIMIT 2", [run_id + "%"])
            if len(matches) == 1:
                rows = matches
        if not rows:
            raise RunNotFoundError(f"no run with id '{run_id}' in {self.path}; see `loom runs list`")
        return self._decode(rows[0])

    def list_runs(self, limit: int = 20) -> list[RunRecord]:
        self.flush()
        return [self._decode(r) for r in self._rows("SELECT * FROM runs ORDER BY created desc LIMIT ?", [limit])]

    def _rows(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        """Rows of a query as column -> value dicts."""

        def fetch(conn: Connection) -> list[dict[str, Any]]:
            cur = conn.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

        return self.database.query(fetch)

    @staticmethod
    def _decode(row: dict[str, Any]) -> RunRecord:
        def load(text: str | None, default: Any) -> Any:
            return json.loads(text) if text else default

        return RunRecord(
            id=row["id"],
            kind=row["kind"] or "",
            name=row["name"] or "",
            status=row["status"] or "",
            created=row["created"] or 0.0,
            finished=row["finished"],
            input=load(row["input"], None),
            output=load(row["output"], None),
            usage=load(row["usage"], {}),
            error=row["error"],
            meta=load(row["meta"], {}),
        )

    # ----------------------------------------------------------------- events
    def add_event(self, event: dict[str, Any]) -> None:
        """Buffer one event; handed to the writer at the next flush (at most every 256 events or 0.5 s)."""
        row = dict(event)
        row["data"] = _dumps(row.get("data") or {})
        if row.get("error") is not None:
            row["error"] = redact(str(row["error"]))
        with self._lock:
            self._buffer.append(row)
            due = len(self._buffer) >= 256 or time.monotonic() - self._last_flush > 0.5
        if due:
            self.flush()

    def flush(self) -> None:
        """Hand the buffered events to the writer thread (reads wait for them to land)."""
        with self._lock:
            if not self._buffer:
                return
            rows, self._buffer = self._buffer, []
            self._last_flush = time.monotonic()
        self.database.add_rows(_INSERT_EVENT, [tuple(row.get(c) for c in _EVENT_COLUMNS) for row in rows])

    def events(self, run_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        self.flush()
        where, params = "run_id = ?", [run_id]
        if kind is not None:
            where += " AND kind = ?"
            params.append(kind)
        rows = self._rows(f"SELECT * FROM events WHERE {where} ORDER BY start, id", params)
        for row in rows:
            row["data"] = json.loads(row["data"]) if row.get("data") else {}
        return rows

    def iter_all_events(self, kind: str | None = None) -> Iterator[dict[str, Any]]:
        """Every event of every run (used by training and audits)."""
        self.flush()
        where, params = ("WHERE kind = ?", [kind]) if kind else ("", [])
        rows = self._rows(f"SELECT * FROM events {where} ORDER BY id", params)
        for row in rows:
            row["data"] = json.loads(row["data"]) if row.get("data") else {}
            yield row

    # ----------------------------------------------------------------- artifacts
    def put_artifact(self, run_id: str, name: str, content: str, mime: str = "text/plain") -> None:
        row = (run_id, name, mime, redact(content), time.time())
        self.database.submit(lambda conn: conn.execute(
            "INSERT INTO artifacts (run_id, name, mime, content, created) VALUES (?, ?, ?, ?, ?)", row))

    def artifact(self, run_id: str, name: str) -> str | None:
        self.flush()
        rows = self.database.read(
            "SELECT content FROM artifacts WHERE run_id = ? AND name = ? ORDER BY id desc LIMIT 1", [run_id, name])
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    def artifacts(self, run_id: str) -> list[dict[str, Any]]:
        self.flush()
        return self._rows("SELECT * FROM artifacts WHERE run_id = ? ORDER BY id", [run_id])

    def close(self) -> None:
        self.flush()
        self.database.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def event_rows(events: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The events of one kind, in order."""
    return [e for e in events if e.get("kind") == kind]

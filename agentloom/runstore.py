"""The run store: every run, event (model call, tool call, budget charge, span, decision) and
artifact, in SQLite through sqlite-utils at ``<home>/runs.db``. Secrets never reach it."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentloom._paths import loom_home
from agentloom._sqlite import open_db
from agentloom.errors import RunNotFoundError

__all__ = ["RunStore", "RunRecord", "redact", "new_run_id"]

_SECRET_KEYS = re.compile(r"(api[_-]?key|authorization|secret|password|token_value|x-api-key)", re.I)
_SECRET_VALUES = re.compile(r"(sk-[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9._\-]{8,}|tvly-[A-Za-z0-9_\-]{8,})")


def redact(value: Any) -> Any:
    """Return ``value`` with API keys and Authorization headers replaced by ``[redacted]``."""
    if isinstance(value, dict):
        return {
            k: ("[redacted]" if isinstance(k, str) and _SECRET_KEYS.search(k) else redact(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _SECRET_VALUES.sub("[redacted]", value)
    return value


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


class RunStore:
    """Runs, events and artifacts. Events are buffered and written in batches; ``flush()``
    (called at span ends and when a run finishes) makes them durable."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else loom_home() / "runs.db"
        self.db = open_db(self.path, "runs")
        self._lock = threading.RLock()
        self._buffer: list[dict[str, Any]] = []
        self._last_flush = time.monotonic()
        self._ensure_schema()

    def _ensure_schema(self) -> None:
        with self._lock:
            if "runs" not in self.db.table_names():
                self.db.table("runs").create(
                    {
                        "id": str,
                        "kind": str,
                        "name": str,
                        "status": str,
                        "created": float,
                        "finished": float,
                        "input": str,
                        "output": str,
                        "usage": str,
                        "error": str,
                        "meta": str,
                    },
                    pk="id",
                )
            if "events" not in self.db.table_names():
                self.db.table("events").create(
                    {
                        "id": int,
                        "run_id": str,
                        "span_id": str,
                        "parent_id": str,
                        "kind": str,
                        "name": str,
                        "team": str,
                        "start": float,
                        "end": float,
                        "duration": float,
                        "status": str,
                        "data": str,
                        "error": str,
                    },
                    pk="id",
                )
                self.db.table("events").create_index(["run_id", "kind"])
            if "artifacts" not in self.db.table_names():
                self.db.table("artifacts").create(
                    {"id": int, "run_id": str, "name": str, "mime": str, "content": str, "created": float},
                    pk="id",
                )
                self.db.table("artifacts").create_index(["run_id", "name"])

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
        with self._lock:
            self.db.table("runs").upsert(
                {
                    "id": run_id,
                    "kind": kind,
                    "name": name,
                    "status": "running",
                    "created": time.time(),
                    "finished": None,
                    "input": _dumps(input),
                    "output": None,
                    "usage": "{}",
                    "error": None,
                    "meta": _dumps(meta or {}),
                },
                pk="id",
            )
        return run_id

    def resume_run(self, run_id: str) -> RunRecord:
        """Mark a known run as running again; unknown ids raise ``RunNotFoundError``."""
        record = self.get_run(run_id)
        with self._lock:
            self.db.table("runs").update(run_id, {"status": "running", "finished": None, "error": None})
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
        updates: dict[str, Any] = {"status": status, "finished": time.time(), "error": error}
        if output is not None:
            updates["output"] = _dumps(output)
        if usage is not None:
            updates["usage"] = _dumps(usage)
        if meta is not None:
            current = self.get_run(run_id).meta
            updates["meta"] = _dumps(current | meta)
        with self._lock:
            self.db.table("runs").update(run_id, updates)

    def get_run(self, run_id: str) -> RunRecord:
        with self._lock:
            rows = list(self.db.table("runs").rows_where("id = ?", [run_id]))
            if not rows:
                matches = list(self.db.table("runs").rows_where("id LIKE ?", [run_id + "%"], limit=2))
                if len(matches) == 1:
                    rows = matches
        if not rows:
            raise RunNotFoundError(f"no run with id '{run_id}' in {self.path}; see `loom runs list`")
        return self._decode(rows[0])

    def list_runs(self, limit: int = 20) -> list[RunRecord]:
        with self._lock:
            rows = list(self.db.table("runs").rows_where(order_by="created desc", limit=limit))
        return [self._decode(r) for r in rows]

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
        """Buffer one event; written at the next flush (at most every 256 events or 0.5 s)."""
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
        """Write buffered events in one transaction."""
        with self._lock:
            if not self._buffer:
                return
            rows, self._buffer = self._buffer, []
            self._last_flush = time.monotonic()
            conn = self.db.conn
            conn.execute("BEGIN")
            try:
                conn.executemany(_INSERT_EVENT, [tuple(row.get(c) for c in _EVENT_COLUMNS) for row in rows])
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def events(self, run_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        self.flush()
        where, params = "run_id = ?", [run_id]
        if kind is not None:
            where += " AND kind = ?"
            params.append(kind)
        with self._lock:
            rows = list(self.db.table("events").rows_where(where, params, order_by="start, id"))
        for row in rows:
            row["data"] = json.loads(row["data"]) if row.get("data") else {}
        return rows

    def iter_all_events(self, kind: str | None = None) -> Iterator[dict[str, Any]]:
        """Every event of every run (used by training and audits)."""
        self.flush()
        where, params = ("kind = ?", [kind]) if kind else (None, [])
        with self._lock:
            rows = list(self.db.table("events").rows_where(where, params, order_by="id"))
        for row in rows:
            row["data"] = json.loads(row["data"]) if row.get("data") else {}
            yield row

    # ----------------------------------------------------------------- artifacts
    def put_artifact(self, run_id: str, name: str, content: str, mime: str = "text/plain") -> None:
        with self._lock:
            self.db.table("artifacts").insert(
                {"run_id": run_id, "name": name, "mime": mime, "content": redact(content), "created": time.time()}
            )

    def artifact(self, run_id: str, name: str) -> str | None:
        with self._lock:
            rows = list(self.db.table("artifacts").rows_where("run_id = ? AND name = ?", [run_id, name], order_by="id desc", limit=1))
        return rows[0]["content"] if rows else None

    def artifacts(self, run_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.db.table("artifacts").rows_where("run_id = ?", [run_id], order_by="id"))

    def close(self) -> None:
        self.flush()
        self.db.conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def event_rows(events: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The events of one kind, in order."""
    return [e for e in events if e.get("kind") == kind]

"""The memory bank's SQLite handle: its scope (namespace filter), guarded reads, one-transaction
writes, and the vector side-store opened on first use. Every other part of the bank builds on it."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from agentloom import tracing
from agentloom.errors import ConfigError, StoreError

if TYPE_CHECKING:
    import sqlite_utils

    from agentloom.memory._vectors import VectorIndex
    from agentloom.memory.admission import AdmissionPolicy
    from agentloom.memory.types import Embedder

__all__ = ["SCOPES", "BankBase"]

T = TypeVar("T")

#: Scope names: ``run`` (entries live in one run's namespace) or ``project`` (shared across runs).
SCOPES = ("run", "project")


class BankBase:
    """State and low-level access shared by the bank's parts (``MemoryBank.__init__`` sets it)."""

    path: Path
    scope: str
    run_id: str | None
    ttl: float | None
    quota_entries: int | None
    quota_tokens: int | None
    task: str | None
    team: str | None
    embedder: Embedder | None
    policy: AdmissionPolicy
    db: sqlite_utils.Database
    _conn: sqlite3.Connection
    _file_key: str
    _lock: threading.RLock
    _run_tasks: dict[str, str]
    _vectors: VectorIndex | None
    _vec_lock: threading.Lock

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

    # ----------------------------------------------------------------- vectors
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

    def _prune_vectors(self) -> None:
        """Drop the vectors of deleted entries (when the file has a vector store)."""
        index = self._vector_index()
        if index is not None:
            with self._lock:
                index.delete_missing()

"""The memory bank's database: its store behind the storage seam, its scope (which namespaces
it sees and writes to), reads, one-transaction writes, and the vector side-table opened on
first use. Every other part of the bank is built on it."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from agentloom import tracing
from agentloom.errors import ConfigError
from agentloom.memory._schema import ensure_schema
from agentloom.storage import Connection, Database, open_database

if TYPE_CHECKING:
    from agentloom.memory._vectors import VectorIndex

__all__ = ["SCOPES", "BankDatabase"]

T = TypeVar("T")

#: Scope names: ``run`` (entries live in one run's namespace) or ``project`` (shared across runs).
SCOPES = ("run", "project")


class BankDatabase:
    """One bank file seen through one scope: ``project``, ``run`` (one run's namespace, or the
    current run's) or ``all`` (every namespace, read-only views such as ``loom memory stats``)."""

    def __init__(self, path: str | Path, *, scope: str, run_id: str | None, create: bool = True) -> None:
        self.path = Path(path)
        self.scope = scope
        self.run_id = run_id
        # a 32 MB page cache keeps indexes hot on big banks
        self.database: Database = open_database(self.path, "memory", create=create, cache_mb=32)
        self.file_key = str(self.path.resolve())
        self._vectors: VectorIndex | None = None
        self._vec_lock = threading.Lock()
        dialect = self.database.dialect
        needed = {"entries", "decisions", "reads", "models", "passages"} | (
            set() if dialect.fulltext == "tsvector" else {"entries_fts"})
        if not needed <= self.database.tables():
            try:  # an existing bank opens without the write lock
                self.write(lambda conn: ensure_schema(conn, dialect))
            except Exception:  # another process created it at the same moment (a DDL race on Postgres)
                if not needed <= self.database.tables():
                    raise

    def close(self) -> None:
        self.database.close()

    def location(self) -> str:
        """Where the bank is: its file, or on Postgres the database URL (password hidden), which
        every bank path on that URL shares."""
        if self.database.dialect.name == "postgres":
            from agentloom.storage import database_url
            from agentloom.storage.postgres import redact_url

            return redact_url(database_url() or str(self.database.path))
        return str(self.path)

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
        _where, params = self.where()
        if params:
            return str(params[0])
        return "run:*" if self.scope == "run" else "*"

    def where(self, alias: str = "") -> tuple[str, list[Any]]:
        """SQL filter for the rows this bank sees (a view may span several namespaces)."""
        col = f"{alias}ns" if alias else "ns"
        if self.scope == "all":
            return "1=1", []
        if self.scope == "run" and self.run_id is None:
            ctx = tracing.current()
            if ctx is None or not ctx.run_id:
                return f"{col} LIKE 'run:%'", []
        return f"{col} = ?", [self.namespace()]

    # ----------------------------------------------------------------- reads and writes
    def read(self, sql: str, params: list[Any] | tuple[Any, ...] = (), *, after_writes: bool = True) -> list[tuple[Any, ...]]:
        """Rows of one query (``after_writes``: this process's queued writes land first)."""
        return self.database.read(sql, params, after_writes=after_writes)

    def query(self, fn: Callable[[Connection], T], *, after_writes: bool = True) -> T:
        """Run a read function with a connection (several statements, one consistent view)."""
        return self.database.query(fn, after_writes=after_writes)

    async def aread(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """``read`` without blocking the event loop."""
        return await self.database.aread(sql, params)

    def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in one transaction that takes the write lock up front, so check-then-insert
        is atomic across threads and processes; the caller waits for the result."""
        return self.database.write(fn)

    def add_rows(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """Queue rows of one statement without waiting; rows queued back to back share a transaction."""
        self.database.add_rows(sql, rows)

    def submit(self, fn: Callable[[Connection], Any]) -> concurrent.futures.Future[Any]:
        """Queue a write transaction without waiting (logs whose result nobody needs)."""
        return self.database.submit(fn)

    # ----------------------------------------------------------------- vectors
    def vector_index(self, dim: int | None = None) -> VectorIndex | None:
        """The vector store, created on first use (its dimension is remembered in the file)."""
        if self._vectors is not None:
            return self._vectors
        with self._vec_lock:
            if self._vectors is not None:
                return self._vectors
            row = self.read("SELECT value FROM loom_meta WHERE key = 'vec_dim'")
            known = int(row[0][0]) if row else None
            if known is None and dim is None:
                return None
            if known is not None and dim is not None and known != dim:
                raise ConfigError(f"{self.path}: stores {known}-dimensional vectors; the embedder returned {dim}")
            from agentloom.memory._vectors import VectorIndex

            index = VectorIndex(known or dim or 0, postgres=self.database.dialect.name == "postgres")

            def create(conn: Connection) -> None:
                index.create(conn)
                if known is None:
                    conn.execute(self.database.dialect.upsert("loom_meta", ("key", "value"), ("key",)), ("vec_dim", str(dim)))

            self.write(create)
            self._vectors = index
            return index

    def prune_vectors(self) -> None:
        """Drop the vectors of deleted entries (when the file has a vector store)."""
        index = self.vector_index()
        if index is not None:
            self.write(index.delete_missing)

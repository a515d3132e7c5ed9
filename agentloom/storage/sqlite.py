"""The default storage backend: SQLite files in WAL mode with a busy timeout, each marked as
agentloom's by a ``loom_meta`` table, so a corrupt or foreign file is refused with a clear error
that names it instead of being silently recreated."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

from agentloom.errors import StoreError
from agentloom.storage.database import Database
from agentloom.storage.types import Dialect

__all__ = ["SQLITE", "DBLock", "SQLiteBackend", "SQLiteDatabase", "connect", "open_db"]

T = TypeVar("T")

_FORMAT_VERSION = "1"
_ATTEMPTS = 12  # BEGIN IMMEDIATE attempts (each waits out the busy timeout) before giving up

#: SQLite's SQL: ``?`` markers, ``ON CONFLICT`` upserts, FTS5 full-text search.
SQLITE = Dialect("sqlite", marker="?", fulltext="fts5")


def connect(path: str | Path, kind: str, *, create: bool = True) -> sqlite3.Connection:
    """A connection to the agentloom database of ``kind`` at ``path`` (created if missing).

    Raises ``StoreError`` naming the file when it is not SQLite, is corrupt, or belongs to
    something else (another kind of agentloom file, or another program).
    """
    path = Path(path)
    if not path.exists() and not create:
        raise StoreError(f"{path}: no such {kind} database")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 30000")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "loom_meta" not in tables:
            conn.close()
            raise StoreError(
                f"{path}: not an agentloom {kind} database (it holds other tables); "
                "move it away or choose another path"
            )
        if "loom_meta" in tables:
            row = conn.execute("SELECT value FROM loom_meta WHERE key='kind'").fetchone()
            if row is None or row[0] != kind:
                found = row[0] if row else "unknown"
                conn.close()
                raise StoreError(f"{path}: is an agentloom {found} database, not a {kind} database")
        if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":  # WAL stays set in the file
            _when_unlocked(lambda: conn.execute("PRAGMA journal_mode = WAL"))
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA recursive_triggers = on")
        if "loom_meta" not in tables:
            _when_unlocked(lambda: _mark(conn, kind))
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
            raise StoreError(f"{path}: the {kind} database stayed locked; another process holds it") from None
        raise StoreError(f"{path}: cannot open {kind} database ({exc}); the file is corrupt or not SQLite") from None
    return conn


def _mark(conn: sqlite3.Connection, kind: str) -> None:
    """Mark a new file as agentloom's ``kind`` in one transaction, so a process opening it at
    the same moment never sees the table without its rows."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS loom_meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("INSERT OR IGNORE INTO loom_meta VALUES ('kind', ?)", (kind,))
        conn.execute("INSERT OR IGNORE INTO loom_meta VALUES ('format', ?)", (_FORMAT_VERSION,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    row = conn.execute("SELECT value FROM loom_meta WHERE key='kind'").fetchone()
    if row is None or row[0] != kind:
        raise StoreError(f"{conn.execute('PRAGMA database_list').fetchone()[2]}: is an agentloom "
                         f"{row[0] if row else 'unknown'} database, not a {kind} database")


def _when_unlocked(step: Callable[[], T], *, within_s: float = 30.0) -> T:
    """Run ``step`` again while another connection holds the lock it needs: switching to WAL
    takes an exclusive lock, and SQLite reports "database is locked" at once rather than
    through the busy timeout when two processes open a new file together."""
    deadline = time.monotonic() + within_s
    delay = 0.01
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def open_db(path: str | Path, kind: str, *, create: bool = True) -> Any:
    """``connect`` wrapped in a ``sqlite_utils.Database`` (for local files such as corpus indexes)."""
    import sqlite_utils

    return sqlite_utils.Database(connect(path, kind, create=create))


class SQLiteDatabase(Database):
    """A store in one SQLite file. Write transactions take the lock up front (``BEGIN
    IMMEDIATE``), so check-then-insert is atomic across threads and processes."""

    dialect = SQLITE

    def __init__(self, path: str | Path, kind: str, *, create: bool = True, cache_mb: int | None = None) -> None:
        self._create = create
        self._cache_mb = cache_mb
        super().__init__(path, kind, writer_key=f"sqlite:{Path(path).resolve()}")

    def _connect(self) -> sqlite3.Connection:
        conn = connect(self.path, self.kind, create=self._create)
        if self._cache_mb:
            conn.execute(f"PRAGMA cache_size = -{int(self._cache_mb) * 1024}")
        return conn

    def tables(self) -> set[str]:
        return {str(r[0]) for r in self.read("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def guard(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError):
                raise
            raise StoreError(f"{self.path}: {self.kind} database error ({exc}); the file may be corrupt") from None

    def _transaction(self, conn: sqlite3.Connection, fn: Callable[[Any], T]) -> T:
        delay = 0.01
        for attempt in range(_ATTEMPTS):
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise StoreError(f"{self.path}: cannot write to the {self.kind} database ({exc})") from None
                if attempt == _ATTEMPTS - 1:
                    raise StoreError(f"{self.path}: {self.kind} database stayed locked; another process holds it") from None
            else:
                try:
                    out = self.guard(lambda: fn(conn))
                    conn.execute("COMMIT")
                    return out
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        raise StoreError(f"{self.path}: {self.kind} database stayed locked")  # pragma: no cover


class SQLiteBackend:
    """Stores in SQLite files; LangGraph checkpoints through ``AsyncSqliteSaver``."""

    name = "sqlite"
    dialect = SQLITE

    def open(self, path: str | Path, kind: str, *, create: bool = True, cache_mb: int | None = None) -> SQLiteDatabase:
        return SQLiteDatabase(path, kind, create=create, cache_mb=cache_mb)

    def checkpointer(self, path: str | Path) -> AbstractAsyncContextManager[Any]:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        return AsyncSqliteSaver.from_conn_string(str(path))


class DBLock:
    """A re-entrant lock per database file path, shared by every handle in this process."""

    _locks: dict[str, threading.RLock] = {}
    _guard = threading.Lock()

    @classmethod
    def for_path(cls, path: str | Path) -> threading.RLock:
        key = str(Path(path).resolve())
        with cls._guard:
            lock = cls._locks.get(key)
            if lock is None:
                lock = cls._locks[key] = threading.RLock()
            return lock

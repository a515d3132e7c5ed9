"""The storage seam under the run store, the memory bank (and so the budget ledger, which the run
store records) and LangGraph checkpoints: one small backend interface, SQLite by default.

Stores write through a ``Database``: reads on the caller's connection, write transactions on one
writer thread per store, so the event loop never blocks on a lock another process holds. SQL
above the seam uses ``?`` markers and builds variable statements with the ``Dialect``.
"""

from __future__ import annotations

from pathlib import Path

from agentloom.storage.database import Database
from agentloom.storage.sqlite import SQLiteBackend
from agentloom.storage.types import Backend, Connection, Cursor, Dialect

__all__ = ["Backend", "Connection", "Cursor", "Database", "Dialect", "SQLiteBackend", "backend", "open_database"]

_default: Backend = SQLiteBackend()


def backend() -> Backend:
    """The storage backend in use (SQLite)."""
    return _default


def open_database(path: str | Path, kind: str, *, create: bool = True, cache_mb: int | None = None) -> Database:
    """The store of ``kind`` at ``path`` on the backend in use."""
    return _default.open(path, kind, create=create, cache_mb=cache_mb)

"""The storage seam under the run store, the memory bank (and so the budget ledger, which the run
store records) and LangGraph checkpoints: one small backend interface, SQLite by default.

Stores write through a ``Database``: reads on the caller's connection, write transactions on one
writer thread per store, so the event loop never blocks on a lock another process holds. SQL
above the seam uses ``?`` markers and builds variable statements with the ``Dialect``.

``AGENTLOOM_DATABASE_URL`` (or ``--database-url``) selects the backend: unset, a path or
``sqlite:///…`` keeps SQLite files; ``postgresql://…`` puts the stores in Postgres.
"""

from __future__ import annotations

import os
from pathlib import Path

from agentloom.storage.database import Database
from agentloom.storage.sqlite import SQLiteBackend
from agentloom.storage.types import Backend, Connection, Cursor, Dialect

__all__ = [
    "Backend",
    "Connection",
    "Cursor",
    "Database",
    "Dialect",
    "SQLiteBackend",
    "backend",
    "database_url",
    "open_database",
    "prefer_database",
]

ENV = "AGENTLOOM_DATABASE_URL"

_sqlite: Backend = SQLiteBackend()
_postgres: dict[str, Backend] = {}

#: Store kinds the Postgres backend holds so far; the others stay in SQLite files beside it.
POSTGRES_KINDS = frozenset({"runs", "budgets", "memory"})


def database_url() -> str | None:
    """The database URL in use (``AGENTLOOM_DATABASE_URL``), or None for the default SQLite files."""
    return os.environ.get(ENV) or None


def prefer_database(url: str | None) -> bool:
    """Use ``url`` (a graph's ``database:``) for this process's stores unless one is already chosen:
    ``AGENTLOOM_DATABASE_URL`` and ``--database-url`` win. Returns whether ``url`` was taken."""
    if not url or database_url() is not None:
        return False
    os.environ[ENV] = url
    return True


def backend() -> Backend:
    """The storage backend in use: Postgres for a ``postgresql://`` URL, else SQLite."""
    from agentloom.storage.postgres import PostgresBackend, is_postgres_url

    url = database_url()
    if url is None or not is_postgres_url(url):
        return _sqlite
    found = _postgres.get(url)
    if found is None:
        found = _postgres[url] = PostgresBackend(url)
    return found


def open_database(path: str | Path, kind: str, *, create: bool = True, cache_mb: int | None = None) -> Database:
    """The store of ``kind`` at ``path`` on the backend in use."""
    chosen = backend()
    if chosen.name != "sqlite" and kind not in POSTGRES_KINDS:
        chosen = _sqlite
    return chosen.open(path, kind, create=create, cache_mb=cache_mb)

"""The storage seam's interface: a ``Dialect`` (how SQL differs per database), the
``Connection``/``Cursor`` shape a transaction sees, and the ``Backend`` that opens stores and
LangGraph checkpointers. SQLite is the default backend; another (Postgres) plugs in here with no
change above it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from agentloom.storage.database import Database

__all__ = ["Backend", "Connection", "Cursor", "Dialect", "Params"]

#: Positional parameters of one statement (SQL above the seam uses ``?`` markers).
Params = Sequence[Any]


class Cursor(Protocol):
    """What a statement returns (sqlite3 and psycopg cursors both fit)."""

    @property
    def rowcount(self) -> int: ...

    @property
    def lastrowid(self) -> int | None: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """What a read or a write transaction is given: ``execute`` and ``executemany``."""

    def execute(self, sql: str, parameters: Params = ..., /) -> Any: ...

    def executemany(self, sql: str, seq_of_parameters: Iterable[Params], /) -> Any: ...


@dataclass(frozen=True)
class Dialect:
    """How SQL differs between backends, for the statements stores build at run time."""

    name: str
    """Backend name: ``sqlite`` (or ``postgres``)."""
    marker: str = "?"
    """The positional parameter marker the driver expects (SQL above the seam writes ``?``)."""
    fulltext: str = "fts5"
    """The full-text engine (``fts5`` for SQLite; ``tsvector`` for Postgres)."""

    def marks(self, n: int) -> str:
        """``n`` comma-separated parameter markers."""
        return ",".join([self.marker] * n)

    def insert(self, table: str, columns: Sequence[str], *, ignore_conflicts: bool = False) -> str:
        """``INSERT`` of one row of ``columns``; with ``ignore_conflicts``, a duplicate key is skipped."""
        cols = ", ".join(f'"{c}"' for c in columns)
        sql = f"INSERT INTO {table} ({cols}) VALUES ({self.marks(len(columns))})"
        return sql + " ON CONFLICT DO NOTHING" if ignore_conflicts else sql

    def upsert(self, table: str, columns: Sequence[str], key: Sequence[str]) -> str:
        """``INSERT`` of one row that replaces the non-key columns of an existing row with the same ``key``."""
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c not in key)
        conflict = ", ".join(f'"{c}"' for c in key)
        return self.insert(table, columns) + f" ON CONFLICT ({conflict}) DO UPDATE SET {updates}"


class Backend(Protocol):
    """Opens agentloom's stores and LangGraph's checkpointer on one kind of database."""

    name: str
    """Backend name, as in ``Dialect.name``."""

    def open(self, path: str | Path, kind: str, *, create: bool = True, cache_mb: int | None = None) -> Database:
        """The store of ``kind`` (``runs``, ``memory``) at ``path`` (``cache_mb``: a page-cache hint)."""
        ...

    def checkpointer(self, path: str | Path) -> AbstractAsyncContextManager[Any]:
        """An async context manager yielding a LangGraph checkpoint saver at ``path``."""
        ...

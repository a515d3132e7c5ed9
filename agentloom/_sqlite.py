"""Open agentloom's SQLite files (run store, memory bank, corpus index) the same careful way.

WAL mode and a busy timeout so parallel writers wait instead of failing; a ``loom_meta`` table
marks the file as ours, so a corrupt or foreign file is refused with a clear error that names it
instead of being silently recreated.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import sqlite_utils

from agentloom.errors import StoreError

__all__ = ["open_db"]

_FORMAT_VERSION = "1"


def open_db(path: str | Path, kind: str, *, create: bool = True) -> sqlite_utils.Database:
    """Open (or create) the agentloom database of ``kind`` at ``path``.

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
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        if "loom_meta" not in tables:
            conn.execute("CREATE TABLE IF NOT EXISTS loom_meta (key TEXT PRIMARY KEY, value TEXT)")
            conn.execute("INSERT OR IGNORE INTO loom_meta VALUES ('kind', ?)", (kind,))
            conn.execute("INSERT OR IGNORE INTO loom_meta VALUES ('format', ?)", (_FORMAT_VERSION,))
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot open {kind} database ({exc}); the file is corrupt or not SQLite") from None
    return sqlite_utils.Database(conn)


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

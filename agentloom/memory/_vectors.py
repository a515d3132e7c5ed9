"""Optional vector search over entries: sqlite-vec's ``vec0`` table when the extension can be
loaded into this Python's sqlite3, else float32 blobs scanned with numpy (exact cosine). Each
method is given the connection to use (the bank reads on one and writes on another)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["VectorIndex"]


def _load_sqlite_vec(conn: Any) -> bool:
    """Load sqlite-vec into ``conn`` if both the package and extension loading are available."""
    try:
        import sqlite_vec
    except ImportError:
        return False
    enable = getattr(conn, "enable_load_extension", None)
    if enable is None:  # Python built without loadable-extension support
        return False
    try:
        enable(True)
        sqlite_vec.load(conn)
        enable(False)
    except (sqlite3.Error, AttributeError, OSError):
        return False
    return True


class VectorIndex:
    """Vectors of dimension ``dim`` keyed by entry rowid. ``backend`` says which store is in use
    (known once the index has seen a connection)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.table = f"entries_vec_{dim}"
        self.backend: str | None = None
        self._loaded: list[Any] = []  # connections sqlite-vec was loaded into (kept alive with them)

    def _ready(self, conn: Any) -> str:
        """The backend, with sqlite-vec loaded into ``conn`` when it is the one in use."""
        if any(c is conn for c in self._loaded):
            return self.backend or "numpy"
        loaded = _load_sqlite_vec(conn)
        if self.backend is None:
            self.backend = "sqlite-vec" if loaded else "numpy"
        self._loaded.append(conn)
        return self.backend

    def create(self, conn: Any) -> None:
        """Create the table if missing."""
        if self._ready(conn) == "sqlite-vec":
            conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {self.table} USING vec0(embedding float[{self.dim}] distance_metric=cosine)")
        else:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (rid INTEGER PRIMARY KEY, vec BLOB NOT NULL)")

    @staticmethod
    def _unit(vector: Sequence[float]) -> np.ndarray:
        arr = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(arr))
        return arr / norm if norm > 0 else arr

    def add(self, conn: Any, rid: int, vector: Sequence[float]) -> None:
        """Store one vector (call inside the entry's write transaction)."""
        if len(vector) != self.dim:
            raise ValueError(f"embedder returned {len(vector)} dimensions, expected {self.dim}")
        blob = self._unit(vector).tobytes()
        if self._ready(conn) == "sqlite-vec":
            conn.execute(f"INSERT OR REPLACE INTO {self.table}(rowid, embedding) VALUES (?, ?)", (rid, blob))
        else:
            conn.execute(f"INSERT OR REPLACE INTO {self.table}(rid, vec) VALUES (?, ?)", (rid, blob))

    def delete_missing(self, conn: Any) -> None:
        """Drop vectors whose entry is gone (after clear or eviction)."""
        column = "rowid" if self._ready(conn) == "sqlite-vec" else "rid"
        conn.execute(f"DELETE FROM {self.table} WHERE {column} NOT IN (SELECT rid FROM entries)")

    def nearest(self, conn: Any, vector: Sequence[float], k: int, allowed: set[int] | None = None) -> list[tuple[int, float]]:
        """The ``k`` nearest rowids with their cosine similarity, best first."""
        query = self._unit(vector)
        if self._ready(conn) == "sqlite-vec":
            fetch = k if allowed is None else max(k * 8, 64)
            rows = conn.execute(
                f"SELECT rowid, distance FROM {self.table} WHERE embedding MATCH ? AND k = ? ORDER BY distance",
                (query.tobytes(), fetch),
            ).fetchall()
            pairs = [(int(r), 1.0 - float(d)) for r, d in rows if allowed is None or int(r) in allowed]
            return pairs[:k]
        rows = conn.execute(f"SELECT rid, vec FROM {self.table}").fetchall()
        if allowed is not None:
            rows = [r for r in rows if r[0] in allowed]
        if not rows:
            return []
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), self.dim)
        scores = matrix @ query
        order = np.argsort(-scores, kind="stable")[:k]
        return [(int(rows[i][0]), float(scores[i])) for i in order]

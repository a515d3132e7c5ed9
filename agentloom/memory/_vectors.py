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

    def __init__(self, dim: int, *, postgres: bool = False) -> None:
        self.dim = dim
        self.table = f"entries_vec_{dim}"
        self.backend: str | None = None
        self.postgres = postgres
        self._loaded: list[Any] = []  # connections sqlite-vec was loaded into (kept alive with them)

    def _ready(self, conn: Any) -> str:
        """The backend, with sqlite-vec loaded into ``conn`` when it is the one in use. On
        Postgres: ``pgvector`` when the extension is installed in the database, else ``float4[]``
        (exact search)."""
        if self.postgres:
            if self.backend is None:
                found = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
                self.backend = "pgvector" if found else "float4[]"
            return self.backend
        if any(c is conn for c in self._loaded):
            return self.backend or "numpy"
        loaded = _load_sqlite_vec(conn)
        if self.backend is None:
            self.backend = "sqlite-vec" if loaded else "numpy"
        self._loaded.append(conn)
        return self.backend

    def create(self, conn: Any) -> None:
        """Create the table if missing."""
        backend = self._ready(conn)
        if backend == "pgvector":
            conn.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (rid BIGINT PRIMARY KEY, embedding vector({self.dim}) NOT NULL)")
        elif backend == "float4[]":
            conn.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (rid BIGINT PRIMARY KEY, embedding float4[] NOT NULL)")
        elif backend == "sqlite-vec":
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
        unit = self._unit(vector)
        blob = unit.tobytes()
        backend = self._ready(conn)
        if backend in ("pgvector", "float4[]"):
            value: Any = _pgvector_text(unit) if backend == "pgvector" else [float(x) for x in unit]
            cast = "::vector" if backend == "pgvector" else ""
            conn.execute(f"INSERT INTO {self.table} (rid, embedding) VALUES (?, ?{cast}) "
                         "ON CONFLICT (rid) DO UPDATE SET embedding = excluded.embedding", (rid, value))
        elif backend == "sqlite-vec":
            conn.execute(f"INSERT OR REPLACE INTO {self.table}(rowid, embedding) VALUES (?, ?)", (rid, blob))
        else:
            conn.execute(f"INSERT OR REPLACE INTO {self.table}(rid, vec) VALUES (?, ?)", (rid, blob))

    def delete_missing(self, conn: Any) -> None:
        """Drop vectors whose entry is gone (after clear or eviction)."""
        column = "rowid" if self._ready(conn) == "sqlite-vec" else "rid"  # (rid on Postgres too)
        conn.execute(f"DELETE FROM {self.table} WHERE {column} NOT IN (SELECT rid FROM entries)")

    def nearest(self, conn: Any, vector: Sequence[float], k: int, allowed: set[int] | None = None) -> list[tuple[int, float]]:
        """The ``k`` nearest rowids with their cosine similarity, best first."""
        query = self._unit(vector)
        backend = self._ready(conn)
        if backend == "pgvector":
            fetch = k if allowed is None else max(k * 8, 64)
            rows = conn.execute(f"SELECT rid, embedding <=> ?::vector AS d FROM {self.table} ORDER BY d LIMIT ?",
                                (_pgvector_text(query), fetch)).fetchall()
            return [(int(r), 1.0 - float(d)) for r, d in rows if allowed is None or int(r) in allowed][:k]
        if backend == "float4[]":
            stored = conn.execute(f"SELECT rid, embedding FROM {self.table}").fetchall()
            rows = [(r, np.asarray(v, dtype=np.float32).tobytes()) for r, v in stored]
            return self._exact(rows, query, k, allowed)
        if backend == "sqlite-vec":
            fetch = k if allowed is None else max(k * 8, 64)
            rows = conn.execute(
                f"SELECT rowid, distance FROM {self.table} WHERE embedding MATCH ? AND k = ? ORDER BY distance",
                (query.tobytes(), fetch),
            ).fetchall()
            pairs = [(int(r), 1.0 - float(d)) for r, d in rows if allowed is None or int(r) in allowed]
            return pairs[:k]
        return self._exact(conn.execute(f"SELECT rid, vec FROM {self.table}").fetchall(), query, k, allowed)

    def _exact(self, rows: list[Any], query: np.ndarray, k: int, allowed: set[int] | None) -> list[tuple[int, float]]:
        """Exact cosine search over (rid, float32 bytes) rows of unit vectors."""
        if allowed is not None:
            rows = [r for r in rows if r[0] in allowed]
        if not rows:
            return []
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), self.dim)
        scores = matrix @ query
        order = np.argsort(-scores, kind="stable")[:k]
        return [(int(rows[i][0]), float(scores[i])) for i in order]


def _pgvector_text(unit: np.ndarray) -> str:
    """A vector in pgvector's text form, ``[x,y,...]``."""
    return "[" + ",".join(f"{float(x):.7g}" for x in unit) + "]"

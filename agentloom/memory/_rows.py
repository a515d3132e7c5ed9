"""Rows of the memory bank's tables: the entry columns, entry ids, and one generic insert."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from agentloom.memory.types import MemoryEntry
from agentloom.storage import Connection

__all__ = ["COLUMNS", "SELECT", "to_entry", "entry_id", "insert"]

#: The ``entries`` columns a ``MemoryEntry`` is read from, in ``SELECT`` order (``rid`` first).
COLUMNS = (
    "rid", "id", "ns", "key", "value", "value_format", "kind", "fingerprint", "team", "run", "step",
    "citations", "cost_tokens", "cost_usd", "cost_seconds", "tokens", "created", "uses", "last_used",
    "verified", "expires",
)
SELECT = ", ".join(f"e.{c}" for c in COLUMNS)


def to_entry(row: tuple[Any, ...], score: float | None = None) -> MemoryEntry:
    """The ``MemoryEntry`` for a row selected with ``SELECT`` (``score`` from a search, if any)."""
    d = dict(zip(COLUMNS, row, strict=True))
    return MemoryEntry(
        id=d["id"], key=d["key"], value=d["value"], kind=d["kind"], fingerprint=d["fingerprint"],
        team=d["team"], run=d["run"], step=d["step"], citations=json.loads(d["citations"] or "[]"),
        cost_tokens=int(d["cost_tokens"] or 0), cost_usd=float(d["cost_usd"] or 0.0),
        cost_seconds=float(d["cost_seconds"] or 0.0), created=float(d["created"] or 0.0),
        uses=int(d["uses"] or 0), last_used=d["last_used"], verified=bool(d["verified"]), scope=d["ns"],
        value_format=d["value_format"] or "text", tokens=int(d["tokens"] or 0), expires=d["expires"], score=score,
    )


def entry_id(ns: str, chash: str) -> str:
    """Deterministic id: the same content in the same scope always gets the same id."""
    return "mem_" + hashlib.sha256(f"{ns}\x00{chash}".encode()).hexdigest()[:16]


def insert(conn: Connection, table: str, row: dict[str, Any], *, on_conflict: str = "") -> Any:
    """``INSERT`` one row given as column -> value (``on_conflict``: e.g. ``"DO NOTHING"``)."""
    cols = ", ".join(row)
    marks = ",".join("?" * len(row))
    sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})" + (f" ON CONFLICT {on_conflict}" if on_conflict else "")
    return conn.execute(sql, list(row.values()))

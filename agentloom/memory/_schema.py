"""The memory bank's tables: entries (+ FTS5 over key and value), admission decisions, reads,
trained admission models (versioned), passages seen in stored values, and vectors."""

from __future__ import annotations

from typing import Any

from agentloom.storage import Dialect

__all__ = ["ensure_schema", "SCHEMA_VERSION", "INSERT_TRIGGER"]

SCHEMA_VERSION = "1"

#: Keeps the FTS index in step with inserted entries (bulk imports drop it and index in one go).
INSERT_TRIGGER = """CREATE TRIGGER IF NOT EXISTS entries_ai AFTER INSERT ON entries BEGIN
  INSERT INTO entries_fts(rowid, key, value) VALUES (new.rid, new.key, new.value);
END;"""

_TRIGGERS = INSERT_TRIGGER + """
CREATE TRIGGER IF NOT EXISTS entries_ad AFTER DELETE ON entries BEGIN
  INSERT INTO entries_fts(entries_fts, rowid, key, value) VALUES ('delete', old.rid, old.key, old.value);
END;
CREATE TRIGGER IF NOT EXISTS entries_au AFTER UPDATE OF key, value ON entries BEGIN
  INSERT INTO entries_fts(entries_fts, rowid, key, value) VALUES ('delete', old.rid, old.key, old.value);
  INSERT INTO entries_fts(rowid, key, value) VALUES (new.rid, new.key, new.value);
END;
"""


def ensure_schema(conn: Any, dialect: Dialect | None = None) -> None:
    """Create every table and index that is missing (idempotent; run it inside a write
    transaction, which makes it safe across processes). Postgres gets its own DDL."""
    if dialect is not None and dialect.fulltext == "tsvector":
        from agentloom.memory._schema_pg import ensure_postgres_schema

        ensure_postgres_schema(conn, SCHEMA_VERSION)
        return
    import sqlite_utils

    db = sqlite_utils.Database(conn)
    names = set(db.table_names())
    if "entries" not in names:
        # rid is an explicit INTEGER PRIMARY KEY so VACUUM never renumbers the FTS rowids.
        db.table("entries").create(
            {
                "rid": int,
                "id": str,
                "ns": str,
                "key": str,
                "value": str,
                "value_format": str,
                "kind": str,
                "fingerprint": str,
                "content_hash": str,
                "team": str,
                "run": str,
                "step": int,
                "citations": str,
                "cost_tokens": int,
                "cost_usd": float,
                "cost_seconds": float,
                "tokens": int,
                "created": float,
                "uses": int,
                "shown": int,
                "last_used": float,
                "verified": int,
                "expires": float,
            },
            pk="rid",
            not_null={"id", "ns", "key", "value", "kind", "content_hash"},
            defaults={"uses": 0, "shown": 0, "verified": 0, "cost_tokens": 0, "cost_usd": 0.0,
                      "cost_seconds": 0.0, "tokens": 0, "value_format": "text", "citations": "[]"},
        )
        db.table("entries").create_index(["id"], unique=True)
        db.table("entries").create_index(["ns", "content_hash"], unique=True)
        db.table("entries").create_index(["ns", "fingerprint"])
        db.table("entries").create_index(["run"])
        conn.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS entries_fts USING fts5("
            "key, value, content='entries', content_rowid='rid', tokenize='porter unicode61')"
        )
        for statement in _TRIGGERS.strip().split("END;"):
            if statement.strip():
                conn.execute(statement + "END;")
        # BM25 with the key weighted twice the value: keys are what teams search by.
        conn.execute("INSERT INTO entries_fts(entries_fts, rank) VALUES ('rank', 'bm25(2.0, 1.0)')")
        # buffer up to 32 MB of new terms per transaction: bulk imports write far fewer segments
        conn.execute("INSERT INTO entries_fts(entries_fts, rank) VALUES ('hashsize', 33554432)")
    if "decisions" not in names:
        db.table("decisions").create(
            {
                "id": int,
                "ns": str,
                "run": str,
                "team": str,
                "step": int,
                "kind": str,
                "source": str,
                "fingerprint": str,
                "content_hash": str,
                "key_tokens": int,
                "value_tokens": int,
                "cost_seconds": float,
                "cost_tokens": int,
                "cost_usd": float,
                "policy": str,
                "fallback": int,
                "score": float,
                "admitted": int,
                "reason": str,
                "entry_id": str,
                "features": str,
                "elapsed_us": float,
                "created": float,
            },
            pk="id",
        )
        db.table("decisions").create_index(["ns", "content_hash"])
        db.table("decisions").create_index(["entry_id"])
        db.table("decisions").create_index(["run", "team"])
    if "reads" not in names:
        db.table("reads").create(
            {
                "id": int,
                "ns": str,
                "entry_id": str,
                "fingerprint": str,
                "team": str,
                "run": str,
                "via": str,
                "saved_seconds": float,
                "saved_tokens": int,
                "saved_usd": float,
                "created": float,
            },
            pk="id",
        )
        db.table("reads").create_index(["entry_id"])
        db.table("reads").create_index(["ns", "via"])
    if "models" not in names:
        db.table("models").create(
            {
                "version": int,
                "created": float,
                "kind": str,
                "features": str,
                "weights": str,
                "bias": float,
                "threshold": float,
                "penalty": float,
                "n_decisions": int,
                "n_positive": int,
                "metrics": str,
            },
            pk="version",
        )
    if "passages" not in names:
        db.table("passages").create({"ns": str, "id": str, "data": str}, pk=("ns", "id"))
    conn.execute("INSERT OR IGNORE INTO loom_meta VALUES ('memory_schema', ?)", (SCHEMA_VERSION,))

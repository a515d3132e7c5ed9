"""Keyword search SQL for the bank, per full-text engine: SQLite's FTS5 (BM25 over an
``entries_fts`` table) or Postgres's ``tsvector`` (``ts_rank`` over a generated column with the
key weighted above the value). Both give ``(rid, r)`` rows where a lower ``r`` is a better match,
so the ranking code above is the same for either."""

from __future__ import annotations

import re

from agentloom.memory._text import fts_query, fts_words
from agentloom.storage import Dialect

__all__ = ["match_expression", "neighbours_sql", "ranked_sql", "rowid_scan_hint"]

_LEXEME = re.compile(r"[^a-z0-9]+")


def match_expression(dialect: Dialect, text: str | None, *, mode: str = "and", limit: int = 12) -> str:
    """A safe query for ``text``: every word quoted (FTS5) or reduced to letters and digits
    (``to_tsquery``), joined with AND or OR; empty when ``text`` has no content word."""
    if dialect.fulltext != "tsvector":
        return fts_query(text, mode=mode, limit=limit)
    words = [w for w in (_LEXEME.sub("", word) for word in fts_words(text, limit)) if w]
    return (" & " if mode == "and" else " | ").join(words)


def ranked_sql(dialect: Dialect, *, capped: bool, limited: bool) -> str:
    """``(rid, r)`` of the matches of one expression (the first parameter), best first; with
    ``capped`` only among the most recent (a ``LIMIT`` parameter), with ``limited`` at most a
    ``LIMIT`` parameter of them."""
    if dialect.fulltext == "tsvector":
        inner = ("SELECT rid, -ts_rank(fts, q) AS r FROM entries, to_tsquery('english', ?) q WHERE fts @@ q")
        if capped:
            inner += " ORDER BY rid DESC LIMIT ?"
        sql = f"SELECT rid, r FROM ({inner}) AS m ORDER BY r, rid"
    else:
        inner = "SELECT rowid, rank AS r FROM entries_fts WHERE entries_fts MATCH ?"
        if capped:
            inner += " ORDER BY rowid DESC LIMIT ?"
        sql = f"SELECT rowid, r FROM ({inner}) AS m ORDER BY r, rowid"
    return sql + (" LIMIT ?" if limited else "")


def neighbours_sql(dialect: Dialect, where: str, cap: int, limit: int) -> str:
    """``key, value`` of the best matches of one expression (the first parameter) among the
    ``cap`` most recent, filtered by ``where`` (alias ``e``)."""
    if dialect.fulltext == "tsvector":
        inner = (f"SELECT rid, -ts_rank(fts, q) AS r FROM entries, to_tsquery('english', ?) q WHERE fts @@ q "
                 f"ORDER BY rid DESC LIMIT {int(cap)}")
        return (f"SELECT e.key, e.value FROM ({inner}) f JOIN entries e ON e.rid = f.rid WHERE {where} "
                f"ORDER BY f.r LIMIT {int(limit)}")
    inner = f"SELECT rowid, rank AS r FROM entries_fts WHERE entries_fts MATCH ? ORDER BY rowid DESC LIMIT {int(cap)}"
    return (f"SELECT e.key, e.value FROM ({inner}) f CROSS JOIN entries e ON e.rid = f.rowid WHERE {where} "
            f"ORDER BY f.r LIMIT {int(limit)}")


def rowid_scan_hint(dialect: Dialect) -> str:
    """SQLite's ``NOT INDEXED`` (look rows up by rowid, not through a scope index); nothing elsewhere."""
    return "" if dialect.fulltext == "tsvector" else "NOT INDEXED"

"""Keeping the bank small: per-run quotas checked at admission, eviction of expired and unread
entries, and clearing a scope (optionally with its logs)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from agentloom.storage import Connection

if TYPE_CHECKING:
    from agentloom.memory._database import BankDatabase

__all__ = ["Hygiene", "quota_refusal"]


def quota_refusal(conn: Connection, ns: str, run: str, tokens: int, *,
                  max_entries: int | None, max_tokens: int | None) -> str | None:
    """Why storing ``tokens`` more for ``run`` would break its quota, or None if it fits."""
    if max_entries is None and max_tokens is None:
        return None
    n, used = conn.execute(
        "SELECT count(*), coalesce(sum(tokens), 0) FROM entries WHERE ns = ? AND run = ?", (ns, run)
    ).fetchone()
    if max_entries is not None and n >= max_entries:
        return f"quota: run {run} already stores {n} entries (limit {max_entries})"
    if max_tokens is not None and used + tokens > max_tokens:
        return f"quota: run {run} would store {used + tokens} tokens (limit {max_tokens})"
    return None


class Hygiene:
    """Eviction and clearing of the entries ``db`` sees."""

    def __init__(self, db: BankDatabase) -> None:
        self.db = db

    def evict(self, *, expired: bool = True, unused_for: float | None = None) -> int:
        """Delete expired entries and, with ``unused_for`` seconds, entries never read that old."""
        where, params = self.db.where()
        now = time.time()
        clauses = []
        if expired:
            clauses.append("(expires IS NOT NULL AND expires <= ?)")
            params = [*params, now]
        if unused_for is not None:
            clauses.append("(uses = 0 AND created <= ?)")
            params = [*params, now - unused_for]
        if not clauses:
            return 0
        sql = f"DELETE FROM entries WHERE {where} AND ({' OR '.join(clauses)})"
        removed = int(self.db.write(lambda c: c.execute(sql, params).rowcount))
        if removed:
            self.db.prune_vectors()
        return removed

    def clear(self, *, logs: bool = False) -> int:
        """Delete every entry in scope (and, with ``logs``, its decisions, reads and, for a
        whole-file view, the trained models). Returns how many entries were deleted."""
        where, params = self.db.where()
        whole_file = self.db.scope == "all"

        def txn(conn: Connection) -> int:
            n = int(conn.execute(f"DELETE FROM entries WHERE {where}", params).rowcount)
            conn.execute(f"DELETE FROM passages WHERE {where}", params)
            if logs:
                conn.execute(f"DELETE FROM decisions WHERE {where}", params)
                conn.execute(f"DELETE FROM reads WHERE {where}", params)
                if whole_file:
                    conn.execute("DELETE FROM models")
            return n

        removed = self.db.write(txn)
        self.db.prune_vectors()
        return removed

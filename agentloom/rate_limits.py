"""Provider rate limits shared by every process: ``RateLimit(requests_per_minute=…,
tokens_per_minute=…)`` on a model.

Each call takes a slot in a one-minute sliding window kept in the budgets database (Postgres
when configured, else ``budgets.db`` in the loom home), keyed by the model's name unless ``key``
names another window, so processes on several machines share one provider quota. A call that
does not fit waits until the oldest slot leaves the window; a wait longer than the run's budget
has seconds left is a ``BudgetExceeded`` instead. After the call, its slot is set to the tokens
the provider reported.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from dataclasses import dataclass

from agentloom.errors import BudgetExceeded, ConfigError
from agentloom.shared_budget import budgets_database
from agentloom.storage import Connection, Database

__all__ = ["WINDOW_SECONDS", "RateLimit"]

#: The window every limit is counted over.
WINDOW_SECONDS = 60.0

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS rate_keys (key TEXT PRIMARY KEY, version BIGINT NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS rate_slots (id TEXT PRIMARY KEY, key TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, "
    "tokens BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS rate_slots_key ON rate_slots (key, at)",
)


def _database() -> Database:
    db = budgets_database()
    if not {"rate_keys", "rate_slots"} <= db.tables():
        try:
            db.write(lambda conn: [conn.execute(sql) for sql in _SCHEMA])
        except Exception:  # another process created them at the same moment
            if not {"rate_keys", "rate_slots"} <= db.tables():
                raise
    return db


@dataclass(frozen=True)
class RateLimit:
    """Requests and tokens per minute that every process calling a model shares."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    key: str | None = None
    """The shared window's name (default: the model's name)."""
    window_seconds: float = WINDOW_SECONDS
    """What the limits are counted over: a minute, as providers count (shorter only in tests)."""

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"rate limit {name}={value!r} must be a whole number of at least 1")
        if not (math.isfinite(self.window_seconds) and self.window_seconds > 0):
            raise ConfigError(f"rate limit window_seconds={self.window_seconds} must be positive")
        if self.requests_per_minute is None and self.tokens_per_minute is None:
            raise ConfigError("a rate limit needs requests_per_minute, tokens_per_minute or both")

    async def acquire(self, model: str, tokens: int, *, seconds_left: float | None = None) -> str:
        """Take a slot for one call of about ``tokens`` tokens, waiting while the window is full;
        returns the slot's id (give it to ``settle``)."""
        key = self.key or model
        if self.tokens_per_minute is not None and tokens > self.tokens_per_minute:
            raise ConfigError(f"model '{model}': one call of {tokens} tokens is more than its rate limit of "
                              f"{self.tokens_per_minute} tokens per minute; raise tokens_per_minute or send less")
        db = _database()
        deadline = None if seconds_left is None else time.monotonic() + seconds_left
        while True:
            slot_id, wait = await db.awrite(lambda conn: self._take(conn, key, tokens, time.time()))
            if slot_id is not None:
                return slot_id
            if deadline is not None and time.monotonic() + wait > deadline:
                raise BudgetExceeded(f"model '{model}': its rate limit ({self._shown()}) would wait {wait:.1f}s, "
                                     "past the budget's time limit", limit="seconds", budget="rate limit")
            await asyncio.sleep(wait)

    def settle(self, slot_id: str, tokens: int) -> None:
        """Count the tokens the provider reported for the call in its slot (not waited for)."""
        _database().submit(lambda conn: conn.execute("UPDATE rate_slots SET tokens = ? WHERE id = ?", (int(tokens), slot_id)))

    def release(self, slot_id: str) -> None:
        """Give back a slot whose call was never sent (not waited for)."""
        _database().submit(lambda conn: conn.execute("DELETE FROM rate_slots WHERE id = ?", (slot_id,)))

    def _shown(self) -> str:
        parts = [f"{self.requests_per_minute} requests" if self.requests_per_minute else "",
                 f"{self.tokens_per_minute} tokens" if self.tokens_per_minute else ""]
        return " and ".join(p for p in parts if p) + " per minute"

    def _take(self, conn: Connection, key: str, tokens: int, now: float) -> tuple[str | None, float]:
        """In one transaction: a slot, or how long until one frees."""
        window = self.window_seconds
        conn.execute("INSERT OR IGNORE INTO rate_keys (key) VALUES (?)", (key,))
        conn.execute("UPDATE rate_keys SET version = version + 1 WHERE key = ?", (key,))  # row lock
        conn.execute("DELETE FROM rate_slots WHERE key = ? AND at <= ?", (key, now - window))
        slots = [(float(at), int(n)) for at, n in conn.execute(
            "SELECT at, tokens FROM rate_slots WHERE key = ? ORDER BY at", (key,)).fetchall()]
        waits = [0.0]
        rpm, tpm = self.requests_per_minute, self.tokens_per_minute
        if rpm is not None and len(slots) + 1 > rpm:
            waits.append(slots[len(slots) - rpm][0] + window - now)
        if tpm is not None:
            used = sum(n for _, n in slots)
            for at, n in slots:
                if used + tokens <= tpm:
                    break
                used -= n
                waits.append(at + window - now)
        wait = max(waits)
        if wait > 0:
            return None, max(wait, 0.01)
        slot_id = uuid.uuid4().hex
        conn.execute("INSERT INTO rate_slots (id, key, at, tokens) VALUES (?, ?, ?, ?)", (slot_id, key, now, tokens))
        return slot_id, 0.0



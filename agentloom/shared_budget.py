"""Limits shared by every process that names them: ``Budget(..., shared="NAME")``.

Spend and live reservations are rows in one database (Postgres when ``AGENTLOOM_DATABASE_URL``
names one, else ``<loom home>/budgets.db``), and a reservation is one transaction that locks the
budget's row first, so processes on several machines cannot overshoot a limit together. Each
reservation is a lease that the holding process renews while it lives; one that dies holding
reservations has them expire after ``lease`` seconds, and the shared ledger says so.
"""

from __future__ import annotations

import json
import math
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from agentloom._paths import loom_home
from agentloom.errors import BudgetExceeded, ConfigError
from agentloom.storage import Connection, Database, open_database

__all__ = ["LEASE_SECONDS", "METERED", "SharedLimits", "SharedTotals", "budgets_database", "stored_limits"]

#: Seconds a reservation of a process that stopped renewing it (it died) stays held.
LEASE_SECONDS = 60.0

#: The limits kept in the database (``seconds`` stays with each run: it is wall time).
METERED = ("usd", "input_tokens", "output_tokens", "tokens", "llm_calls", "tool_calls")

_COLUMNS = ("usd", "input_tokens", "output_tokens", "llm_calls", "tool_calls")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS shared_budgets (name TEXT PRIMARY KEY, limits TEXT NOT NULL, "
    "usd DOUBLE PRECISION NOT NULL DEFAULT 0, input_tokens BIGINT NOT NULL DEFAULT 0, "
    "output_tokens BIGINT NOT NULL DEFAULT 0, llm_calls BIGINT NOT NULL DEFAULT 0, "
    "tool_calls BIGINT NOT NULL DEFAULT 0, version BIGINT NOT NULL DEFAULT 0, created DOUBLE PRECISION)",
    "CREATE TABLE IF NOT EXISTS shared_holds (id TEXT PRIMARY KEY, name TEXT NOT NULL, "
    "usd DOUBLE PRECISION NOT NULL, input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL, "
    "llm_calls BIGINT NOT NULL, tool_calls BIGINT NOT NULL, owner TEXT NOT NULL, what TEXT, "
    "expires DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS shared_holds_name ON shared_holds (name, expires)",
    "CREATE TABLE IF NOT EXISTS shared_ledger (id INTEGER PRIMARY KEY, name TEXT NOT NULL, action TEXT NOT NULL, "
    "what TEXT, amount TEXT NOT NULL, owner TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)",
)

_open: dict[str, Database] = {}
_open_lock = threading.Lock()


def budgets_database() -> Database:
    """The budgets store on the backend in use (one per home or URL, shared by this process)."""
    home = loom_home()
    key = os.environ.get("AGENTLOOM_DATABASE_URL") or str(home)
    with _open_lock:
        db = _open.get(key)
        if db is None:
            home.mkdir(parents=True, exist_ok=True)
            db = open_database(home / "budgets.db", "budgets")
            tables = {"shared_budgets", "shared_holds", "shared_ledger"}
            if not tables <= db.tables():
                try:
                    db.write(lambda conn: [conn.execute(sql) for sql in _SCHEMA])
                except Exception:  # another process created them at the same moment (a DDL race)
                    if not tables <= db.tables():
                        raise
            _open[key] = db
        return db


def stored_limits(name: str) -> dict[str, float | None] | None:
    """The limits shared budget ``name`` was created with (None when no run has created it yet)."""
    rows = budgets_database().read("SELECT limits FROM shared_budgets WHERE name = ?", (name,))
    return json.loads(rows[0][0]) if rows else None


@dataclass(frozen=True)
class SharedTotals:
    """What every process together has spent and holds on one shared budget."""

    limits: dict[str, float | None]
    spent: dict[str, float]
    held: dict[str, float]

    def used(self, key: str) -> float:
        return self.spent[key] + self.held[key]


def _amounts(cost: Any) -> tuple[float, int, int, int, int]:
    return (float(cost.usd), int(cost.input_tokens), int(cost.output_tokens), int(cost.llm_calls), int(cost.tool_calls))


def _by_key(row: tuple[Any, ...]) -> dict[str, float]:
    out = {c: float(v or 0) for c, v in zip(_COLUMNS, row, strict=True)}
    out["tokens"] = out["input_tokens"] + out["output_tokens"]
    return out


def _limits_text(limits: dict[str, float | None]) -> str:
    return json.dumps({k: limits.get(k) for k in METERED}, sort_keys=True)


class SharedLimits:
    """The database side of one shared budget, as one process sees it."""

    def __init__(self, name: str, limits: dict[str, float | None], *, lease: float = LEASE_SECONDS) -> None:
        if not name or not isinstance(name, str):
            raise ConfigError("a shared budget needs a name, e.g. Budget(llm_calls=100, shared='nightly')")
        if not (math.isfinite(lease) and lease > 0):
            raise ConfigError(f"shared budget lease must be positive seconds, got {lease}")
        self.name = name
        self.lease = lease
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.db = budgets_database()
        given = {k: limits.get(k) for k in METERED}
        self.limits = self._agree(given)
        self._live: set[str] = set()
        self._live_lock = threading.Lock()
        self._wake = threading.Event()
        self._renewer: threading.Thread | None = None

    def _agree(self, given: dict[str, float | None]) -> dict[str, float | None]:
        """Create the budget's row with ``given`` limits, or check them against the stored ones."""
        any_given = any(v is not None for v in given.values())

        def txn(conn: Connection) -> str | None:
            row = conn.execute("SELECT limits FROM shared_budgets WHERE name = ?", (self.name,)).fetchone()
            if row is None and any_given:
                conn.execute("INSERT OR IGNORE INTO shared_budgets (name, limits, created) VALUES (?, ?, ?)",
                             (self.name, _limits_text(given), time.time()))
                row = conn.execute("SELECT limits FROM shared_budgets WHERE name = ?", (self.name,)).fetchone()
            return None if row is None else str(row[0])

        stored_text = self.db.write(txn)
        if stored_text is None:
            raise ConfigError(f"shared budget '{self.name}' does not exist yet; give its limits the first time, "
                              f"e.g. Budget(llm_calls=100, shared='{self.name}')")
        stored: dict[str, float | None] = json.loads(stored_text)
        if any_given and stored != json.loads(_limits_text(given)):
            shown = ", ".join(f"{k}={v:g}" for k, v in stored.items() if v is not None)
            raise ConfigError(f"shared budget '{self.name}' already has the limits {shown}; give the same limits, "
                              "or none to use them, or another name")
        return stored

    # ----------------------------------------------------------------- transactions
    def reserve(self, estimate: Any, what: str) -> tuple[str, SharedTotals]:
        """Hold ``estimate`` for this process, or raise ``BudgetExceeded`` naming the limit."""
        hold_id = uuid.uuid4().hex
        amounts = _amounts(estimate)
        need = dict(zip(_COLUMNS, amounts, strict=True))
        need["tokens"] = need["input_tokens"] + need["output_tokens"]

        def txn(conn: Connection) -> tuple[SharedTotals, str | None]:
            now = time.time()
            conn.execute("UPDATE shared_budgets SET version = version + 1 WHERE name = ?", (self.name,))  # row lock
            self._expire(conn, now)
            totals = self._totals(conn)
            for key in METERED:
                limit = totals.limits.get(key)
                if limit is not None and totals.used(key) + need[key] > limit + 1e-12:
                    return totals, (f"shared budget '{self.name}' cannot cover {what or 'a call'}: {key} would "
                                    f"reach {totals.used(key) + need[key]:g} of {limit:g} across all processes|{key}")
            conn.execute("INSERT INTO shared_holds (id, name, usd, input_tokens, output_tokens, llm_calls, tool_calls, "
                         "owner, what, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (hold_id, self.name, *amounts, self.owner, what, now + self.lease))
            return totals, None

        totals, refusal = self.db.write(txn)
        if refusal is not None:
            message, key = refusal.rsplit("|", 1)
            raise BudgetExceeded(message, limit=key, budget=self.name)
        with self._live_lock:
            self._live.add(hold_id)
        self._ensure_renewer()
        return hold_id, totals

    def settle(self, hold_id: str, actual: Any, what: str) -> tuple[list[tuple[str, float, float]], SharedTotals]:
        """Charge ``actual`` in place of the hold; returns the limits it took past (key, over, limit)."""
        amounts = _amounts(actual)

        def txn(conn: Connection) -> tuple[list[tuple[str, float, float]], SharedTotals]:
            now = time.time()
            conn.execute("UPDATE shared_budgets SET version = version + 1, usd = usd + ?, input_tokens = input_tokens + ?, "
                         "output_tokens = output_tokens + ?, llm_calls = llm_calls + ?, tool_calls = tool_calls + ? "
                         "WHERE name = ?", (*amounts, self.name))
            held = conn.execute("DELETE FROM shared_holds WHERE id = ?", (hold_id,)).rowcount
            before = self._totals(conn)
            self._ledger(conn, "settle" if held else "settle_after_expiry", what, dict(zip(_COLUMNS, amounts, strict=True)), now)
            crossed = []
            for key in METERED:
                limit = before.limits.get(key)
                if limit is not None and before.spent[key] > limit + 1e-12:
                    crossed.append((key, before.spent[key] - limit, float(limit)))
            for key, over, limit in crossed:
                self._ledger(conn, "overshoot", f"{key} {over:g} past its limit of {limit:g} ({what})", {key: over}, now)
            return crossed, before

        try:
            return self.db.write(txn)
        finally:
            self._forget(hold_id)

    def release(self, hold_id: str) -> None:
        """Drop a hold whose call was never sent or was cancelled."""
        try:
            self.db.write(lambda conn: conn.execute("DELETE FROM shared_holds WHERE id = ?", (hold_id,)))
        finally:
            self._forget(hold_id)

    def totals(self) -> SharedTotals:
        """Spend and holds of every process, now."""
        return self.db.query(self._totals)

    def ledger(self) -> list[dict[str, Any]]:
        """The shared ledger's rows, oldest first: settles, overshoots and expired leases."""
        rows = self.db.read("SELECT action, what, amount, owner, at FROM shared_ledger WHERE name = ? ORDER BY id", (self.name,))
        return [{"action": a, "what": w, "amount": json.loads(m), "owner": o, "at": t} for a, w, m, o, t in rows]

    # ----------------------------------------------------------------- inside a transaction
    def _totals(self, conn: Connection) -> SharedTotals:
        row = conn.execute(f"SELECT limits, {', '.join(_COLUMNS)} FROM shared_budgets WHERE name = ?", (self.name,)).fetchone()
        held = conn.execute(f"SELECT {', '.join(f'coalesce(sum({c}), 0)' for c in _COLUMNS)} FROM shared_holds "
                            "WHERE name = ?", (self.name,)).fetchone()
        return SharedTotals(limits=json.loads(row[0]), spent=_by_key(tuple(row[1:])), held=_by_key(tuple(held)))

    def _expire(self, conn: Connection, now: float) -> None:
        """Drop holds whose owner stopped renewing them, with a ledger row each."""
        stale = conn.execute(f"SELECT id, owner, what, {', '.join(_COLUMNS)} FROM shared_holds "
                             "WHERE name = ? AND expires < ?", (self.name, now)).fetchall()
        for hold_id, owner, what, *amounts in stale:
            conn.execute("DELETE FROM shared_holds WHERE id = ?", (hold_id,))
            self._ledger(conn, "lease_expired", f"{what or 'a call'} held by {owner}, which stopped renewing it",
                         dict(zip(_COLUMNS, amounts, strict=True)), now)

    def _ledger(self, conn: Connection, action: str, what: str, amount: dict[str, Any], now: float) -> None:
        conn.execute("INSERT INTO shared_ledger (name, action, what, amount, owner, at) VALUES (?, ?, ?, ?, ?, ?)",
                     (self.name, action, what, json.dumps(amount), self.owner, now))

    # ----------------------------------------------------------------- leases
    def _forget(self, hold_id: str) -> None:
        with self._live_lock:
            self._live.discard(hold_id)

    def _ensure_renewer(self) -> None:
        with self._live_lock:
            if self._renewer is not None and self._renewer.is_alive():
                return
            self._renewer = threading.Thread(target=self._renew_loop, name=f"loom-lease-{self.name}", daemon=True)
            self._renewer.start()

    def _renew_loop(self) -> None:
        """Push this process's live holds' expiry forward every third of a lease; stop when none are left."""
        while True:
            self._wake.wait(self.lease / 3)
            with self._live_lock:
                live = sorted(self._live)
                if not live:
                    self._renewer = None
                    return
            rows = [(time.time() + self.lease, hold_id) for hold_id in live]

            def renew(conn: Connection, rows: list[tuple[float, str]] = rows) -> None:
                conn.executemany("UPDATE shared_holds SET expires = ? WHERE id = ?", rows)

            try:
                self.db.write(renew)
            except Exception:  # a lost connection: the holds expire, which is the safe side
                continue

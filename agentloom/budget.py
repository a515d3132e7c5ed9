"""Budget tree: hard limits checked by reservation *before* every call, a ledger of every charge.

A call reserves its worst-case cost (prompt tokens plus ``max_tokens`` at the model's price)
on its budget and on every ancestor; the reservation fails with :class:`BudgetExceeded` if any
limit would be passed, so parallel calls can never overshoot a limit together. After the call,
``settle`` replaces the reservation with the actual cost; on cancel, ``release`` frees it.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentloom.errors import BudgetExceeded, ConfigError
from agentloom.spend import LIMIT_NAMES, BudgetReport, Cost, LedgerRow, Price, cost_of, nonzero

if TYPE_CHECKING:
    from agentloom.shared_budget import SharedLimits, SharedTotals

__all__ = [
    "LIMIT_NAMES",
    "Budget",
    "BudgetReport",
    "Cost",
    "LedgerRow",
    "Price",
    "Reservation",
]

@dataclass(slots=True)
class Reservation:
    """A hold on a budget for one call; settle it with the actual cost or release it."""

    budget: Budget
    amount: Cost
    what: str
    id: int
    done: bool = False
    shared_id: str | None = None
    """The hold's id in the shared budget's database, when the root is shared."""

    def settle(self, actual: Cost) -> None:
        self.budget.settle(self, actual)

    def release(self) -> None:
        self.budget.release(self)

    def figures(self, settled: Cost) -> dict[str, Any]:
        """What this call reserved, what it settled for and what its budget has left (units that
        are not zero, limits that are set): the budget part of the call's event."""
        return {"reserved": nonzero(self.amount), "settled": nonzero(settled), "remaining": self.budget.left()}


_ids = itertools.count(1)


class Budget:
    """Hard limits on usd, tokens, calls and seconds for a run or a branch of it.

    Any limit may be ``None`` (unlimited). ``child()`` makes a branch budget whose spend also
    counts against every ancestor, so a branch is always capped by its parent's remainder.
    Thread- and asyncio-safe: every check-and-reserve happens under one lock per tree.

    ``shared="NAME"`` (on a root budget) also holds every reservation in the database, against
    limits that every process naming the same budget shares (see ``agentloom.shared_budget``);
    ``seconds`` stays this run's own.
    """

    def __init__(
        self,
        usd: float | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        tokens: int | None = None,
        llm_calls: int | None = None,
        tool_calls: int | None = None,
        seconds: float | None = None,
        *,
        name: str = "root",
        shared: str | None = None,
        _parent: Budget | None = None,
    ) -> None:
        limits = {
            "usd": usd,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "tokens": tokens,
            "llm_calls": llm_calls,
            "tool_calls": tool_calls,
            "seconds": seconds,
        }
        for key, value in limits.items():
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"budget limit {key}={value!r} must be a number or None")
            if not math.isfinite(value):
                raise ConfigError(f"budget limit {key}={value} is not a finite number; give a number, or None for no limit")
            if value < 0:
                raise ConfigError(f"budget limit {key}={value} is negative; use a positive limit or None")
        self.name = name
        self._shared: SharedLimits | None = None
        self._shared_totals: SharedTotals | None = None
        if shared is not None:
            from agentloom.shared_budget import SharedLimits

            self._shared = SharedLimits(shared, limits)
            limits = self._shared.limits | {"seconds": seconds}
        self.limits: dict[str, float | None] = limits
        self.parent = _parent
        self.children: list[Budget] = []
        self.spent = Cost()
        self.reserved = Cost()
        #: How far spend went past each limit (a provider reported more than was reserved).
        self.overshoot: dict[str, float] = {}
        self.started = time.monotonic()
        self._lock: threading.Lock = _parent._lock if _parent is not None else threading.Lock()
        self._ledger: list[LedgerRow] = [] if _parent is None else _parent._ledger
        self._sinks: list[Callable[[LedgerRow], None]] = [] if _parent is None else _parent._sinks

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_limits(cls, limits: dict[str, Any] | None, *, name: str = "root") -> Budget:
        """Build from a mapping such as a YAML ``budget:`` block; unknown keys are an error."""
        limits = dict(limits or {})
        shared = limits.pop("shared", None)
        unknown = sorted(set(limits) - set(LIMIT_NAMES))
        if unknown:
            raise ConfigError(f"unknown budget limit(s) {', '.join(unknown)}; known: {', '.join(LIMIT_NAMES)}, shared")
        return cls(**limits, name=name, shared=shared)

    @property
    def shared(self) -> str | None:
        """The shared budget's name, when this root's limits are shared across processes."""
        return self._shared.name if self._shared is not None else None

    def child(self, name: str | None = None, **limits: float | None) -> Budget:
        """A branch budget; its spend also counts against this one (and all ancestors)."""
        unknown = sorted(set(limits) - set(LIMIT_NAMES))
        if unknown:
            raise ConfigError(f"unknown budget limit(s) {', '.join(unknown)}")
        with self._lock:
            remaining = self._remaining_locked()
            capped: dict[str, Any] = {}
            for key in LIMIT_NAMES:
                own = limits.get(key)
                rem = remaining.get(key)
                if own is None:
                    capped[key] = None
                else:
                    capped[key] = own if rem is None else min(own, max(rem, 0))
            child = Budget(**capped, name=name or f"{self.name}.{len(self.children) + 1}", _parent=self)
            self.children.append(child)
        return child

    def share(self, name: str) -> None:
        """Hold this root's limits in the database under ``name`` from now on, so other processes
        (a run's Ray workers) can charge it too; before anything is reserved, and only once."""
        if self.parent is not None or self._shared is not None:
            raise ConfigError(f"budget '{self.name}' cannot be shared as '{name}': only an unshared root budget can")
        with self._lock:
            if any(self.reserved.get(k) or self.spent.get(k) for k in ("usd", "tokens", "llm_calls", "tool_calls")):
                raise ConfigError(f"budget '{self.name}' was charged by an earlier run, so its workers cannot share it; "
                                  "give each run its own Budget, or name one with Budget(..., shared='NAME')")
        from agentloom.shared_budget import SharedLimits

        self._shared = SharedLimits(name, self.limits)

    def metered_limits(self) -> dict[str, float | None]:
        """The limits other than ``seconds`` (the ones a shared budget keeps in the database)."""
        return {k: v for k, v in self.limits.items() if k != "seconds"}

    def absorb(self, actual: Cost) -> None:
        """Count spend that another process already charged to this budget's shared root (a
        branch that ran on a Ray worker) in this tree's own totals, without charging it again."""
        with self._lock:
            for node in self._path():
                node.spent = node.spent + actual

    def on_charge(self, sink: Callable[[LedgerRow], None]) -> Callable[[], None]:
        """Call ``sink`` with every ledger row of this tree (the run store attaches here); returns
        the function that detaches it, so a budget shared by many runs does not keep old sinks."""
        self._sinks.append(sink)

        def detach() -> None:
            if sink in self._sinks:
                self._sinks.remove(sink)

        return detach

    # ----------------------------------------------------------------- reservations
    def _path(self) -> Iterator[Budget]:
        node: Budget | None = self
        while node is not None:
            yield node
            node = node.parent

    def reserve(self, estimate: Cost, *, what: str = "") -> Reservation:
        """Hold ``estimate`` on this budget and its ancestors, or raise ``BudgetExceeded``."""
        now = time.monotonic()
        with self._lock:
            for node in self._path():
                limit_s = node.limits["seconds"]
                if limit_s is not None and now - node.started >= limit_s:
                    raise BudgetExceeded(
                        f"budget '{node.name}' ran out of time ({limit_s:g}s) before {what or 'a call'}",
                        limit="seconds",
                        budget=node.name,
                    )
                for key in ("usd", "input_tokens", "output_tokens", "tokens", "llm_calls", "tool_calls"):
                    limit = node.limits[key]
                    if limit is None:
                        continue
                    need = node.spent.get(key) + node.reserved.get(key) + estimate.get(key)
                    if need > limit + 1e-12:
                        raise BudgetExceeded(
                            f"budget '{node.name}' cannot cover {what or 'a call'}: {key} would reach "
                            f"{need:g} of {limit:g}",
                            limit=key,
                            budget=node.name,
                        )
            for node in self._path():
                node.reserved = node.reserved + estimate
        root = self.root()
        if root._shared is None:
            return Reservation(self, estimate, what, next(_ids))
        try:  # outside the lock: a database round trip must not hold up the other branches
            hold_id, totals = root._shared.reserve(estimate, what)
        except BaseException:
            with self._lock:
                for node in self._path():
                    node.reserved = node.reserved - estimate
            raise
        root._shared_totals = totals
        return Reservation(self, estimate, what, next(_ids), shared_id=hold_id)

    def root(self) -> Budget:
        """The top of this budget's tree (the run's budget): what limits every branch together."""
        node = self
        while node.parent is not None:
            node = node.parent
        return node

    def settle(self, reservation: Reservation, actual: Cost) -> None:
        """Replace a reservation by what the call actually cost."""
        with self._lock:
            if reservation.done:
                return
            reservation.done = True
            crossed: list[tuple[str, str, float, float]] = []
            for node in self._path():
                node.reserved = node.reserved - reservation.amount
                node.spent = node.spent + actual  # what was reported, even past the reservation
                if node._shared is not None:
                    continue  # a shared root's overshoot is measured across processes, below
                for key in ("usd", "input_tokens", "output_tokens", "tokens", "llm_calls", "tool_calls"):
                    limit = node.limits[key]
                    if limit is not None and node.spent.get(key) > limit + 1e-12:
                        over = node.spent.get(key) - limit
                        if over > node.overshoot.get(key, 0.0) + 1e-12:
                            node.overshoot[key] = over
                            crossed.append((node.name, key, over, limit))
        self._log("settle", reservation.what, actual)
        root = self.root()
        if root._shared is not None and reservation.shared_id is not None:
            shared_crossed, root._shared_totals = root._shared.settle(reservation.shared_id, actual, reservation.what)
            with self._lock:
                for key, over, limit in shared_crossed:
                    if over > root.overshoot.get(key, 0.0) + 1e-12:
                        root.overshoot[key] = over
                        crossed.append((f"{root.name} (shared '{root._shared.name}')", key, over, limit))
        for name, key, over, limit in crossed:  # new calls are refused from now on (reserve sees spent > limit)
            self._log("overshoot", f"{name}: {key} {over:g} past its limit of {limit:g} ({reservation.what})",
                      cost_of(key, over))

    def release(self, reservation: Reservation) -> None:
        """Free a reservation whose call was cancelled or never sent."""
        with self._lock:
            if reservation.done:
                return
            reservation.done = True
            for node in self._path():
                node.reserved = node.reserved - reservation.amount
        root = self.root()
        if root._shared is not None and reservation.shared_id is not None:
            root._shared.release(reservation.shared_id)
        self._log("release", reservation.what, reservation.amount)

    def charge(self, actual: Cost, *, what: str = "") -> None:
        """Reserve and settle in one step, for costs known only after the fact."""
        self.settle(self.reserve(actual, what=what), actual)

    @contextmanager
    def hold(self, estimate: Cost, *, what: str = "") -> Iterator[Reservation]:
        """Reserve for the body; release if it raises before settling."""
        reservation = self.reserve(estimate, what=what)
        try:
            yield reservation
        finally:
            if not reservation.done:
                self.release(reservation)

    def _log(self, action: str, what: str, amount: Cost) -> None:
        row = LedgerRow(self.name, action, what, amount.to_dict(), time.time())
        self._ledger.append(row)
        for sink in list(self._sinks):
            sink(row)

    # ----------------------------------------------------------------- reading
    @property
    def ledger(self) -> list[LedgerRow]:
        return list(self._ledger)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def shift_clock(self, seconds: float) -> None:
        """Count ``seconds`` more run time on this budget and its ancestors (negative: less), so
        a ``seconds`` limit and wall time cover run time on both sides of an approval pause and
        never the time a person took to answer."""
        node: Budget | None = self
        while node is not None:
            node.started -= seconds
            node = node.parent

    def _used(self, key: str) -> float:
        """Spent plus reserved of one limit; for a shared root, across every process as last seen."""
        local = self.spent.get(key) + self.reserved.get(key)
        totals = self._shared_totals
        return max(local, totals.used(key)) if totals is not None else local

    def _remaining_locked(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for key in LIMIT_NAMES:
            best: float | None = None
            for node in self._path():
                limit = node.limits[key]
                if limit is None:
                    continue
                if key == "seconds":
                    rem = limit - (time.monotonic() - node.started)
                else:
                    rem = limit - node._used(key)
                best = rem if best is None else min(best, rem)
            out[key] = best
        return out

    def remaining(self) -> dict[str, float | None]:
        """What is left per limit, the tightest along the path to the root (None = unlimited)."""
        with self._lock:
            return self._remaining_locked()

    def left(self) -> dict[str, float]:
        """``remaining()`` for the limits that are set only, rounded (for events and traces)."""
        return {k: round(v, 6) for k, v in self.remaining().items() if v is not None}

    def remaining_fraction(self) -> float:
        """The smallest fraction left of any limited dimension along the path; 1.0 if unlimited."""
        with self._lock:
            frac = 1.0
            for node in self._path():
                for key in LIMIT_NAMES:
                    limit = node.limits[key]
                    if limit is None:
                        continue
                    used = time.monotonic() - node.started if key == "seconds" else node._used(key)
                    frac = min(frac, max(0.0, 1 - used / limit) if limit else 0.0)  # a zero limit is exhausted
            return frac

    @property
    def exhausted(self) -> bool:
        return self.remaining_fraction() <= 0.0

    def report(self) -> BudgetReport:
        with self._lock:
            return self._report_locked()

    def _report_locked(self) -> BudgetReport:
        return BudgetReport(
            name=self.name,
            limits=dict(self.limits),
            spent=self.spent.to_dict(),
            reserved=self.reserved.to_dict(),
            elapsed_s=self.elapsed(),
            children=[c._report_locked() for c in self.children],
            overshoot=dict(self.overshoot),
            shared=None if self._shared is None or self._shared_totals is None
            else {"name": self._shared.name, "spent": dict(self._shared_totals.spent)},
        )

    def __repr__(self) -> str:
        set_limits = ", ".join(f"{k}={v:g}" for k, v in self.limits.items() if v is not None)
        return f"Budget({self.name!r}{', ' if set_limits else ''}{set_limits})"

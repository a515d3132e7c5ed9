"""Identical tool calls in flight, process-wide: the first caller runs the tool, later callers
(any team, any bank object on the same file, any thread or event loop) wait for its result."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Flight", "claim", "publish", "finish", "wait", "in_flight"]

FlightKey = tuple[str, str, str]  # (database file, scope, fingerprint)


@dataclass(eq=False)
class Flight:
    """One running call. ``future`` resolves to the leader's outcome, or ``None`` when the
    leader gave up (cancelled, out of budget): waiters then try again themselves."""

    key: FlightKey
    team: str | None
    started: float = field(default_factory=time.time)
    future: concurrent.futures.Future[Any] = field(default_factory=concurrent.futures.Future)
    waiters: int = 0


_lock = threading.Lock()
_flights: dict[FlightKey, Flight] = {}


def claim(key: FlightKey, team: str | None) -> tuple[Flight, bool]:
    """The flight for ``key`` and whether the caller leads it (must run the call and finish it).
    A flight whose result is published but not yet stored is still joined, so no caller runs
    the call again in the moment between the two."""
    with _lock:
        flight = _flights.get(key)
        if flight is not None and (not flight.future.done() or flight.future.result() is not None):
            flight.waiters += 1
            return flight, False
        flight = _flights[key] = Flight(key, team)
        return flight, True


def publish(flight: Flight, outcome: Any) -> None:
    """Wake the waiters with the leader's outcome (``None``: they retry); the flight stays
    joinable until ``finish``."""
    if not flight.future.done():
        flight.future.set_result(outcome)


def finish(flight: Flight, outcome: Any = None) -> None:
    """Publish (if not done yet) and retire the flight."""
    publish(flight, outcome)
    with _lock:
        if _flights.get(flight.key) is flight:
            del _flights[flight.key]


async def wait(flight: Flight) -> Any:
    """Await the leader's outcome from any event loop; cancelling the waiter never cancels it."""
    return await asyncio.shield(asyncio.wrap_future(flight.future))


def in_flight() -> int:
    """How many distinct calls are running right now (for tests and stats)."""
    with _lock:
        return len(_flights)

"""Event feeds for the browser. Runs that ``loom ui`` starts itself run in its own event loop
and their typed events reach the page as they happen (every kind, span starts and in-flight
tool calls included). A run started by another process is followed by polling the run store:
only the stored kinds, and only as the run flushes them (at span ends)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from agentloom.events import Event, event_type

__all__ = ["LiveRun", "LiveRuns", "event_json", "stored_json"]

POLL_SECONDS = 0.5


def event_json(event: Event) -> dict[str, Any]:
    """A typed event as the page reads it: the store's row plus its type name."""
    row = event.to_row()
    row["type"] = type(event).__name__
    return row


def stored_json(row: dict[str, Any]) -> dict[str, Any]:
    """A stored event row as the page reads it."""
    return dict(row) | {"type": event_type(str(row.get("kind") or "")).__name__}


@dataclass
class LiveRun:
    """A run this process started: its events so far, and whether it ended."""

    run_id: str
    question: str
    limits: dict[str, float]
    events: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    status: str = "running"
    error: str | None = None
    task: asyncio.Task[Any] | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        self._wake.set()

    async def changed(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            pass
        self._wake.clear()


class LiveRuns:
    """The runs started from the page, by id."""

    def __init__(self) -> None:
        self.runs: dict[str, LiveRun] = {}

    def start(self, run: LiveRun, body: Callable[[Callable[[Event], None]], Coroutine[Any, Any, Any]]) -> None:
        """Run ``body(listener)`` as a task of the running loop, collecting its events."""
        loop, thread = asyncio.get_running_loop(), threading.get_ident()

        def add(event: Event) -> None:
            run.events.append(event_json(event))
            run.notify()

        def listener(event: Event) -> None:
            if threading.get_ident() == thread:
                add(event)
            else:
                loop.call_soon_threadsafe(add, event)

        async def wrapped() -> None:
            try:
                result = await body(listener)
                run.status = str(getattr(result, "status", "ok") or "ok")
            except Exception as exc:  # the page shows it; the server keeps serving
                run.status, run.error = "error", f"{type(exc).__name__}: {exc}"
            finally:
                run.done = True
                run.notify()

        self.runs[run.run_id] = run
        run.task = asyncio.ensure_future(wrapped())

    async def close(self) -> None:
        for run in self.runs.values():
            if run.task is not None and not run.task.done():
                run.task.cancel()


async def follow_live(run: LiveRun, keepalive: float = 15.0) -> AsyncIterator[dict[str, Any] | None]:
    """Every event of ``run`` from the first, then None as a keep-alive while it is quiet."""
    sent = 0
    while True:
        while sent < len(run.events):
            sent += 1
            yield run.events[sent - 1]
        if run.done:
            return
        before = sent
        await run.changed(keepalive)
        if sent == len(run.events) == before and not run.done:
            yield None


async def follow_stored(
    read: Callable[[], tuple[list[dict[str, Any]], bool]], keepalive: float = 15.0
) -> AsyncIterator[dict[str, Any] | None]:
    """Poll ``read() -> (rows, finished)`` and yield each new row once, until the run is finished."""
    sent, quiet = 0, 0.0
    while True:
        rows, finished = await asyncio.to_thread(read)
        for row in rows[sent:]:
            yield stored_json(row)
        sent = max(sent, len(rows))
        if finished:
            return
        await asyncio.sleep(POLL_SECONDS)
        quiet += POLL_SECONDS
        if quiet >= keepalive:
            quiet = 0.0
            yield None

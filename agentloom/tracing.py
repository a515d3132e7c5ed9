"""The run context that flows with every asyncio task: run id, store, budget, team, span.

LangGraph nodes, tool calls and model calls all run inside tasks that copy the current
``contextvars`` context, so a branch started under a span records its events under it without
every function having to pass the store and budget along.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from agentloom import events as ev

if TYPE_CHECKING:
    from agentloom.budget import Budget, LedgerRow
    from agentloom.runstore import RunStore

__all__ = ["RunContext", "current", "use", "emit", "emit_event", "span", "new_span_id", "ledger_sink", "Listener"]

Listener = Callable[[ev.Event], None]


def new_span_id() -> str:
    return os.urandom(6).hex()


@dataclass
class RunContext:
    """Where events go and what they are charged to, for the code running now."""

    run_id: str = ""
    store: RunStore | None = None
    budget: Budget | None = None
    team: str | None = None
    span_id: str | None = None
    memory: Any = None
    listeners: list[Listener] = field(default_factory=list)

    def derive(self, **changes: Any) -> RunContext:
        return replace(self, **changes)


_current: ContextVar[RunContext | None] = ContextVar("agentloom_run", default=None)


def current() -> RunContext | None:
    """The run context of the running code, or None outside any run."""
    return _current.get()


@contextmanager
def use(ctx: RunContext) -> Iterator[RunContext]:
    """Make ``ctx`` current for the body (and every task started inside it)."""
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def emit(
    kind: str,
    name: str,
    *,
    start: float | None = None,
    end: float | None = None,
    status: str = "ok",
    data: dict[str, Any] | None = None,
    error: str | None = None,
    span_id: str | None = None,
    ctx: RunContext | None = None,
    event_cls: type[ev.Event] | None = None,
) -> ev.Event | None:
    """Record one typed event in the current run (store and live listeners); no-op outside a
    run. Its class comes from ``kind`` (see ``events.event_type``) unless ``event_cls`` says."""
    ctx = ctx or _current.get()
    if ctx is None:
        return None
    now = time.time()
    event = ev.build(
        event_cls or ev.event_type(kind),
        kind=kind,
        name=name,
        run_id=ctx.run_id,
        span_id=span_id or new_span_id(),
        parent_id=ctx.span_id,
        team=ctx.team,
        start=now if start is None else start,
        end=end if end is not None else now,
        status=status,
        data=data or {},
        error=error,
    )
    emit_event(event, ctx)
    return event


def emit_event(event: ev.Event, ctx: RunContext | None = None) -> None:
    """Hand a built event to the run's consumers: the store (kinds it keeps) and listeners."""
    ctx = ctx or _current.get()
    if ctx is None:
        return
    if ctx.store is not None and event.stored:
        ctx.store.add_event(event.to_row())
    for listener in ctx.listeners:
        listener(event)


@contextmanager
def span(kind: str, name: str, *, team: str | None = None, **data: Any) -> Iterator[RunContext]:
    """A nested span: events inside it get it as parent; its own event is written at the end."""
    parent = _current.get()
    if parent is None:
        yield RunContext()
        return
    span_id = new_span_id()
    ctx = parent.derive(span_id=span_id, team=team if team is not None else parent.team)
    start = time.time()
    # a graph node run for one team of a fan-out (LangGraph Send) is a branch, like an explicit one
    branch = kind == "branch" or (kind == "node" and ctx.team is not None and ctx.team != parent.team)
    if parent.listeners:
        emit(f"{kind}_start", name, start=start, end=start, data=data, span_id=span_id, ctx=parent.derive(team=ctx.team),
             event_cls=ev.BranchStarted if branch else None)
    status, error = "ok", None
    token = _current.set(ctx)
    try:
        yield ctx
    except BaseException as exc:
        status, error = ("cancelled" if isinstance(exc, GeneratorExit | KeyboardInterrupt) else "error"), repr(exc)
        import asyncio

        if isinstance(exc, asyncio.CancelledError):
            status = "cancelled"
        if any(c.__name__ == "GraphBubbleUp" for c in type(exc).__mro__):  # LangGraph interrupt(): paused, not failed
            status, error = "waiting", None
        raise
    finally:
        _current.reset(token)
        emit(kind, name, start=start, status=status, data=data, error=error, span_id=span_id, ctx=parent.derive(team=ctx.team),
             event_cls=ev.BranchFinished if branch else None)
        if parent.store is not None:
            parent.store.flush()


def ledger_sink(ctx: RunContext) -> Callable[[LedgerRow], None]:
    """A budget ledger sink that writes each charge as a ``budget`` event of ``ctx``'s run."""

    def sink(row: LedgerRow) -> None:
        emit(
            "budget",
            row.action,
            start=row.at,
            end=row.at,
            data={"budget": row.budget, "what": row.what, **row.amount},
            ctx=_current.get() or ctx,
        )

    return sink

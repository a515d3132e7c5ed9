"""The typed event stream: one frozen record per thing that happens in a run.

Producers call ``tracing.emit`` (or ``tracing.emit_event``); every event goes to the run store
(the kinds worth keeping) and to the run's listeners: the live view, ``stream()`` consumers and,
later, OpenTelemetry and the web view. Each event carries its run id, its span id and its
parent span id, so consumers can rebuild the tree.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Generic, TypeVar

__all__ = [
    "ApprovalRequested",
    "BranchFinished",
    "BranchStarted",
    "BudgetChanged",
    "Event",
    "EventStream",
    "MemoryHit",
    "ModelCall",
    "Note",
    "PlanMade",
    "RunFinished",
    "RunStarted",
    "SpanStarted",
    "TokenDelta",
    "TokensDropped",
    "ToolCall",
    "ToolResult",
    "Verdict",
    "build",
    "event_type",
    "stream_run",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """What every event has: where it belongs (run, span, parent, team), when, how it ended,
    and the producer's payload ``data`` (kept whole for the run store)."""

    kind: str
    name: str
    run_id: str = ""
    span_id: str = ""
    parent_id: str | None = None
    team: str | None = None
    start: float = 0.0
    end: float = 0.0
    status: str = "ok"
    data: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    stored: ClassVar[bool] = True
    """Whether the run store keeps this type (token deltas and span starts are live-only)."""

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_row(self) -> dict[str, Any]:
        """The run store's row for this event (the common fields only)."""
        row = {f: getattr(self, f) for f in _COMMON}
        row["data"] = dict(self.data)
        row["duration"] = self.duration
        return row

    @classmethod
    def _extra(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """Typed fields of a subclass, read from the producer's payload."""
        return {}


_COMMON = ("run_id", "span_id", "parent_id", "kind", "name", "team", "start", "end", "status", "error")


@dataclass(frozen=True, slots=True, kw_only=True)
class Note(Event):
    """Any other recorded step (a decision, a deferral, a crossover, a selection ...)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(Event):
    """A top-level run began; ``data`` holds its input."""

    stored: ClassVar[bool] = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished(Event):
    """A top-level run ended with ``status``; ``dropped_deltas`` is set by a stream that had to
    drop token deltas for a slow consumer."""

    stored: ClassVar[bool] = False
    dropped_deltas: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanMade(Event):
    """A planner chose width and depth, and says why."""

    width: int | None = None
    depth: int | None = None
    reason: str = ""

    @classmethod
    def _extra(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        width, depth = data.get("width"), data.get("depth")
        return {"width": width if isinstance(width, int) else None, "depth": depth if isinstance(depth, int) else None,
                "reason": str(data.get("reason") or "")}


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanStarted(Event):
    """A span (graph node, agent, evolve ...) began; its end is a later event with the same span id."""

    stored: ClassVar[bool] = False


@dataclass(frozen=True, slots=True, kw_only=True)
class BranchStarted(SpanStarted):
    """A branch of a fan-out began."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BranchFinished(Event):
    """A branch of a fan-out ended (``status`` ok, error or cancelled)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelCall(Event):
    """One model call (or stream) with its purpose, tokens and cost."""

    purpose: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    usd: float = 0.0

    @classmethod
    def _extra(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"purpose": str(data.get("purpose") or ""), "input_tokens": int(data.get("input_tokens") or 0),
                "output_tokens": int(data.get("output_tokens") or 0), "usd": float(data.get("usd") or 0.0)}


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenDelta(Event):
    """A piece of text from a streaming model call; the only kind a full stream drops."""

    stored: ClassVar[bool] = False
    text: str = ""

    @classmethod
    def _extra(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"text": str(data.get("text") or "")}


@dataclass(frozen=True, slots=True, kw_only=True)
class TokensDropped(Event):
    """A slow consumer's buffer was full: ``count`` token deltas were dropped before this point."""

    stored: ClassVar[bool] = False
    count: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall(Event):
    """A tool call was issued (its outcome is the ``ToolResult`` with the same call id)."""

    stored: ClassVar[bool] = False
    call_id: str = ""

    @classmethod
    def _extra(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"call_id": str(data.get("call_id") or "")}


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResult(Event):
    """A tool call finished: ``status`` ok, error, cached, coalesced or cancelled."""

    call_id: str = ""

    @classmethod
    def _extra(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"call_id": str(data.get("call_id") or "")}


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetChanged(Event):
    """A reservation, settlement or release on a budget (``name`` is the action)."""

    budget: str = ""
    amount: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def _extra(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"budget": str(data.get("budget") or ""),
                "amount": {k: v for k, v in data.items() if k not in ("budget", "what")}}


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryHit(Event):
    """A tool call was served from the memory bank (or joined an identical call in flight)."""

    via: str = ""

    @classmethod
    def _extra(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"via": str(data.get("via") or "")}


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict(Event):
    """A verifier's judgement of a candidate."""

    score: float | None = None

    @classmethod
    def _extra(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        score = data.get("score")
        return {"score": float(score) if isinstance(score, int | float) else None}


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalRequested(Event):
    """A run waits for a person to approve (plan, spend or tool)."""

    gate: str = ""

    @classmethod
    def _extra(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"gate": str(data.get("gate") or "")}


_BY_KIND: dict[str, type[Event]] = {
    "run_started": RunStarted,
    "run_finished": RunFinished,
    "branch_start": BranchStarted,
    "branch": BranchFinished,
    "model_call": ModelCall,
    "token": TokenDelta,
    "tool_start": ToolCall,
    "tool_call": ToolResult,
    "budget": BudgetChanged,
    "memory_hit": MemoryHit,
    "verdict": Verdict,
    "approval_requested": ApprovalRequested,
}


def event_type(kind: str) -> type[Event]:
    """The event class for a recorded ``kind`` (span starts end in ``_start``)."""
    found = _BY_KIND.get(kind)
    if found is not None:
        return found
    return SpanStarted if kind.endswith("_start") else Note


def build(cls: type[Event], **fields: Any) -> Event:
    """An event of ``cls`` with its typed fields filled from ``fields['data']``."""
    return cls(**fields, **cls._extra(fields.get("data") or {}))


class EventStream(Generic[T]):
    """One consumer's bounded buffer of events, fed by a run's listener.

    The run never waits for the consumer: past ``maxsize`` buffered events, token deltas are
    dropped (and counted, reported as a ``TokensDropped`` event before the next one delivered
    and on ``RunFinished``); every other event is kept. After iteration, ``result`` holds what
    the run returned (or the iteration raised its error)."""

    def __init__(self, maxsize: int = 10_000) -> None:
        self.maxsize = maxsize
        self.dropped = 0
        self._pending_drops = 0
        self._items: deque[Event] = deque()
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._done = False
        self._task: asyncio.Task[T] | None = None
        self.result: T | None = None

    def __call__(self, event: Event) -> None:
        """The listener: buffer ``event`` (from any thread)."""
        if len(self._items) >= self.maxsize and isinstance(event, TokenDelta):
            self.dropped += 1
            self._pending_drops += 1
            return
        self._items.append(event)
        if threading.get_ident() == self._thread:
            self._wake.set()
        else:
            self._loop.call_soon_threadsafe(self._wake.set)

    def start(self, run: Callable[[EventStream[T]], Awaitable[T]]) -> EventStream[T]:
        async def body() -> T:
            try:
                return await run(self)
            finally:
                self._done = True
                self._wake.set()

        self._task = asyncio.ensure_future(body())
        return self

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        assert self._task is not None, "start() the stream first"
        try:
            while True:
                while self._items:
                    event = self._items.popleft()
                    if self._pending_drops:
                        count, self._pending_drops = self._pending_drops, 0
                        yield TokensDropped(kind="tokens_dropped", name="stream", run_id=event.run_id, span_id="",
                                            start=event.start, end=event.start, count=count)
                    if isinstance(event, RunFinished) and self.dropped:
                        event = _with_drops(event, self.dropped)
                    yield event
                if self._done:
                    break
                self._wake.clear()
                if not self._items and not self._done:
                    await self._wake.wait()
            self.result = await self._task
        finally:
            if not self._task.done():
                self._task.cancel()
                try:
                    await self._task
                except (asyncio.CancelledError, Exception):
                    pass


def _with_drops(event: RunFinished, dropped: int) -> RunFinished:
    return replace(event, dropped_deltas=dropped)


def stream_run(run: Callable[[Callable[[Event], None]], Awaitable[T]], *, maxsize: int = 10_000) -> EventStream[T]:
    """Start ``run(listener)`` as a task and return the stream of its events (iterate it with
    ``async for``). Leaving the loop early cancels the run."""
    stream: EventStream[T] = EventStream(maxsize)
    return stream.start(lambda s: run(s))

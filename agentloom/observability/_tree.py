"""One run's events folded into finished spans: ``RunSpans`` is a listener of the typed event
stream (nothing else is instrumented) that hands each ``SpanRecord`` to a sink as its span ends.

Span ids and parents are the events' own (hex span ids become OTLP span ids; the trace id comes
from the run id), so the tree in a trace backend is the tree in the run store. An ending event
(a span's end, a model call, a tool result, a verdict) becomes a span; a point event inside an
open span (a plan, a memory hit, a decision) becomes an OTLP span event on it, and a plan's
width and depth become attributes of its span and of the run's.

A map node runs as LangGraph steps with no span of its own, its branches being children of the
run; the trace gives the branches of map ``NAME`` (``NAME[i]``) a ``node NAME`` span (id derived
from the run and the name, from the first branch's start to the last one's end, sent when the
run ends) so that the tree reads run, node, branch.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentloom import events as ev
from agentloom.observability._attributes import AttrValue, clean, event_attributes, flat, span_name, text

__all__ = ["RunSpans", "SpanRecord", "span_int", "trace_int"]

#: Point events that repeat what a span already says (a graph node's own summary line).
_DUPLICATES = frozenset({"graph_node"})
#: Budget actions worth a span event (a settle is already on the call's span).
_BUDGET_NOTES = frozenset({"release", "overshoot"})
#: A map branch's name: the map node's name and the item's index.
_BRANCH_NAME = re.compile(r"^(.+)\[\d+\]$")


@dataclass(slots=True)
class SpanRecord:
    """A finished span, ready for any exporter: ids as OTLP integers, times in ns since the epoch."""

    name: str
    trace_id: int
    span_id: int
    parent_id: int | None
    start_ns: int
    end_ns: int
    attributes: dict[str, AttrValue]
    events: list[tuple[str, int, dict[str, AttrValue]]] = field(default_factory=list)
    error: str | None = None
    client: bool = False
    """A call out of the process (a model call), OTLP span kind CLIENT."""


@dataclass(slots=True)
class _Open:
    """A span that has started and not ended: what its children left for it."""

    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, int, dict[str, AttrValue]]] = field(default_factory=list)


@dataclass(slots=True)
class _MapNode:
    """The span the trace gives a map node's branches: its id and the time they cover."""

    span_id: str
    team: str | None
    start: float
    end: float
    branches: int = 0
    failed: int = 0


def trace_int(run_id: str) -> int:
    """A stable 128-bit trace id for a run (every process exporting that run agrees on it)."""
    return int.from_bytes(hashlib.blake2b(run_id.encode(), digest_size=16).digest(), "big") or 1


def span_int(span_id: str) -> int:
    """The 64-bit OTLP span id of an event's hex span id (hashed when it is not hex)."""
    try:
        value = int(span_id, 16)
    except ValueError:
        value = 0
    if not 0 < value < 1 << 64:
        value = int.from_bytes(hashlib.blake2b(span_id.encode(), digest_size=8).digest(), "big")
    return value or 1


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


class RunSpans:
    """The listener for one top-level run: call it with every event; finished spans go to ``sink``.

    Thread-safe (tools may emit from worker threads). A failure here never reaches the run: the
    first one is reported through ``on_error`` and the listener then stays quiet."""

    def __init__(self, sink: Callable[[SpanRecord], None], on_error: Callable[[BaseException], None] | None = None) -> None:
        self._sink = sink
        self._on_error = on_error
        self._lock = threading.Lock()
        self._open: dict[str, _Open] = {}
        self._maps: dict[str, _MapNode] = {}
        self._map_of: dict[str, str] = {}
        """A map branch's span id -> its map node's synthesized span id."""
        self._pending: list[SpanRecord] = []
        self._run_span = ""
        self._trace = 0
        self._broken = False

    def __call__(self, event: ev.Event) -> None:
        if self._broken or isinstance(event, ev.TokenDelta | ev.TokensDropped | ev.ToolCall):
            return
        try:
            with self._lock:
                record = self._fold(event)
                pending, self._pending = self._pending, []
            if record is not None:
                self._sink(record)
            for extra in pending:
                self._sink(extra)
        except Exception as exc:  # observability must never fail the run it observes
            self._broken = True
            if self._on_error is not None:
                self._on_error(exc)

    def _fold(self, event: ev.Event) -> SpanRecord | None:
        if isinstance(event, ev.RunStarted):
            self._run_span, self._trace = event.span_id, trace_int(event.run_id)
            self._open[event.span_id] = _Open(clean({"agentloom.input": _input_text(event.data.get("input"))}))
            return None
        if not self._trace:  # events of a run this listener did not see start
            self._trace = trace_int(event.run_id)
        if isinstance(event, ev.BranchStarted | ev.BranchFinished):
            self._map_branch(event)
        if isinstance(event, ev.SpanStarted):
            self._open[event.span_id] = _Open()
            return None
        opened = self._open.pop(event.span_id, None)
        if opened is not None or isinstance(event, ev.ModelCall | ev.ToolResult | ev.Verdict | ev.RunFinished):
            record = self._record(event, opened)
            if isinstance(event, ev.RunFinished):
                self._open.clear()
                self._finish_maps()
            return record
        parent = self._open.get(event.parent_id or self._run_span)
        if parent is None:  # its span has already ended: keep it as a span of its own
            return None if event.kind in _DUPLICATES else self._record(event, None)
        self._note(event, parent)
        return None

    def _map_branch(self, event: ev.Event) -> None:
        """Put a map branch (a branch whose parent is the run) under its map node's span."""
        if event.parent_id not in (None, "", self._run_span):
            return
        match = _BRANCH_NAME.match(event.name)
        if match is None:
            return
        node = self._maps.get(match.group(1))
        if node is None:
            seed = f"{event.run_id}/map/{match.group(1)}".encode()
            node = _MapNode(hashlib.blake2b(seed, digest_size=8).hexdigest(), None, event.start, event.end)
            self._maps[match.group(1)] = node
        self._map_of[event.span_id] = node.span_id
        node.start, node.end = min(node.start, event.start), max(node.end, event.end)
        if isinstance(event, ev.BranchFinished):
            node.branches += 1
            node.failed += event.status == "error"

    def _finish_maps(self) -> None:
        """Send the map nodes' spans (at the run's end, when every branch has ended)."""
        maps, self._maps, self._map_of = self._maps, {}, {}
        for name, node in maps.items():
            attrs = clean({"agentloom.kind": "node", "agentloom.node_kind": "map", "agentloom.branches": node.branches,
                           "agentloom.branches_failed": node.failed})
            self._pending.append(SpanRecord(
                name=text(f"node {name}"), trace_id=self._trace, span_id=span_int(node.span_id),
                parent_id=span_int(self._run_span) if self._run_span else None,
                start_ns=_ns(node.start), end_ns=_ns(max(node.end, node.start)), attributes=attrs))

    def _note(self, event: ev.Event, parent: _Open) -> None:
        """A point event inside the open span ``parent``."""
        if isinstance(event, ev.PlanMade):
            plan = {"agentloom.plan.width": event.width, "agentloom.plan.depth": event.depth,
                    "agentloom.plan.reason": event.reason}
            parent.attributes.update(plan)
            run = self._open.get(self._run_span)
            if run is not None and run is not parent:
                run.attributes.update(plan)
        elif isinstance(event, ev.MemoryHit):
            hits = parent.attributes.get("agentloom.memory.hits", 0)
            parent.attributes["agentloom.memory.hits"] = hits + 1
        elif (isinstance(event, ev.BudgetChanged) and event.name not in _BUDGET_NOTES) or event.kind in _DUPLICATES:
            return
        attrs = {"agentloom.status": event.status, "agentloom.name": event.name, "agentloom.team": event.team,
                 "error.message": event.error, **flat("agentloom.", event.data)}
        parent.events.append((event.kind, _ns(event.end), clean(attrs)))

    def _record(self, event: ev.Event, opened: _Open | None) -> SpanRecord:
        attrs = event_attributes(event)
        if opened is not None:
            attrs.update(opened.attributes)
        parent = self._map_of.get(event.span_id) or event.parent_id or (self._run_span if event.span_id != self._run_span else None)
        failed = event.status == "error" or (isinstance(event, ev.RunFinished) and event.status == "failed")
        return SpanRecord(
            name=text(span_name(event)),
            trace_id=self._trace,
            span_id=span_int(event.span_id),
            parent_id=span_int(parent) if parent else None,
            start_ns=_ns(event.start),
            end_ns=_ns(max(event.end, event.start)),
            attributes=clean(attrs),
            events=opened.events if opened is not None else [],
            error=text(event.error or event.status) if failed else None,
            client=isinstance(event, ev.ModelCall),
        )


def _input_text(value: Any) -> str | None:
    """A run's input as one line of text (a question, or its fields as ``key=value``)."""
    if value is None:
        return None
    if isinstance(value, dict):
        for key in ("question", "task", "inputs"):
            if key in value:
                return _input_text(value[key])
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)

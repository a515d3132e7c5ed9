"""A run's timeline: one row per span (branch, team, node) and per model/tool call, the critical
path through them, and the parallelism the run achieved. Drawing lives next door: the text Gantt
in :mod:`agentloom.research.gantt`, the HTML page in :mod:`agentloom.research.html_export`
(both re-exported here, with ``markdown_to_html``, for existing imports).

Rows nest by the events' ``parent_id`` -> ``span_id`` links. Model and tool calls are *calls*;
every other event that lasts (or has children) is a *span*; instant events (budget charges,
decisions) are not rows.

**Critical path.** Take a virtual root spanning the whole run, with the top-level rows as its
children. The critical path of a row within a window ``[lo, hi]`` is found walking backwards from
``t = hi``: among the row's children that start before ``t``, pick the one still running latest
(largest ``min(end, t)``; ties go to the earlier start); the stretch between that end and ``t`` is
the row's own time (no child was running, so the row itself was the bottleneck); recurse into the
child over ``[max(start, lo), min(end, t)]``; continue from ``t = max(child.start, lo)`` until
``t`` reaches ``lo``. The steps found tile the run's wall time exactly: every instant is charged
to the one call or span (or, at the top, the orchestration outside any span) that the run was
waiting on, so shortening anything off the path cannot shorten the run, and the steps' durations
add up to the wall time. Siblings that run sequentially (turn 1's tools, then turn 2's model call)
chain through their end-to-start gaps; parallel siblings contribute only the one that finished last.

**Parallelism.** ``busy`` is the sum of all call durations; achieved parallelism is
``busy / wall``; ``max_concurrency`` is the largest number of calls running at one instant.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentloom.research._markdown import markdown_to_html
from agentloom.research._timeline_draw import secs
from agentloom.research.gantt import render_text_gantt
from agentloom.research.html_export import render_html

__all__ = [
    "CALL_KINDS",
    "CriticalStep",
    "Row",
    "Timeline",
    "build_timeline",
    "markdown_to_html",
    "render_html",
    "render_text_gantt",
]

#: Event kinds drawn as calls; every other lasting event is a span.
CALL_KINDS = frozenset({"model_call", "tool_call"})


@dataclass
class Row:
    """One bar of the timeline. Times are seconds since the timeline's ``t0``."""

    id: str
    parent_id: str | None
    kind: str
    name: str
    start: float
    end: float
    status: str = "ok"
    team: str | None = None
    detail: str = ""
    depth: int = 0
    children: list[str] = field(default_factory=list)
    critical: tuple[float, float] | None = None

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    @property
    def is_call(self) -> bool:
        return self.kind in CALL_KINDS

    @property
    def label(self) -> str:
        if self.kind == "tool_call":
            return f"tool {self.name}"
        if self.kind == "model_call":
            return f"model {self.name}" + (f" ({self.detail})" if self.detail else "")
        team = f" [{self.team}]" if self.team and self.team != self.name else ""
        return f"{self.kind} {self.name}{team}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parent_id": self.parent_id,
            "kind": self.kind,
            "name": self.name,
            "label": self.label,
            "team": self.team,
            "start": round(self.start, 6),
            "end": round(self.end, 6),
            "duration": round(self.duration, 6),
            "status": self.status,
            "depth": self.depth,
            "critical": [round(self.critical[0], 6), round(self.critical[1], 6)] if self.critical else None,
        }


@dataclass(frozen=True)
class CriticalStep:
    """A stretch of the critical path charged to one row (``row_id`` "" is time outside any span)."""

    row_id: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Timeline:
    """Rows in tree order (parents before children, siblings by start), the critical path and
    the parallelism figures of one run."""

    run_id: str
    t0: float
    wall: float
    rows: list[Row]
    critical_path: list[CriticalStep]
    busy: float
    calls: int
    max_concurrency: int
    active: float
    startup: float = 0.0  # before the first recorded step (imports, indexing): not drawn
    paused: float = 0.0  # idle stretches of a stop before its resume (and any longer than PAUSE_S): cut out
    total: float | None = None  # the run's own wall time (the report footer's), when known
    resumes: int = 0  # how often the run was resumed after a stop (its record's ``pauses``)

    @property
    def parallelism(self) -> float:
        """Average number of calls in flight: call time divided by wall time."""
        return self.busy / self.wall if self.wall > 0 else 0.0

    def row(self, row_id: str) -> Row:
        return self._index()[row_id]

    def _index(self) -> dict[str, Row]:
        return {r.id: r for r in self.rows}

    @property
    def critical_rows(self) -> list[Row]:
        """Rows on the critical path, in tree order."""
        return [r for r in self.rows if r.critical is not None]

    @property
    def critical_call_time(self) -> float:
        """How much of the critical path is spent inside calls (the rest is orchestration)."""
        index = self._index()
        return sum(s.duration for s in self.critical_path if s.row_id in index and index[s.row_id].is_call)

    @property
    def critical_calls(self) -> int:
        """How many calls the critical path passes through."""
        index = self._index()
        return len({s.row_id for s in self.critical_path if s.row_id in index and index[s.row_id].is_call})

    def summary(self) -> str:
        text = (
            f"wall {secs(self.wall)}, busy {secs(self.busy)} in {self.calls} calls, "
            f"parallelism {self.parallelism:.2f}x avg (max {self.max_concurrency} concurrent), "
            f"critical path through {self.critical_calls} call{'s' if self.critical_calls != 1 else ''}: "
            f"{secs(self.critical_call_time)} in calls, {secs(max(0.0, self.wall - self.critical_call_time))} outside calls"
        )
        extra = []
        if self.startup >= 0.0005:
            extra.append(f"{secs(self.startup)} start-up before the first step (not drawn)")
        if self.resumes:
            extra.append(f"resumed {self.resumes} time{'s' if self.resumes != 1 else ''}")
        if self.paused > 0:
            extra.append(f"{secs(self.paused)} paused between an interrupt and its resume (cut out)")
        if self.total is not None and abs(self.total - self.wall) >= 0.005:
            extra.append(f"{secs(self.total)} for the whole run, as its report says")
        return text + ("; " + "; ".join(extra) if extra else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "t0": self.t0,
            "wall_s": round(self.wall, 6),
            "busy_s": round(self.busy, 6),
            "active_s": round(self.active, 6),
            "calls": self.calls,
            "parallelism": round(self.parallelism, 4),
            "max_concurrency": self.max_concurrency,
            "startup_s": round(self.startup, 6),
            "paused_s": round(self.paused, 6),
            "resumed": self.resumes > 0,
            "resumes": self.resumes,
            "total_s": round(self.total, 6) if self.total is not None else None,
            "critical_call_s": round(self.critical_call_time, 6),
            "critical_path": [
                {"row_id": s.row_id, "start": round(s.start, 6), "end": round(s.end, 6)} for s in self.critical_path
            ],
            "rows": [r.to_dict() for r in self.rows],
        }


# --------------------------------------------------------------------------- building
def _num(value: Any, default: float) -> float:
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def _detail(event: Mapping[str, Any]) -> str:
    data = event.get("data")
    if not isinstance(data, Mapping):
        return ""
    if event.get("kind") == "model_call":
        return str(data.get("purpose") or "")
    return ""


def build_timeline(
    events: Iterable[Mapping[str, Any]],
    *,
    run_id: str = "",
    start: float | None = None,
    end: float | None = None,
    total: float | None = None,
    pauses: Iterable[Iterable[float]] | None = None,
) -> Timeline:
    """The timeline of a run's events (as ``RunStore.events`` returns them). ``start``/``end``
    (the run's created/finished times): the chart begins at the first step (the time before it is
    ``startup``) and ends at ``end`` when that is later than the events; ``total`` is the run's own
    wall time (its report's), shown beside the chart's. ``pauses`` are the run's recorded stops
    before a resume (``[stopped, resumed]`` times, the record's ``meta["pauses"]``): the idle
    stretch around each is cut out and counted as ``paused``, and so is any idle stretch longer
    than ``PAUSE_S`` (a stop in a run recorded without them)."""
    raw = [e for e in events if e.get("start") is not None]
    kept = _kept(raw)
    starts = [_num(e.get("start"), 0.0) for e in kept]
    ends = [_num(e.get("end"), _num(e.get("start"), 0.0)) for e in kept]
    t0 = min(starts, default=start or 0.0)
    startup = max(0.0, t0 - start) if start is not None and starts else 0.0
    t_end = max([*ends, *([end] if end is not None else [])], default=t0)
    recorded = [(float(a), float(b)) for a, b in (tuple(p)[:2] for p in pauses or []) if b > a]
    gaps = _pauses(list(zip(starts, ends, strict=True)), recorded)
    by_id = _rows(kept, t0, gaps)
    roots = _link(by_id, raw)
    ordered = _depth_first(by_id, roots)
    roots = _in_order(by_id, roots)

    paused = sum(b - a for a, b in gaps)
    wall = max(0.0, t_end - t0 - paused)
    steps = _critical_path(by_id, roots, wall)
    calls = [r for r in ordered if r.is_call]
    return Timeline(
        run_id=run_id,
        t0=t0,
        wall=wall,
        rows=ordered,
        critical_path=steps,
        busy=sum(r.duration for r in calls),
        calls=len(calls),
        max_concurrency=_max_concurrency(calls),
        active=_union_length([(r.start, r.end) for r in calls]),
        startup=startup,
        paused=paused,
        total=total,
        resumes=len(recorded),
    )


#: An idle stretch (no call or span open) longer than this is a pause (interrupt, then resume), not run time.
PAUSE_S = 2.0


def _pauses(intervals: list[tuple[float, float]], recorded: list[tuple[float, float]] | None = None) -> list[tuple[float, float]]:
    """Stretches in which nothing was running that hold a recorded stop (``recorded``), or that
    last longer than ``PAUSE_S``, in time order."""
    gaps: list[tuple[float, float]] = []
    reach: float | None = None
    for s, e in sorted(intervals):
        if reach is not None and s > reach:
            stopped = any(a < s and b > reach for a, b in recorded or [])
            if stopped or s - reach > PAUSE_S:
                gaps.append((reach, s))
        reach = e if reach is None else max(reach, e)
    return gaps


def _shift(t: float, gaps: list[tuple[float, float]]) -> float:
    """``t`` with the pauses before it cut out."""
    return t - sum(min(b, t) - a for a, b in gaps if a < t)


def _kept(raw: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The events that become rows: calls, events with a duration, and spans with children. A
    ``graph_node`` event (the typed stream's) repeats its ``node`` span and is left out."""
    parent_ids = {e.get("parent_id") for e in raw if e.get("parent_id")}
    node_spans = {e.get("name") for e in raw if e.get("kind") == "node"}
    kept: list[Mapping[str, Any]] = []
    for e in raw:
        if e.get("kind") == "graph_node" and e.get("name") in node_spans and e.get("span_id") not in parent_ids:
            continue
        s = _num(e.get("start"), 0.0)
        en = _num(e.get("end"), s)
        if e.get("kind") in CALL_KINDS or en > s or e.get("span_id") in parent_ids:
            kept.append(e)
    return kept


def _rows(kept: list[Mapping[str, Any]], t0: float, gaps: list[tuple[float, float]]) -> dict[str, Row]:
    """One ``Row`` per kept event, by row id, with times relative to ``t0`` (pauses cut out)."""
    by_id: dict[str, Row] = {}
    for n, e in enumerate(kept):
        rid = str(e.get("span_id") or f"_row{n}")
        if rid in by_id:
            rid = f"{rid}_{n}"
        s = _shift(_num(e.get("start"), t0), gaps) - t0
        en = max(s, _shift(_num(e.get("end"), _num(e.get("start"), t0)), gaps) - t0)
        by_id[rid] = Row(
            id=rid,
            parent_id=str(e["parent_id"]) if e.get("parent_id") else None,
            kind=str(e.get("kind") or "span"),
            name=str(e.get("name") or ""),
            start=s,
            end=en,
            status=str(e.get("status") or "ok"),
            team=e.get("team"),
            detail=_detail(e),
        )
    return by_id


def _link(by_id: dict[str, Row], raw: list[Mapping[str, Any]]) -> list[str]:
    """Link each row to its nearest ancestor that is a row (and not a call); returns the roots."""
    parent_of = {str(e.get("span_id")): e.get("parent_id") for e in raw if e.get("span_id")}
    roots: list[str] = []
    for row in by_id.values():
        parent, hops = row.parent_id, 0
        while parent is not None and parent not in by_id and hops < 64:
            parent, hops = parent_of.get(parent), hops + 1
        if parent is not None and parent in by_id and parent != row.id and not by_id[parent].is_call:
            row.parent_id = parent
            by_id[parent].children.append(row.id)
        else:
            row.parent_id = None
            roots.append(row.id)
    return roots


def _in_order(by_id: dict[str, Row], ids: list[str]) -> list[str]:
    """Row ids by start time, longer rows first when they start together."""
    return sorted(ids, key=lambda i: (by_id[i].start, -by_id[i].end, i))


def _depth_first(by_id: dict[str, Row], roots: list[str]) -> list[Row]:
    """The rows in display order (each parent before its children), with depths and sorted children."""
    ordered: list[Row] = []
    visited: set[str] = set()

    def visit(rid: str, depth: int) -> None:
        if rid in visited:
            return
        visited.add(rid)
        row = by_id[rid]
        row.depth = depth
        row.children = _in_order(by_id, row.children)
        ordered.append(row)
        for child in row.children:
            visit(child, depth + 1)

    for rid in _in_order(by_id, roots):
        visit(rid, 0)
    return ordered


def _critical_path(by_id: dict[str, Row], roots: list[str], wall: float) -> list[CriticalStep]:
    """The backward walk described in the module docstring; steps in time order."""
    steps: list[CriticalStep] = []

    def walk(owner: str, children: list[str], lo: float, hi: float, depth: int) -> None:
        t = hi
        remaining = list(children)
        while t > lo and remaining:
            best: Row | None = None
            best_key: tuple[float, float] = (-math.inf, 0.0)
            for cid in remaining:
                child = by_id[cid]
                if child.start >= t or child.end <= lo:
                    continue
                key = (min(child.end, t), -child.start)
                if key > best_key:
                    best, best_key = child, key
            if best is None:
                break
            remaining.remove(best.id)
            c_end = min(best.end, t)
            if c_end < t:
                steps.append(CriticalStep(owner, c_end, t))
            c_start = max(best.start, lo)
            best.critical = (c_start, c_end)
            if best.children and depth < 256:
                walk(best.id, best.children, c_start, c_end, depth + 1)
            else:
                steps.append(CriticalStep(best.id, c_start, c_end))
            t = c_start
        if t > lo:
            steps.append(CriticalStep(owner, lo, t))

    walk("", roots, 0.0, wall, 0)
    steps = [s for s in steps if s.end > s.start]
    steps.sort(key=lambda s: (s.start, s.end))
    return steps


def _max_concurrency(calls: list[Row]) -> int:
    edges: list[tuple[float, int]] = []
    for r in calls:
        if r.end > r.start:
            edges.append((r.start, 1))
            edges.append((r.end, -1))
    edges.sort()  # at equal times -1 sorts first: a call that ends as another starts is not overlap
    running = best = 0
    for _, delta in edges:
        running += delta
        best = max(best, running)
    return best


def _union_length(intervals: list[tuple[float, float]]) -> float:
    total, cur_s, cur_e = 0.0, None, None
    for s, e in sorted(intervals):
        if cur_e is None or s > cur_e:
            if cur_e is not None and cur_s is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None and cur_s is not None:
        total += cur_e - cur_s
    return total


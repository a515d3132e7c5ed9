"""Helpers the timeline renderers share: duration formatting, row selection and bar styles."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentloom.research.timeline import Row, Timeline

#: Call statuses served by the memory bank (drawn as memory hits).
MEMORY_STATUSES = frozenset({"cached", "coalesced"})
#: Statuses drawn as failures.
FAILED_STATUSES = frozenset({"error", "cancelled"})


def secs(value: float) -> str:
    """A duration for people: ``0s``, ``12ms``, ``1.50s``, ``250s``."""
    if value <= 0:
        return "0s"
    if value >= 100:
        return f"{value:.0f}s"
    if value >= 1:
        return f"{value:.2f}s"
    return f"{value * 1000:.0f}ms" if value >= 0.001 else f"{value * 1000:.2f}ms"


def select_rows(timeline: Timeline, max_rows: int | None) -> tuple[list[Row], int]:
    """At most ``max_rows`` rows, keeping spans and critical rows first, in tree order."""
    rows = timeline.rows
    if max_rows is None or len(rows) <= max_rows:
        return rows, 0
    keep = {r.id for r in rows if r.critical is not None}
    for wanted in (lambda r: not r.is_call, lambda r: True):
        for r in rows:
            if len(keep) >= max_rows:
                break
            if wanted(r):
                keep.add(r.id)
    chosen = [r for r in rows if r.id in keep][:max_rows]
    return chosen, len(rows) - len(chosen)


def bar_char(row: Row) -> str:
    """The text Gantt's fill for a row: ``x`` failed, ``-`` span, ``*`` memory hit, ``=`` call."""
    if row.status in FAILED_STATUSES:
        return "x"
    if not row.is_call:
        return "-"
    return "*" if row.status in MEMORY_STATUSES else "="


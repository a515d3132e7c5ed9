"""The text Gantt of a run's timeline (``loom runs show --timeline``): one line per row, the
critical path marked, then a legend and the summary."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from agentloom.research._timeline_draw import bar_char, secs, select_rows

if TYPE_CHECKING:
    from agentloom.research.timeline import Timeline

__all__ = ["render_text_gantt"]


def render_text_gantt(timeline: Timeline, width: int = 100, *, max_rows: int | None = 80) -> str:
    """A text Gantt: one line per row, ``#`` where the row is on the critical path, then a legend
    and a summary line (wall time, busy time, parallelism)."""
    width = max(50, width)
    label_w = max(16, min(40, width // 3))
    dur_w = 8
    bar_w = max(10, width - label_w - dur_w - 4)
    wall = timeline.wall if timeline.wall > 0 else 1e-9
    scale = bar_w / wall
    lines: list[str] = []
    title = f"timeline of run {timeline.run_id}" if timeline.run_id else "timeline"
    lines.append(f"{title}: {len(timeline.rows)} rows, {timeline.calls} calls")

    axis = [" "] * bar_w
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        text = secs(timeline.wall * frac) if frac else "0"
        if frac == 0.0:
            pos = 0
        elif frac == 1.0:
            pos = bar_w - len(text)
        else:
            pos = round(frac * bar_w) - len(text) // 2
        pos = max(0, min(pos, bar_w - len(text)))
        if all(c == " " for c in axis[max(0, pos - 1) : pos + len(text) + 1]):
            axis[pos : pos + len(text)] = list(text)
    lines.append(" " * (label_w + 1) + " " + "".join(axis))

    if not timeline.rows:
        lines.append(" " * (label_w + 2) + "(no spans or calls recorded)")
    rows, hidden = select_rows(timeline, max_rows)
    for row in rows:
        cells = [" "] * bar_w
        c0 = min(int(row.start * scale), bar_w - 1)
        c1 = max(c0 + 1, min(bar_w, math.ceil(row.end * scale - 1e-9)))
        ch = bar_char(row)
        for c in range(c0, c1):
            cells[c] = ch
        if row.critical is not None:
            k0 = min(int(row.critical[0] * scale), bar_w - 1)
            k1 = max(k0 + 1, min(bar_w, math.ceil(row.critical[1] * scale - 1e-9)))
            for c in range(k0, k1):
                cells[c] = "#"
        label = "  " * row.depth + row.label
        if len(label) > label_w:
            label = label[: label_w - 3] + "..."
        lines.append(f"{label:<{label_w}} |{''.join(cells)}| {secs(row.duration):>{dur_w - 1}}")
    if hidden:
        lines.append(f"{'':<{label_w}}  ({hidden} more calls not shown)")
    lines.append("legend: # critical path   = call   - span   * memory hit   x error/cancelled")
    lines.append(timeline.summary())
    return "\n".join(lines)


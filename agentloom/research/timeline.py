"""A run's timeline: one row per span (branch, team, node) and per model/tool call, the critical
path through them, and the parallelism the run achieved; drawn as a text Gantt or an HTML page.

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

import html
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
_MEMORY_STATUSES = frozenset({"cached", "coalesced"})
_FAILED_STATUSES = frozenset({"error", "cancelled"})


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

    def summary(self) -> str:
        crit_calls = sum(1 for r in self.critical_rows if r.is_call)
        return (
            f"wall {_secs(self.wall)}, busy {_secs(self.busy)} in {self.calls} calls, "
            f"parallelism {self.parallelism:.2f}x avg (max {self.max_concurrency} concurrent), "
            f"critical path {crit_calls} calls: {_secs(self.critical_call_time)} in calls, "
            f"{_secs(max(0.0, self.wall - self.critical_call_time))} outside calls"
        )

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
) -> Timeline:
    """The timeline of a run's events (as ``RunStore.events`` returns them). ``start``/``end``
    (the run's created/finished times) widen the window when they lie outside the events."""
    raw = [e for e in events if e.get("start") is not None]
    parent_ids = {e.get("parent_id") for e in raw if e.get("parent_id")}
    kept: list[Mapping[str, Any]] = []
    for e in raw:
        s = _num(e.get("start"), 0.0)
        en = _num(e.get("end"), s)
        if e.get("kind") in CALL_KINDS or en > s or e.get("span_id") in parent_ids:
            kept.append(e)
    starts = [_num(e.get("start"), 0.0) for e in kept]
    ends = [_num(e.get("end"), _num(e.get("start"), 0.0)) for e in kept]
    t0 = min([*starts, *([start] if start is not None else [])], default=start or 0.0)
    t_end = max([*ends, *([end] if end is not None else [])], default=t0)

    by_id: dict[str, Row] = {}
    for n, e in enumerate(kept):
        rid = str(e.get("span_id") or f"_row{n}")
        if rid in by_id:
            rid = f"{rid}_{n}"
        s = _num(e.get("start"), t0) - t0
        en = max(s, _num(e.get("end"), _num(e.get("start"), t0)) - t0)
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

    # Link children to the nearest ancestor that is a row; the rest are roots.
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

    def order(ids: list[str]) -> list[str]:
        return sorted(ids, key=lambda i: (by_id[i].start, -by_id[i].end, i))

    ordered: list[Row] = []
    visited: set[str] = set()

    def visit(rid: str, depth: int) -> None:
        if rid in visited:
            return
        visited.add(rid)
        row = by_id[rid]
        row.depth = depth
        row.children = order(row.children)
        ordered.append(row)
        for child in row.children:
            visit(child, depth + 1)

    for rid in order(roots):
        visit(rid, 0)

    wall = max(0.0, t_end - t0)
    steps = _critical_path(by_id, order(roots), wall)
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
    )


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


# --------------------------------------------------------------------------- shared drawing helpers
def _secs(value: float) -> str:
    if value <= 0:
        return "0s"
    if value >= 100:
        return f"{value:.0f}s"
    if value >= 1:
        return f"{value:.2f}s"
    return f"{value * 1000:.0f}ms" if value >= 0.001 else f"{value * 1000:.2f}ms"


def _select_rows(timeline: Timeline, max_rows: int | None) -> tuple[list[Row], int]:
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


def _bar_char(row: Row) -> str:
    if row.status in _FAILED_STATUSES:
        return "x"
    if not row.is_call:
        return "-"
    return "*" if row.status in _MEMORY_STATUSES else "="


# --------------------------------------------------------------------------- text Gantt
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
        text = _secs(timeline.wall * frac) if frac else "0"
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
    rows, hidden = _select_rows(timeline, max_rows)
    for row in rows:
        cells = [" "] * bar_w
        c0 = min(int(row.start * scale), bar_w - 1)
        c1 = max(c0 + 1, min(bar_w, math.ceil(row.end * scale - 1e-9)))
        ch = _bar_char(row)
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
        lines.append(f"{label:<{label_w}} |{''.join(cells)}| {_secs(row.duration):>{dur_w - 1}}")
    if hidden:
        lines.append(f"{'':<{label_w}}  ({hidden} more calls not shown)")
    lines.append("legend: # critical path   = call   - span   * memory hit   x error/cancelled")
    lines.append(timeline.summary())
    return "\n".join(lines)


# --------------------------------------------------------------------------- Markdown -> HTML
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})\s*([\w+\-.#]*)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_HR = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_LIST = re.compile(r"^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$")
_QUOTE = re.compile(r"^\s{0,3}>\s?(.*)$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_SAFE_SCHEMES = frozenset({"http", "https", "mailto"})


def _safe_href(url: str) -> str | None:
    """The URL if it is http(s), mailto or relative; None for javascript:, data: and the like."""
    cleaned = re.sub(r"[\x00-\x20\x7f]", "", html.unescape(url))
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):", cleaned)
    if match and match.group(1).lower() not in _SAFE_SCHEMES:
        return None
    if cleaned.startswith("//"):
        return None  # protocol-relative: would point at whatever host, keep it text
    return cleaned


def _inline(text: str) -> str:
    """Inline Markdown (code, links, bold, italic) to HTML; everything else escaped."""
    stash: list[str] = []

    def keep(fragment: str) -> str:
        stash.append(fragment)
        return f"\x00{len(stash) - 1}\x00"

    text = text.replace("\x00", "")
    text = re.sub(r"(`+)(.+?)\1", lambda m: keep(f"<code>{html.escape(m.group(2).strip())}</code>"), text)

    def link(m: re.Match[str]) -> str:
        is_image, label, url = m.group(1) == "!", m.group(2), m.group(3)
        href = _safe_href(url)
        shown = _inline(("image: " if is_image else "") + label)
        if href is None:
            return keep(html.escape(m.group(0)))
        return keep(f'<a href="{html.escape(href, quote=True)}">{shown}</a>')

    text = re.sub(r"(!?)\[([^\]\n]+)\]\(\s*<?([^\s)>]+)>?(?:\s+\"[^\"]*\")?\s*\)", link, text)
    text = re.sub(
        r"<((?:https?|mailto):[^\s<>]+)>",
        lambda m: keep(f'<a href="{html.escape(m.group(1), quote=True)}">{html.escape(m.group(1))}</a>'),
        text,
    )
    out = html.escape(text, quote=True)
    out = re.sub(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)", r"<strong>\1</strong>", out)
    out = re.sub(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])", r"<em>\1</em>", out)
    out = re.sub(r"(?<!\w)_(?=[^\s_])(.+?)(?<=[^\s_])_(?!\w)", r"<em>\1</em>", out)
    out = re.sub(r"~~(?=\S)(.+?)(?<=\S)~~", r"<del>\1</del>", out)
    return re.sub(r"\x00(\d+)\x00", lambda m: stash[int(m.group(1))], out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _starts_block(line: str) -> bool:
    return bool(_FENCE.match(line) or _HEADING.match(line) or _HR.match(line) or _LIST.match(line) or _QUOTE.match(line))


def _cells(line: str) -> list[str]:
    line = line.strip()
    line = line[1:] if line.startswith("|") else line
    line = line[:-1] if line.endswith("|") and not line.endswith("\\|") else line
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)]


def _dedent(lines: list[str]) -> list[str]:
    widths = [_indent(x) for x in lines if x.strip()]
    cut = min(widths, default=0)
    return [x[cut:] for x in lines]


def _list_block(lines: list[str], i: int) -> tuple[str, int]:
    first = _LIST.match(lines[i])
    assert first is not None
    indent, ordered = len(first.group(1)), first.group(2)[0].isdigit()
    start_no = int(first.group(2)[:-1]) if ordered else 1
    items: list[str] = []
    n = len(lines)
    while i < n:
        m = _LIST.match(lines[i])
        if not m or len(m.group(1)) != indent or m.group(2)[0].isdigit() != ordered:
            break
        body = [m.group(3)]
        i += 1
        while i < n:
            line = lines[i]
            if not line.strip():
                j = i
                while j < n and not lines[j].strip():
                    j += 1
                if j < n and _indent(lines[j]) > indent:
                    body.append("")
                    i += 1
                    continue
                break
            sub = _LIST.match(line)
            if sub and len(sub.group(1)) <= indent:
                break
            if not sub and _indent(line) <= indent and _starts_block(line):
                break
            body.append(line)
            i += 1
        head: list[str] = []
        k = 0
        while k < len(body) and body[k].strip() and not (k and (_LIST.match(body[k]) or _FENCE.match(body[k]))):
            head.append(body[k].strip())
            k += 1
        rest = _dedent(body[k:])
        inner = _inline(" ".join(head))
        if any(x.strip() for x in rest):
            inner += "\n" + markdown_to_html("\n".join(rest))
        items.append(f"<li>{inner}</li>")
    tag = "ol" if ordered else "ul"
    start_attr = f' start="{start_no}"' if ordered and start_no != 1 else ""
    return f"<{tag}{start_attr}>\n" + "\n".join(items) + f"\n</{tag}>", i


def markdown_to_html(markdown: str) -> str:
    """A small, safe Markdown subset to HTML: headings, paragraphs, lists, block quotes, code
    (fenced and inline), tables, rules, bold/italic and http(s)/mailto/relative links. Raw HTML
    and any other input is escaped, never passed through."""
    lines = markdown.replace("\r\n", "\n").replace("\r", "\n").expandtabs(4).split("\n")
    out: list[str] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            marker, lang = fence.group(1), fence.group(2)
            code: list[str] = []
            i += 1
            while i < n and not lines[i].strip().startswith(marker):
                code.append(lines[i])
                i += 1
            i += 1
            cls = f' class="language-{html.escape(lang, quote=True)}"' if lang else ""
            out.append(f"<pre><code{cls}>{html.escape(chr(10).join(code))}</code></pre>")
            continue
        if not line.strip():
            i += 1
            continue
        heading = _HEADING.match(line)
        if heading:
            level = len(heading.group(1))
            slug = re.sub(r"[^a-z0-9]+", "-", heading.group(2).lower()).strip("-")
            ident = f' id="{slug}"' if slug else ""
            out.append(f"<h{level}{ident}>{_inline(heading.group(2))}</h{level}>")
            i += 1
            continue
        if _HR.match(line):
            out.append("<hr>")
            i += 1
            continue
        if _QUOTE.match(line):
            quoted: list[str] = []
            while i < n and lines[i].strip():
                q = _QUOTE.match(lines[i])
                quoted.append(q.group(1) if q else lines[i])
                i += 1
            out.append(f"<blockquote>\n{markdown_to_html(chr(10).join(quoted))}\n</blockquote>")
            continue
        if _LIST.match(line):
            block, i = _list_block(lines, i)
            out.append(block)
            continue
        if "|" in line and i + 1 < n and _TABLE_SEP.match(lines[i + 1]) and "|" in lines[i + 1]:
            header = _cells(line)
            i += 2
            body_rows: list[list[str]] = []
            while i < n and lines[i].strip() and "|" in lines[i]:
                body_rows.append(_cells(lines[i]))
                i += 1
            head_html = "".join(f"<th>{_inline(c)}</th>" for c in header)
            rows_html = "\n".join(
                "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in (r + [""] * len(header))[: len(header)]) + "</tr>"
                for r in body_rows
            )
            out.append(f"<table>\n<thead><tr>{head_html}</tr></thead>\n<tbody>\n{rows_html}\n</tbody>\n</table>")
            continue
        para: list[str] = []
        while i < n and lines[i].strip() and not (para and _starts_block(lines[i])):
            para.append(lines[i].strip())
            i += 1
        text = "<br>\n".join(_inline(p[:-2].rstrip()) if p.endswith("  ") else _inline(p) for p in para)
        out.append(f"<p>{text}</p>")
    return "\n".join(out)


# --------------------------------------------------------------------------- HTML page
_CSS = """
:root { --fg:#1d2327; --muted:#5f6b73; --bg:#ffffff; --line:#e3e7ea; --span:#b9c3cc; --call:#4c8bd6;
        --memory:#3aa876; --error:#d9534f; --crit:#e8871e; }
* { box-sizing: border-box; }
body { font: 15px/1.55 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--fg);
       background: var(--bg); margin: 0 auto; max-width: 1180px; padding: 24px; }
h1 { font-size: 1.5em; margin: 0 0 4px; } h2 { border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.meta { color: var(--muted); margin: 0 0 16px; }
table.stats { border-collapse: collapse; margin: 8px 0 16px; }
table.stats td { padding: 2px 14px 2px 0; } table.stats td:first-child { color: var(--muted); }
.legend span { display: inline-block; margin-right: 16px; font-size: 13px; color: var(--muted); }
.legend i { display: inline-block; width: 14px; height: 10px; margin-right: 5px; vertical-align: middle; }
.chart { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
svg text { font: 11px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; fill: var(--fg); }
svg .axis { stroke: var(--line); } svg .tick { fill: var(--muted); }
svg .span { fill: var(--span); } svg .call { fill: var(--call); } svg .memory { fill: var(--memory); }
svg .error { fill: var(--error); } svg .crit { fill: var(--crit); opacity: 0.85; }
.report { margin-top: 28px; }
.report pre { background: #f5f7f8; padding: 10px; overflow-x: auto; border-radius: 4px; }
.report code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.92em; }
.report table { border-collapse: collapse; } .report th, .report td { border: 1px solid var(--line); padding: 4px 8px; }
.report blockquote { border-left: 3px solid var(--line); margin-left: 0; padding-left: 12px; color: var(--muted); }
"""


def _svg_chart(timeline: Timeline, max_rows: int | None) -> str:
    rows, hidden = _select_rows(timeline, max_rows)
    row_h, label_w, chart_w, top = 18, 300, 820, 24
    height = top + row_h * max(1, len(rows)) + 8
    total_w = label_w + chart_w + 20
    wall = timeline.wall if timeline.wall > 0 else 1e-9
    scale = chart_w / wall
    parts = [
        f'<svg role="img" aria-label="timeline" width="{total_w}" height="{height}" viewBox="0 0 {total_w} {height}">'
    ]
    for k in range(5):
        x = label_w + chart_w * k / 4
        anchor = "start" if k == 0 else ("end" if k == 4 else "middle")
        parts.append(f'<line class="axis" x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 4}"/>')
        parts.append(f'<text class="tick" x="{x:.1f}" y="{top - 10}" text-anchor="{anchor}">{_secs(timeline.wall * k / 4)}</text>')
    for n, row in enumerate(rows):
        y = top + n * row_h
        label = "\u00a0\u00a0" * row.depth + row.label
        if len(label) > 44:
            label = label[:41] + "..."
        parts.append(f'<text x="4" y="{y + 12}">{html.escape(label)}</text>')
        x = label_w + row.start * scale
        w = max(1.5, row.duration * scale)
        if row.status in _FAILED_STATUSES:
            cls = "error"
        elif not row.is_call:
            cls = "span"
        else:
            cls = "memory" if row.status in _MEMORY_STATUSES else "call"
        tip = f"{row.label}: {_secs(row.start)} to {_secs(row.end)} ({_secs(row.duration)}), {row.status}"
        bar_h = 8 if not row.is_call else 12
        y_bar = y + (row_h - bar_h) / 2
        parts.append(
            f'<rect class="{cls}" x="{x:.2f}" y="{y_bar:.1f}" width="{w:.2f}" height="{bar_h}" rx="2">'
            f"<title>{html.escape(tip)}</title></rect>"
        )
        if row.critical is not None:
            cx = label_w + row.critical[0] * scale
            cw = max(1.5, (row.critical[1] - row.critical[0]) * scale)
            parts.append(
                f'<rect class="crit" x="{cx:.2f}" y="{y_bar:.1f}" width="{cw:.2f}" height="{bar_h}" rx="2">'
                f"<title>critical path: {html.escape(row.label)}</title></rect>"
            )
    parts.append("</svg>")
    note = f'<p class="meta">{hidden} more calls not shown.</p>' if hidden else ""
    return "\n".join(parts) + note


def render_html(
    timeline: Timeline,
    report_markdown: str | None,
    *,
    title: str | None = None,
    facts: Mapping[str, Any] | None = None,
    max_rows: int | None = 1500,
) -> str:
    """A self-contained HTML page (inline CSS and SVG, no scripts, no external assets) with the
    timeline chart and the report rendered from Markdown."""
    page_title = title or (f"agentloom run {timeline.run_id}" if timeline.run_id else "agentloom run")
    stats: dict[str, Any] = dict(facts or {})
    crit_calls = sum(1 for r in timeline.critical_rows if r.is_call)
    stats.update(
        {
            "wall time": _secs(timeline.wall),
            "busy (sum of call time)": f"{_secs(timeline.busy)} in {timeline.calls} calls",
            "parallelism": f"{timeline.parallelism:.2f}x average, {timeline.max_concurrency} max concurrent",
            "critical path": f"{crit_calls} calls, {_secs(timeline.critical_call_time)} in calls, "
            f"{_secs(max(0.0, timeline.wall - timeline.critical_call_time))} outside calls",
        }
    )
    stats_html = "\n".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in stats.items()
    )
    legend = "".join(
        f'<span><i style="background:var(--{var})"></i>{html.escape(text)}</span>'
        for var, text in (("span", "span"), ("call", "call"), ("memory", "memory hit"),
                          ("error", "error / cancelled"), ("crit", "critical path"))
    )
    report = markdown_to_html(report_markdown) if report_markdown and report_markdown.strip() else (
        '<p class="meta">This run recorded no report.</p>'
    )
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(page_title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{html.escape(page_title)}</h1>"
        f'<p class="meta">{html.escape(timeline.summary())}</p></header>\n'
        f'<section class="timeline">\n<h2>Timeline</h2>\n<table class="stats">\n{stats_html}\n</table>\n'
        f'<div class="legend">{legend}</div>\n<div class="chart">\n{_svg_chart(timeline, max_rows)}\n</div>\n</section>\n'
        f'<section class="report">\n<h2>Report</h2>\n{report}\n</section>\n'
        "</body>\n</html>\n"
    )

"""The self-contained HTML page of a run (``loom runs export --html``): stats, an SVG timeline
chart with the critical path, and the report rendered from Markdown."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentloom.research._markdown import markdown_to_html
from agentloom.research._timeline_draw import FAILED_STATUSES, MEMORY_STATUSES, secs, select_rows

if TYPE_CHECKING:
    from agentloom.research.timeline import Timeline

__all__ = ["render_chart", "render_html", "report_html"]

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
    rows, hidden = select_rows(timeline, max_rows)
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
        parts.append(f'<text class="tick" x="{x:.1f}" y="{top - 10}" text-anchor="{anchor}">{secs(timeline.wall * k / 4)}</text>')
    for n, row in enumerate(rows):
        y = top + n * row_h
        label = "\u00a0\u00a0" * row.depth + row.label
        if len(label) > 44:
            label = label[:41] + "..."
        parts.append(f'<text x="4" y="{y + 12}">{html.escape(label)}</text>')
        x = label_w + row.start * scale
        w = max(1.5, row.duration * scale)
        if row.status in FAILED_STATUSES:
            cls = "error"
        elif not row.is_call:
            cls = "span"
        else:
            cls = "memory" if row.status in MEMORY_STATUSES else "call"
        tip = f"{row.label}: {secs(row.start)} to {secs(row.end)} ({secs(row.duration)}), {row.status}"
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


_REF_ITEM = re.compile(r"<li>\[(\d+)\]\s*(.*?)</li>", re.S)
_URL = re.compile(r"(https?://[^\s<>\"']+)")


def _linked(report: str) -> str:
    """Citations as links: each ``[n]`` in the text jumps to its reference, and a reference's URL
    opens the page."""
    head, found, refs = report.rpartition('<h2 id="references">')
    if not found:
        return report
    numbers: set[str] = set()

    def item(match: re.Match[str]) -> str:
        numbers.add(match.group(1))
        body = _URL.sub(lambda u: f'<a href="{u.group(1)}">{u.group(1)}</a>', match.group(2))
        return f'<li id="ref-{match.group(1)}">[{match.group(1)}] {body}</li>'

    refs = _REF_ITEM.sub(item, refs)

    def marker(match: re.Match[str]) -> str:
        n = match.group(1)
        return f'<a class="cite" href="#ref-{n}">[{n}]</a>' if n in numbers else match.group(0)

    return re.sub(r"\[(\d+)\]", marker, head) + found + refs


def render_chart(timeline: Timeline, max_rows: int | None = 1500) -> str:
    """The timeline's SVG chart (critical path in orange), for pages that embed it (``loom ui``)."""
    return _svg_chart(timeline, max_rows)


def report_html(report_markdown: str) -> str:
    """A report's Markdown as HTML, as the exported page renders it."""
    return markdown_to_html(report_markdown)


def render_html(
    timeline: Timeline,
    report_markdown: str | None,
    *,
    title: str | None = None,
    facts: Mapping[str, Any] | None = None,
    max_rows: int | None = 120,
) -> str:
    """A self-contained HTML page (inline CSS and SVG, no scripts, no external assets) with the
    timeline chart and the report rendered from Markdown."""
    page_title = title or (f"agentloom run {timeline.run_id}" if timeline.run_id else "agentloom run")
    stats: dict[str, Any] = dict(facts or {})
    stats.update(
        {
            "wall time": secs(timeline.wall),
            "busy (sum of call time)": f"{secs(timeline.busy)} in {timeline.calls} calls",
            "parallelism": f"{timeline.parallelism:.2f}x average, {timeline.max_concurrency} max concurrent",
            "critical path": f"{timeline.critical_calls} calls, {secs(timeline.critical_call_time)} in calls, "
            f"{secs(max(0.0, timeline.wall - timeline.critical_call_time))} outside calls",
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
    report = _linked(markdown_to_html(report_markdown)) if report_markdown and report_markdown.strip() else (
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

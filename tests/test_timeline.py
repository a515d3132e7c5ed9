"""Timeline: rows, critical path and parallelism on synthetic events with known answers; the
text Gantt, the HTML page and the safe Markdown converter."""

from __future__ import annotations

import re
from typing import Any

import pytest

from agentloom.research.timeline import build_timeline, markdown_to_html, render_html, render_text_gantt

T0 = 1_700_000_000.0


def ev(sid: str, parent: str | None, kind: str, name: str, s: float, e: float, status: str = "ok",
       team: str | None = None, **data: Any) -> dict[str, Any]:
    return {"span_id": sid, "parent_id": parent, "kind": kind, "name": name, "start": T0 + s, "end": T0 + e,
            "duration": e - s, "status": status, "team": team, "data": data, "run_id": "r1"}


def research_events() -> list[dict[str, Any]]:
    """plan (0-1) -> two teams in parallel (a: 1-6, b: 1-4) -> write (6.5-8); run ends at 8.2."""
    return [
        ev("plan", "root", "node", "plan", 0, 1),
        ev("m0", "plan", "model_call", "offline", 0.1, 0.9, purpose="plan"),
        ev("ta", "root", "team", "a", 1, 6, team="a"),
        ev("tb", "root", "team", "b", 1, 4, team="b"),
        ev("a1", "ta", "tool_call", "corpus_search", 1.0, 3.0, team="a"),
        ev("a2", "ta", "tool_call", "corpus_search", 1.0, 2.0, team="a"),
        ev("a3", "ta", "model_call", "offline", 3.5, 5.5, team="a", purpose="act"),
        ev("b1", "tb", "tool_call", "read_passage", 1.0, 3.9, team="b", status="cached"),
        ev("w", "root", "node", "write", 6.5, 8.0),
        ev("wm", "w", "model_call", "offline", 6.5, 7.5, purpose="write"),
        ev("bud", "w", "budget", "settle", 7.0, 7.0),
        ev("dec", "root", "decision", "width", 0.95, 0.95, reason="small corpus"),
    ]


def test_critical_path_and_parallelism_known_answers() -> None:
    tl = build_timeline(research_events(), run_id="r1", start=T0, end=T0 + 8.2)
    assert tl.wall == pytest.approx(8.2)
    steps = [(s.row_id, round(s.start, 6), round(s.end, 6)) for s in tl.critical_path]
    assert steps == [
        ("plan", 0.0, 0.1),
        ("m0", 0.1, 0.9),
        ("plan", 0.9, 1.0),
        ("a1", 1.0, 3.0),   # the longer of team a's two parallel searches
        ("ta", 3.0, 3.5),   # team a's own time between its tool turn and its model call
        ("a3", 3.5, 5.5),
        ("ta", 5.5, 6.0),
        ("", 6.0, 6.5),     # between the teams' join and the writer: outside any span
        ("wm", 6.5, 7.5),
        ("w", 7.5, 8.0),
        ("", 8.0, 8.2),
    ]
    assert sum(s.duration for s in tl.critical_path) == pytest.approx(tl.wall)
    assert {r.id for r in tl.critical_rows} == {"plan", "m0", "ta", "a1", "a3", "w", "wm"}
    assert tl.row("tb").critical is None and tl.row("b1").critical is None and tl.row("a2").critical is None
    assert tl.critical_call_time == pytest.approx(0.8 + 2.0 + 2.0 + 1.0)
    # busy = 0.8 + 2 + 1 + 2 + 2.9 + 1 = 9.7 s of calls over 8.2 s of wall time
    assert tl.calls == 6 and tl.busy == pytest.approx(9.7)
    assert tl.parallelism == pytest.approx(9.7 / 8.2)
    assert tl.max_concurrency == 3  # a1, a2 and b1 between 1.0 and 2.0
    assert tl.active == pytest.approx(0.8 + (5.5 - 1.0) + 1.0)  # union of call intervals


def test_rows_nest_in_tree_order_and_skip_instant_events() -> None:
    tl = build_timeline(research_events(), run_id="r1")
    assert [r.id for r in tl.rows] == ["plan", "m0", "ta", "a1", "a2", "a3", "tb", "b1", "w", "wm"]
    assert [r.depth for r in tl.rows] == [0, 1, 0, 1, 1, 1, 0, 1, 0, 1]
    assert tl.row("ta").children == ["a1", "a2", "a3"]
    assert tl.row("m0").label == "model offline (plan)" and tl.row("a1").label == "tool corpus_search"
    # no start/end given: the window is the events' own extent
    assert tl.wall == pytest.approx(8.0)


def test_sequential_chain_inside_one_span() -> None:
    events = [
        ev("s", None, "agent", "solo", 0, 10),
        ev("c", "s", "tool_call", "t3", 5, 9),
        ev("a", "s", "tool_call", "t1", 0, 2),
        ev("b", "s", "model_call", "m", 2, 5),
    ]
    tl = build_timeline(events)
    assert [(s.row_id, s.start, s.end) for s in tl.critical_path] == [("a", 0, 2), ("b", 2, 5), ("c", 5, 9), ("s", 9, 10)]
    assert tl.parallelism == pytest.approx(0.9) and tl.max_concurrency == 1


def test_fully_parallel_fan_out() -> None:
    events = [ev(f"c{i}", "x", "tool_call", "search", 0.0, 1.0 + i / 100) for i in range(8)]
    tl = build_timeline(events)
    assert tl.max_concurrency == 8
    assert tl.parallelism == pytest.approx(sum(1.0 + i / 100 for i in range(8)) / 1.07)
    assert [s.row_id for s in tl.critical_path] == ["c7"]  # only the last finisher explains the wall time


def test_overlapping_siblings_chain_through_the_last_finisher() -> None:
    # B starts first and ends last; A overlaps B's start; C runs inside B.
    events = [ev("A", None, "tool_call", "a", 0, 5), ev("B", None, "tool_call", "b", 1, 10), ev("C", None, "tool_call", "c", 6, 9)]
    tl = build_timeline(events)
    assert [(s.row_id, s.start, s.end) for s in tl.critical_path] == [("A", 0, 1), ("B", 1, 10)]
    assert tl.row("A").critical == (0, 1) and tl.row("C").critical is None


def test_empty_timeline_renders() -> None:
    tl = build_timeline([], run_id="empty")
    assert tl.wall == 0 and tl.rows == [] and tl.parallelism == 0
    text = render_text_gantt(tl)
    assert "(no spans or calls recorded)" in text and "parallelism 0.00x" in text
    assert "<svg" in render_html(tl, None)


def test_text_gantt_marks_the_critical_path() -> None:
    tl = build_timeline(research_events(), run_id="r1", start=T0, end=T0 + 8.2)
    text = render_text_gantt(tl, width=100)
    lines = text.splitlines()
    assert all(len(line) <= 100 for line in lines[:-2])
    bar = {line.split("|")[0].strip(): line.split("|")[1] for line in lines if line.count("|") == 2}
    assert "#" in bar["team a"] and "#" in bar["node write"]
    assert "#" not in bar["team b"] and set(bar["team b"].strip()) == {"-"}
    assert set(bar["tool read_passage"].strip()) == {"*"}  # a memory hit, off the path
    # a2 shares its label with a1: one searches bar is all '#', the other all '='
    searches = [line.split("|")[1].strip() for line in lines if line.strip().startswith("tool corpus_search")]
    assert sorted(set(s) for s in searches) == [{"#"}, {"="}]
    assert "legend: # critical path" in text
    assert "wall 8.20s, busy 9.70s in 6 calls, parallelism 1.18x avg (max 3 concurrent)" in lines[-1]
    # the bar of a row starting at 1/8.2 of the run begins about 1/8.2 into the bar area
    width = len(bar["node plan"])
    assert bar["team a"].index("#") == int(1.0 / 8.2 * width)


def test_text_gantt_limits_rows_but_keeps_the_critical_ones() -> None:
    events = [ev("s", None, "team", "wide", 0, 3)]
    events += [ev(f"c{i}", "s", "tool_call", f"search{i}", 0.0, 1.0 + i / 100) for i in range(200)]
    tl = build_timeline(events)
    assert [r.id for r in tl.critical_rows] == ["s", "c199"]
    text = render_text_gantt(tl, width=90, max_rows=20)
    assert "(181 more calls not shown)" in text
    shown = [line.split("|")[0].strip() for line in text.splitlines() if line.count("|") == 2]
    assert len(shown) == 20 and shown[0] == "team wide" and "tool search199" in shown
    # siblings that start together are ordered longest first, so the critical call leads
    assert shown[1:] == [f"tool search{i}" for i in range(199, 180, -1)]

    # the critical call starts late in tree order and is kept all the same
    late = [ev("s", None, "team", "wide", 0, 3)]
    late += [ev(f"c{i}", "s", "tool_call", f"q{i}", i / 1000, 2.5 if i == 150 else 1.0) for i in range(200)]
    text = render_text_gantt(build_timeline(late), width=90, max_rows=10)
    shown = [line.split("|")[0].strip() for line in text.splitlines() if line.count("|") == 2]
    assert shown == ["team wide", *[f"tool q{i}" for i in range(8)], "tool q150"]


def test_html_page_is_self_contained_and_escapes_the_report() -> None:
    tl = build_timeline(research_events(), run_id="r1", start=T0, end=T0 + 8.2)
    report = "# Findings <script>alert(1)</script>\n\nSee [source](https://example.org/a) and [bad](javascript:alert(1)).\n"
    page = render_html(tl, report, facts={"question": "why <b>?"})
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "javascript:" not in page.replace("[bad](javascript:alert(1))", "")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page.replace('href="https://example.org/a"', ""))
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert page.count("<rect") >= len(tl.rows) + len(tl.critical_rows)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "why &lt;b&gt;?" in page
    assert '<a href="https://example.org/a">source</a>' in page


def test_markdown_subset() -> None:
    md = """# Title *one*

Short **answer** with `code <x>` and _emphasis_ [1].

## Section

- item one
- item **two**
  - nested a
  - nested b
- item three

1. first
2. second

> quoted line

```python
if a < b: print("<tag>")
```

| name | value |
|------|-------|
| a | 1 |

---
Visit <https://example.org/x?a=1&b=2> or [mail](mailto:x@example.org) or [rel](#section).
<img src=x onerror=alert(1)>
"""
    out = markdown_to_html(md)
    assert '<h1 id="title-one">Title <em>one</em></h1>' in out
    assert "<p>Short <strong>answer</strong> with <code>code &lt;x&gt;</code> and <em>emphasis</em> [1].</p>" in out
    assert '<h2 id="section">Section</h2>' in out
    assert re.search(r"<ul>\n<li>item one</li>\n<li>item <strong>two</strong>\n<ul>\n<li>nested a</li>\n<li>nested b</li>\n</ul></li>\n<li>item three</li>\n</ul>", out)
    assert "<ol>\n<li>first</li>\n<li>second</li>\n</ol>" in out
    assert "<blockquote>\n<p>quoted line</p>\n</blockquote>" in out
    assert '<pre><code class="language-python">if a &lt; b: print(&quot;&lt;tag&gt;&quot;)</code></pre>' in out
    assert "<thead><tr><th>name</th><th>value</th></tr></thead>" in out and "<td>a</td><td>1</td>" in out
    assert "<hr>" in out
    assert '<a href="https://example.org/x?a=1&amp;b=2">' in out
    assert '<a href="mailto:x@example.org">mail</a>' in out and '<a href="#section">rel</a>' in out
    assert "<img" not in out and "&lt;img src=x onerror=alert(1)&gt;" in out


@pytest.mark.parametrize(
    "link",
    ["[x](javascript:alert(1))", "[x](JaVaScRiPt:alert(1))", "[x](java\tscript:alert(1))", "[x](data:text/html,hi)",
     "[x](vbscript:msgbox)", "[x](//evil.example/a)", '[x](http://a" onmouseover="alert(1))'],
)
def test_markdown_refuses_unsafe_links(link: str) -> None:
    out = markdown_to_html(link)
    assert "<a " not in out or 'onmouseover="' not in out
    assert not re.search(r'href="\s*(javascript|vbscript|data):', out, re.I)
    assert 'href="//' not in out


def test_renderers_keep_their_old_import_path() -> None:
    from agentloom.research import timeline
    from agentloom.research._markdown import markdown_to_html as md
    from agentloom.research.gantt import render_text_gantt as gantt
    from agentloom.research.html_export import render_html as page

    assert (timeline.render_text_gantt, timeline.render_html, timeline.markdown_to_html) == (gantt, page, md)
    assert set(timeline.__all__) >= {"CALL_KINDS", "CriticalStep", "Row", "Timeline", "build_timeline",
                                     "markdown_to_html", "render_html", "render_text_gantt"}

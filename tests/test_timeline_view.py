"""The timeline as issue 16 asked: no duplicate node rows, no empty start-up stretch, pauses cut
out, the critical path's calls counted, and the chart's wall time beside the report's."""

from __future__ import annotations

from typing import Any

from agentloom.research.timeline import PAUSE_S, build_timeline

T0 = 1_700_000_000.0


def ev(sid: str, parent: str | None, kind: str, name: str, s: float, e: float, **data: Any) -> dict[str, Any]:
    return {"span_id": sid, "parent_id": parent, "kind": kind, "name": name, "team": None, "start": T0 + s,
            "end": T0 + e, "status": "ok", "data": data}


def events(pause: float = 0.0) -> list[dict[str, Any]]:
    p = pause
    return [
        ev("g1", None, "graph_node", "plan", 2.0, 2.8),
        ev("n1", None, "node", "plan", 2.0, 2.8),
        ev("m1", "n1", "model_call", "offline", 2.1, 2.7, purpose="plan"),
        ev("g2", None, "graph_node", "write", 2.9 + p, 3.5 + p),
        ev("n2", None, "node", "write", 2.9 + p, 3.5 + p),
        ev("m2", "n2", "model_call", "offline", 3.0 + p, 3.4 + p, purpose="write"),
    ]


def test_each_node_appears_once() -> None:
    tl = build_timeline(events(), run_id="r", start=T0, end=T0 + 3.5)
    assert [r.label for r in tl.rows if r.depth == 0] == ["node plan", "node write"]


def test_start_up_is_not_drawn_but_said() -> None:
    tl = build_timeline(events(), run_id="r", start=T0, end=T0 + 3.5, total=3.9)
    assert tl.rows[0].start == 0.0  # the chart begins at the first step
    assert abs(tl.wall - 1.5) < 1e-9 and abs(tl.startup - 2.0) < 1e-9
    summary = tl.summary()
    assert "2.00s start-up before the first step" in summary
    assert "3.90s for the whole run, as its report says" in summary


def test_critical_path_counts_the_calls_it_draws() -> None:
    tl = build_timeline(events(), run_id="r", start=T0, end=T0 + 3.5)
    drawn_calls = [r for r in tl.critical_rows if r.is_call]
    assert len(drawn_calls) == 2 and tl.critical_calls == 2
    assert "critical path through 2 calls" in tl.summary()


def test_a_pause_between_interrupt_and_resume_is_cut_out() -> None:
    pause = PAUSE_S * 30
    tl = build_timeline(events(pause), run_id="r", start=T0, end=T0 + 3.5 + pause)
    assert abs(tl.paused - (pause + 0.1)) < 1e-5 and abs(tl.wall - 1.4) < 1e-5  # the whole idle stretch goes
    write = next(r for r in tl.rows if r.label == "node write")
    assert abs(write.start - 0.8) < 1e-5
    assert "paused between an interrupt and its resume" in tl.summary()
    quick = build_timeline(events(PAUSE_S / 4), run_id="r", start=T0)  # a short idle stretch is run time
    assert quick.paused == 0.0


REPORT = """# Q

Water comes from the plants [1] and the river [2], not [3].

## References

- [1] water.md:L3-L15 — "Water"
- [2] https://example.org/river
"""


def test_html_references_are_links() -> None:
    from agentloom.research.html_export import render_html

    page = render_html(build_timeline(events(), run_id="r"), REPORT)
    assert '<a class="cite" href="#ref-1">[1]</a>' in page and '<a class="cite" href="#ref-2">[2]</a>' in page
    assert 'href="#ref-3"' not in page  # no reference, no link
    assert '<li id="ref-1">[1] water.md:L3-L15' in page
    assert '<li id="ref-2">[2] <a href="https://example.org/river">https://example.org/river</a></li>' in page


def test_a_wide_run_is_collapsed_in_html() -> None:
    from agentloom.research.html_export import render_html

    wide = [ev("root", None, "node", "research", 0.0, 10.0)]
    for b in range(50):
        wide.append(ev(f"t{b}", "root", "team", f"team-{b}", 0.0, 9.0))
        for c in range(8):
            wide.append(ev(f"c{b}_{c}", f"t{b}", "tool_call", "corpus_search", c, c + 1.0))
    tl = build_timeline(wide, run_id="w")
    assert len(tl.rows) == 451
    page = render_html(tl, None)
    assert page.count('<rect class="call"') <= 120
    assert "more calls not shown" in page

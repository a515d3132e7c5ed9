"""The terminal live view: a stage line, in-flight calls (not finished ones) with spinners, colour
by status, bars for all three budgets, stable column widths, and a frame that fits 80 columns."""

from __future__ import annotations

import io
import re

import pytest

from agentloom._cli._display import RunDisplay
from agentloom.budget import Budget, Cost
from agentloom.events import ToolCall, ToolResult, build
from tests.test_display import EVENTS

LONG = "loom research: " + "How is the city supplied with water through the long dry summers? " * 2


def frame(display: RunDisplay, width: int, color: bool = False) -> str:
    from rich.console import Console

    console = Console(width=width, file=io.StringIO(), force_terminal=color, color_system="standard" if color else None)
    console.print(display._render())
    out = console.file.getvalue()
    assert isinstance(out, str)
    return out


def budget() -> Budget:
    b = Budget(usd=0.5, tokens=1000, seconds=60)
    b.charge(Cost(input_tokens=400, output_tokens=100, llm_calls=1, usd=0.1))
    return b


def test_in_flight_tool_calls_show_until_their_result() -> None:
    display = RunDisplay(LONG, budget(), mode="live", stream=io.StringIO())
    for event in EVENTS[:5]:  # plan done, team-0 running, one model call finished
        display(event)
    start = build(ToolCall, kind="tool_start", name="read_passage", team="team-0", parent_id="s2", start=0.0, end=0.0,
                  data={"call_id": "c1"})
    display(start)
    row = next(line for line in frame(display, 140).splitlines() if "team-0" in line)
    assert "read_passage" in row and "running" in row
    display(build(ToolResult, kind="tool_call", name="read_passage", team="team-0", parent_id="s2", start=0.0, end=0.01,
                  status="ok", data={"call_id": "c1"}))
    row = next(line for line in frame(display, 140).splitlines() if "team-0" in line)
    assert "read_passage" not in row and "model" in row  # waiting on the model again, not the finished call


def test_stage_line_budget_bars_and_plan_text() -> None:
    display = RunDisplay(LONG, budget(), mode="live", stream=io.StringIO())
    for event in EVENTS:
        display(event)
    text = frame(display, 140)
    assert re.search(r"plan ✓ → research → verify → merge → write", text)  # research still running
    assert "width 3, depth 1 — three sub-questions" in text and "plan plan" not in text
    for label, figure in (("usd", "$0.1000 of $0.5000"), ("tokens", "500 of 1,000"), ("time", "of 60.0s")):
        line = next(x for x in text.splitlines() if x.strip("│ ").startswith(label))
        assert figure in line and ("━" in line or label == "time")  # (no time spent yet: an empty bar)


def test_fits_80_columns_and_widths_do_not_jump() -> None:
    display = RunDisplay(LONG, budget(), mode="live", stream=io.StringIO())
    headers = set()
    for n, event in enumerate(EVENTS, 1):
        display(event)
        for width in (80, 140):
            lines = frame(display, width).splitlines()
            assert all(len(line) <= width for line in lines)
            assert lines[0].startswith("╭─ loom research") and lines[0].endswith("╮")  # title cut, not wrapped
            if width == 80 and n >= 4:
                headers.add(next(x for x in lines if "status" in x and "branch" in x))
    assert len(headers) == 1  # same column positions in every frame


def test_status_is_coloured_on_a_terminal() -> None:
    display = RunDisplay(LONG, budget(), mode="live", stream=io.StringIO())
    for event in EVENTS[:5]:
        display(event)
    text = frame(display, 100, color=True)
    assert "\x1b[32mok" in text and "\x1b[33mrunning" in text


def test_plain_lines_stay_silent_when_the_run_never_started() -> None:
    stream = io.StringIO()
    try:
        with RunDisplay("loom run: g", None, mode="plain", stream=stream):
            raise LookupError("no such run")
    except LookupError:
        pass
    assert stream.getvalue() == ""


def test_a_running_branchs_time_ticks_without_new_events(monkeypatch: pytest.MonkeyPatch) -> None:
    import agentloom._cli._display as view

    real, ahead = view.time.monotonic, [0.0]
    monkeypatch.setattr(view.time, "monotonic", lambda: real() + ahead[0])
    display = RunDisplay(LONG, None, mode="live", stream=io.StringIO())
    for event in EVENTS[:5]:  # team-0 is running
        display(event)

    def row(name: str) -> str:
        rows = [line.strip("│ ") for line in frame(display, 140).splitlines()]
        return next(r for r in rows if r.split()[:2] in ([name, "ok"], [name, "running"]))

    assert row("team-0").endswith((" 0.0s", " 0.1s"))
    ahead[0] = 2.5  # no event arrives; the next redraw (every 1/8 s) shows the time gone by
    assert row("team-0").endswith((" 2.5s", " 2.6s")) and row("plan").endswith((" 0.0s", " 0.1s"))  # a finished one stays

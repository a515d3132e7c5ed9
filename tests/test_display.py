"""The run display: plain log lines off a terminal, a live rich view on one, nothing when quiet."""

from __future__ import annotations

import io
from typing import Any

from agentloom._cli._display import RunDisplay
from agentloom.budget import Budget, Cost
from agentloom.events import Event, PlanMade, build, event_type


def typed(fields: dict[str, Any]) -> Event:
    """The typed event a producer would emit for these recorded fields."""
    fields = dict(fields)
    duration = fields.pop("duration", 0.0)
    cls = PlanMade if fields["kind"] == "decision" else event_type(fields["kind"])
    return build(cls, start=0.0, end=duration, **fields)


RAW: list[dict[str, Any]] = [
    {"kind": "node_start", "name": "plan", "team": None, "span_id": "s1", "data": {}},
    {"kind": "decision", "name": "budget", "team": None, "parent_id": "s1",
     "data": {"width": 3, "depth": 1, "reason": "three sub-questions", "sub_tasks": ["a?", "b?", "c?"]}},
    {"kind": "node", "name": "plan", "team": None, "span_id": "s1", "status": "ok", "data": {}},
    {"kind": "node_start", "name": "research", "team": "team-0", "span_id": "s2", "data": {}},
    {"kind": "model_call", "name": "offline", "team": "team-0", "parent_id": "s2", "status": "ok", "data": {}},
    {"kind": "tool_call", "name": "corpus_search", "team": "team-0", "parent_id": "s2", "status": "ok", "duration": 0.01, "data": {}},
    {"kind": "tool_call", "name": "corpus_search", "team": "team-0", "parent_id": "s2", "status": "cached", "duration": 0.0, "data": {}},
    {"kind": "node", "name": "research", "team": "team-0", "span_id": "s2", "status": "ok", "data": {}},
]
EVENTS = [typed(fields) for fields in RAW]


def test_plain_mode_logs_plan_branches_tools_and_memory_hits() -> None:
    stream = io.StringIO()
    with RunDisplay("research", None, mode="plain", stream=stream) as display:
        for event in EVENTS:
            display(event)
    text = stream.getvalue()
    assert "plan: started" in text and "three sub-questions" in text
    assert "team-0: started" in text and "team-0: tool corpus_search ok" in text
    assert "team-0: memory hit for corpus_search" in text
    assert "memory hits 1" in text
    assert display.branches["team-0"].tool_calls == 2 and display.branches["team-0"].model_calls == 1


def test_live_mode_renders_plan_branches_and_budget_bars() -> None:
    stream = io.StringIO()
    budget = Budget(tokens=1000, seconds=60)
    budget.charge(Cost(input_tokens=400, output_tokens=100, llm_calls=1))
    with RunDisplay("research", budget, mode="live", stream=stream) as display:
        for event in EVENTS:
            display(event)
    text = stream.getvalue()
    assert "three sub-questions" in text and "team-0" in text
    assert "━" in text and "500 of 1,000" in text  # a real bar, not ASCII


def test_quiet_mode_prints_nothing() -> None:
    stream = io.StringIO()
    with RunDisplay("research", None, mode="quiet", stream=stream) as display:
        for event in EVENTS:
            display(event)
    assert stream.getvalue() == ""

"""FixedPlanner and ScheduledPlanner, and the Plan/Feedback value types."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from agentloom import Budget
from agentloom.errors import ConfigError
from agentloom.planners import (
    Feedback,
    FixedPlanner,
    Plan,
    ScheduledPlanner,
    agreement,
    normalize_answer,
    run_rounds,
)
from agentloom.runstore import RunStore


async def plans_of(planner: Any, rounds: int, remaining: Any = None) -> list[Plan]:
    feedback = Feedback()
    out = []
    for _ in range(rounds):
        plan = await planner.next_plan("q", remaining, feedback)
        out.append(plan)
        if plan.stop:
            break
        feedback.add([SimpleNamespace(score=0.1, passed=False)] * plan.width, ["x"] * plan.width)
    return out


async def test_fixed_planner_runs_depth_rounds_of_width() -> None:
    plans = await plans_of(FixedPlanner(width=3, depth=2), 5)
    assert [(p.width, p.refine, p.stop) for p in plans] == [(3, False, False), (3, True, False), (0, False, True)]
    assert plans[-1].reason == "fixed depth of 2 round(s) reached"
    assert plans[0].depth == 2 and plans[1].depth == 1


async def test_fixed_planner_stops_on_pass_and_narrows_to_the_budget() -> None:
    feedback = Feedback()
    feedback.add([SimpleNamespace(score=1.0, passed=True)], ["42"])
    plan = await FixedPlanner(width=4, depth=3).next_plan("q", None, feedback)
    assert plan.stop and "passed verification" in plan.reason
    plan = await FixedPlanner(width=4).next_plan("q", Budget(llm_calls=2), Feedback())
    assert plan.width == 2 and "narrowed to 2" in plan.reason


async def test_scheduled_planner_named_and_list_schedules() -> None:
    plans = await plans_of(ScheduledPlanner("descending", peak=8), 6)
    assert [p.width for p in plans] == [8, 4, 2, 1, 0]
    plans = await plans_of(ScheduledPlanner([3, 2, 5]), 6)
    assert [p.width for p in plans] == [3, 2, 5, 0]
    plans = await plans_of(ScheduledPlanner({"1": 6, "2+": 2}, rounds=3, refine_after_first=True), 6)
    assert [(p.width, p.refine) for p in plans[:3]] == [(6, False), (2, True), (2, True)]
    assert plans[0].reason == "schedule per-turn 1:6, 2+:2 gives width 6 in round 1"


@pytest.mark.parametrize("make", [
    lambda: FixedPlanner(width=0),
    lambda: FixedPlanner(width=2, depth=0),
    lambda: ScheduledPlanner("zigzag"),
    lambda: ScheduledPlanner([]),
    lambda: ScheduledPlanner([2, 0]),
    lambda: ScheduledPlanner(-1),
])
def test_bad_planner_settings_are_config_errors(make: Any) -> None:
    with pytest.raises(ConfigError):
        make()


def test_answer_agreement_normalizes() -> None:
    assert normalize_answer(" 1,200.0 MW ") == "1,200.0 mw"
    assert normalize_answer("1,200.0") == "1200"
    assert normalize_answer("Paris. [p_0123456789]") == "paris"
    assert agreement(["Paris", "paris.", "Lyon", None, " "]) == (2 / 3, "Paris")
    assert agreement([]) == (0.0, None)


def test_planners_and_selection_agree_on_equal_quantities_in_other_units() -> None:
    """One ``agreement`` for planners and selection policies: a quantity written with a symbol
    and the same quantity in words and other digits are one answer (they used to disagree)."""
    from agentloom.agents.candidates import Candidate
    from agentloom.agents.selection import policies

    answers = ["45,000 m³", "45000 cubic metres", "about 12 m³"]
    assert agreement(answers) == (2 / 3, "45,000 m³")
    assert policies.agreement is agreement
    assert agreement([Candidate(text=a) for a in answers]) == (2 / 3, "45,000 m³")


async def test_decisions_are_recorded_with_reasons() -> None:
    store = RunStore()
    result = await run_rounds("q", FixedPlanner(width=2, depth=2), lambda b: f"a{b.index}", store=store)
    assert result.feedback.branches == 4 and result.stop_reason == "fixed depth of 2 round(s) reached"
    run = store.list_runs()[0]
    decisions = [e for e in store.events(run.id) if e["kind"] == "decision"]
    assert [d["data"]["width"] for d in decisions] == [2, 2, 0]
    assert decisions[0]["name"] == "fixed_planner" and decisions[0]["data"]["reason"] == "fixed width 2, round 1 of 2"

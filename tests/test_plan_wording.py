"""Sub-questions read as English for any list or comparison (one item in place of a list makes
its verbs and pronouns singular; a shape the rules cannot rephrase stays whole, never garbled),
and the plan's reason describes the width that actually runs."""

from __future__ import annotations

import io
import itertools

import pytest

from agentloom.models.offline._agreement import refer_to_one, singular_before, third_person, well_formed
from agentloom.models.offline.plan import split_question

# Made-up names, so nothing here leans on the shipped corpus or any question set.
A, B, C = "Ardent Mill", "Brisk Lock", "Corran Weir"


@pytest.mark.parametrize(("question", "parts"), [
    (f"When were {A} and {B} built, and how many times has each closed?",
     [f"When was {A} built, and how many times has it closed?", f"When was {B} built, and how many times has it closed?"]),
    (f"{A}, {B} and the {C}: when was each opened?",
     [f"When was {A} opened?", f"When was {B} opened?", f"When was the {C} opened?"]),
    (f"How much water do the {A} and {B} pumps move?",
     [f"How much water does the {A} pump move?", f"How much water does the {B} pump move?"]),
    (f"Who runs the {A} and {B} stations and what do they cost?",
     [f"Who runs the {A} station and what does it cost?", f"Who runs the {B} station and what does it cost?"]),
    (f"How tall are {A} and {B}, and the cost of {C}?",
     [f"How tall is {A}?", f"How tall is {B}?", f"What is the cost of {C}?"]),
    (f"Where is the {A}, and the {B}?", [f"Where is the {A}?", f"Where is the {B}?"]),
    (f"Which of the {A} and {B} sites is larger?", [f"How large is the {A} site?", f"How large is the {B} site?"]),
    (f"Which gate can be shut more quickly, {A} or {B}?", [f"How quickly can {A} be shut?", f"How quickly can {B} be shut?"]),
    (f"Compare the {A} and {B} reservoirs.", [f"Describe the {A} reservoir.", f"Describe the {B} reservoir."]),
    (f"{A} and {B} sites: which is bigger?", [f"How big is {A} site?", f"How big is {B} site?"]),
])
def test_one_item_in_place_of_a_list_agrees(question: str, parts: list[str]) -> None:
    subs, _ = split_question(question)
    assert subs == parts


def test_every_sub_question_of_many_shapes_is_well_formed() -> None:
    """Templates crossed with names: each sub-question is well formed and names its item; a
    shape that cannot be rephrased is kept whole rather than garbled."""
    templates = [
        "When were {x} and {y} opened?", "What do the {x} and {y} plants have in common?",
        "Are {x} and {y} still in service?", "{x} and {y}: what does each cost?",
        "Which is longer, {x} or {y}?", "Which site produces more power, {x} or {y}?",
        "What is the difference in output between the {x} and {y} plants?",
        "How old are {x} and {y}, and who owns them?", "Where are {x}, {y} and {z} located?",
        "{x}, {y} and {z}, the, what?", "Tell me about {x} and {y}; their owners and their age.",
    ]
    names = ["Ardent Mill", "the Brisk Lock", "Corran Weir", "Dunmore Cut"]
    for template, (x, y, z) in itertools.product(templates, itertools.permutations(names, 3)):
        question = template.format(x=x, y=y, z=z)
        if "the the" in question:
            continue  # the template's own article before a name that has one
        subs, _ = split_question(question)
        assert subs, question
        for sub in subs:
            assert well_formed(sub) or sub.rstrip("?.").lower() == question.rstrip("?.").lower(), (question, sub)
            assert not sub.lower().count("the the"), (question, sub)


def test_the_garbled_shapes_are_rejected() -> None:
    for bad in (f"What is the, the of {A}?", f"How the cost of {A}?", f"What is the : when was each opened of {A}?",
                f"Where is the the {A}?", "What is the capacity of?"):
        assert not well_formed(bad), bad
    assert well_formed(f"What is the capacity of {A}?", A) and not well_formed("What is the capacity of it?", A)


def test_agreement_helpers() -> None:
    assert singular_before("Where are the ") == "Where is the " and singular_before("What do ") == "What does "
    assert singular_before("What are the capacities of ") == "What are the capacities of "  # not next to the list
    assert [third_person(v) for v in ("produce", "carry", "push", "can", "closed", "have")] == \
        ["produces", "carries", "pushes", "can", "closed", "has"]
    assert refer_to_one(" and what do they cost") == " and what does it cost"
    assert refer_to_one(" and what is the capacity of each") == " and what is its capacity"
    assert refer_to_one(" and are they both still open") == " and is it still open"


def test_the_plan_reason_names_the_teams_that_run() -> None:
    """A question with three parts runs three teams: the plan says width 3, one team per
    sub-question (the budget planner's per-sub-question figure stays as planned_width)."""
    from agentloom._cli._display import RunDisplay
    from agentloom.events import Event, PlanMade
    from agentloom.research.run import research_sync

    seen: list[Event] = []
    stream = io.StringIO()
    display = RunDisplay("research", None, mode="plain", stream=stream)
    with display:
        result = research_sync("What is the capacity of the Northpoint, Kettle Bay and Saltmarsh desalination plants?",
                               model="offline", listeners=[seen.append, display])
    plans = [e for e in seen if isinstance(e, PlanMade)]
    teams = {e.team for e in seen if e.team and e.team.startswith("team-")}
    assert len(plans) == 1 and plans[0].width == len(teams) == result.meta["width"] == 3
    assert plans[0].data["planned_width"] == 1
    assert plans[0].reason.startswith("width 3, one team per sub-question: one branch per sub-question is likely enough")
    line = next(x for x in stream.getvalue().splitlines() if "] plan: width" in x)
    assert "plan: width 3, depth up to" in line and "plan plan" not in line and "single branch" not in line


async def test_run_rounds_counts_width_per_sub_task() -> None:
    from agentloom.planners.fixed import FixedPlanner
    from agentloom.planners.rounds import run_rounds
    from agentloom.planners.types import Feedback

    planner = FixedPlanner(width=2, depth=1)
    feedback = Feedback(sub_tasks=["a?", "b?"])
    plan = await planner.next_plan("q", None, feedback)
    assert planner.teams(plan) == 4 and plan.reason.startswith("width 4, 2 teams per sub-question: fixed width 2")
    result = await run_rounds("q", FixedPlanner(width=2, depth=1), lambda b: f"x{b.index}")
    assert result.feedback.branches == 2


def test_the_plan_gate_shows_the_width_that_runs(loom_home: object) -> None:
    """The plan a person approves says the same width as its branches and its reason."""
    from agentloom.research.run import research_sync
    from agentloom.runstore import RunStore

    result = research_sync("What is the capacity of the Northpoint, Kettle Bay and Saltmarsh desalination plants?",
                           model="offline", approve="plan")
    assert result.stop_reason == "waiting"
    store = RunStore()
    plan = store.get_run(str(result.run_id)).meta["approval"]["pending"][0]
    store.close()
    assert plan["width"] == len(plan["branches"]) == 3 and plan["reason"].startswith("width 3, one team per sub-question")

"""The plan gate's projection: the branch's tool loop (not one call per branch) before any run,
earlier runs' actuals once the run store has some, and projected beside actual in the report."""

from __future__ import annotations

from collections import defaultdict

import pytest

from agentloom import approvals
from agentloom.graph._projection import BranchShape, _prompts_read, branch_shape, estimate
from agentloom.research.pipeline import deep_research_graph
from agentloom.research.run import research
from agentloom.runstore import RunStore

QUESTION = "How is Marrowick supplied with water?"


def test_prompts_read_grow_with_each_turns_results() -> None:
    assert _prompts_read(1, (8,)) == 1
    assert _prompts_read(3, (8, 4, 2)) == 1 + 3 + 5  # two prompt-long results a turn at most
    assert _prompts_read(3, (1, 1, 1)) == 1 + 2 + 3
    assert _prompts_read(2.5, (1, 1, 1)) == pytest.approx(1 + 2 + 0.5 * 3)


def test_prior_scales_with_branches_and_turns() -> None:
    shape = branch_shape(deep_research_graph().spec, "plan")
    assert shape.max_turns == 4 and shape.steps_after == 2 and "corpus" in shape.tools
    spent = {"tokens": 300, "llm_calls": 1, "usd": 0.0}
    one = estimate(shape, ["a question"], 1, spent)
    four = estimate(shape, ["a question"], 4, spent)
    assert one["basis"] == "prior" and one["per_branch"]["llm_calls"] == 3
    assert four["per_branch"] == one["per_branch"] and four["tokens"] > 2.5 * one["tokens"]
    assert one["run_tokens"] == one["tokens"] + 300
    deeper = estimate(BranchShape(max_turns=8, prompt_text=shape.prompt_text, widths=shape.widths), ["a question"], 1, spent)
    assert deeper["per_branch"]["tokens"] > one["per_branch"]["tokens"]


async def test_plan_gate_projects_the_tool_loop_and_the_report_shows_the_ratio() -> None:
    result = await research(QUESTION, approve="plan", width=2)
    run = approvals.get(result.run_id)
    projected = run.requests[0].projected
    spent = projected["spent_before"]
    assert projected["basis"] == "prior" and projected["branches"] == 2
    assert projected["per_branch"]["llm_calls"] > 1  # a branch is a tool loop, not one call
    assert projected["per_branch"]["tokens"] > 2 * spent["tokens"] / spent["llm_calls"]
    assert projected["run_tokens"] > projected["tokens"] > 0
    done = await run.resume(approve=True)
    ratio = done.usage.tokens / projected["run_tokens"]
    assert 1 / 3 < ratio < 3, ratio  # an estimate, but of the right size (it was ~20x low)
    assert "× the projection" in str(done.output) and "whole run ~" in str(done.output)


async def test_projection_reads_earlier_runs_of_the_graph() -> None:
    earlier = await research(QUESTION, width=2)
    with RunStore() as store:
        calls = store.events(earlier.run_id, "model_call")
    per_team: dict[str, float] = defaultdict(float)
    for event in calls:
        if event["team"]:
            per_team[event["team"]] += event["data"]["input_tokens"] + event["data"]["output_tokens"]
    expected = sum(per_team.values()) / len(per_team)

    result = await research("Which desalination plant is larger, Northpoint or Kettle Bay?", approve="plan", width=3)
    projected = approvals.get(result.run_id).requests[0].projected
    assert projected["basis"] == "history" and "1 earlier run" in projected["estimate"]
    assert projected["per_branch"]["tokens"] == round(expected)
    assert projected["tokens"] >= 3 * projected["per_branch"]["tokens"]

"""A width planner in a graph sizes its rounds with what a branch costs: the first round with the
projection the plan gate shows (the branch's tool loop, or earlier runs of the graph), later
rounds with what the earlier rounds cost; a ``cost_per_branch`` set on the node still wins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from agentloom.budget import Budget
from agentloom.graph._projection import branch_shape, history, per_branch
from agentloom.graph.loader import load_graph
from agentloom.runstore import RunStore

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "deep_research.yaml"


def plan_decisions(run_id: str) -> list[dict[str, Any]]:
    with RunStore() as store:
        return [e["data"] for e in store.events(run_id, "decision") if e["name"] == "plan"]


async def test_first_round_uses_the_branch_loop_estimate_not_one_call() -> None:
    graph = load_graph(EXAMPLE)
    result = await graph.run(budget=Budget(llm_calls=40, tokens=400_000))
    [first] = plan_decisions(result.run_id)
    expected = per_branch(branch_shape(graph.spec, "plan"), "llm_calls")
    assert expected is not None and expected > 1  # a 4-turn tool loop is several model calls
    assert first["estimates"]["cost_per_branch"] == expected
    assert first["estimates"]["affordable"] == int((40 - 0) / expected / len(first["sub_tasks"]))


async def test_later_runs_use_what_branches_of_this_graph_cost() -> None:
    graph = load_graph(EXAMPLE)
    await graph.run(budget=Budget(tokens=400_000))
    second = await graph.run(budget=Budget(tokens=400_000))
    with RunStore() as store:
        measured = history(store, "deep_research", exclude=second.run_id)
    assert measured is not None and measured.runs == 1
    [decision] = plan_decisions(second.run_id)
    assert decision["estimates"]["cost_per_branch"] == round(measured.branch_calls, 6)


async def test_a_deeper_round_uses_what_the_first_round_cost() -> None:
    graph = load_graph(EXAMPLE)
    result = await graph.run({"question": "What colour is the mayor's bicycle in Zorbania?"}, budget=Budget(tokens=400_000))
    decisions = plan_decisions(result.run_id)
    assert len(decisions) == 2  # nothing passed verification: one deeper round
    with RunStore() as store:
        plans = [e["id"] for e in store.events(result.run_id, "decision") if e["name"] == "plan"]
        in_round = [e for e in store.events(result.run_id, "model_call") if plans[0] < e["id"] < plans[1]]
    assert in_round  # the team's calls and the verifier's, after the first plan was made
    assert decisions[1]["estimates"]["cost_per_branch"] == len(in_round) / decisions[0]["width"]


async def test_a_cost_set_on_the_node_wins(tmp_path: Path) -> None:
    spec = yaml.safe_load(EXAMPLE.read_text())
    spec["nodes"]["plan"]["cost_per_branch"] = 2.5
    spec["inputs"]["corpus"]["default"] = str(EXAMPLE.parent / "corpus")
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = await load_graph(path).run(budget=Budget(llm_calls=40, tokens=400_000))
    assert plan_decisions(result.run_id)[0]["estimates"]["cost_per_branch"] == 2.5

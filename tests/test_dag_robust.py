"""DAGPlanner with the answers real small models give: multi-line JSON, a single task object,
output that parses to nothing, a repair that repeats the failure; and a map whose one failing
branch keeps the others' results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentloom.errors import PlanError
from agentloom.graph import parse_graph
from agentloom.models.function import FunctionModel
from agentloom.models.types import ModelRequest
from agentloom.planners import DAGPlanner
from agentloom.planners.dag_schema import DAGPlanSchema
from tests.test_dag_planner import finish_join, make_tools, user_text

PRETTY = json.dumps({"id": 1, "tool": "lookup", "args": {"entity": "Harrow"}}, indent=2)


def answering(plan_text: str, repaired: str | None = None) -> FunctionModel:
    """Plans with ``plan_text``; a repair request (it lists 'problems') gets ``repaired``."""

    def respond(request: ModelRequest) -> str:
        if request.purpose == "join":
            return finish_join(request)
        if repaired is not None and "problems" in user_text(request):
            return repaired
        return plan_text

    return FunctionModel(respond)


@pytest.mark.parametrize("stream", [False, True])
async def test_an_indented_multi_line_task_is_a_plan_not_an_empty_one(stream: bool) -> None:
    calls: list[str] = []
    run = await DAGPlanner(stream=stream).run("Harrow?", model=answering(PRETTY), tools=make_tools(calls))
    assert calls == ["lookup:Harrow"] and run.results()["1"].value == 1200


async def test_several_indented_objects_and_prose_between_them_stream_as_tasks() -> None:
    text = "Here is the plan:\n" + PRETTY + "\nthen\n" + json.dumps({"id": 2, "tool": "lookup", "args": {"entity": "Brandt"}}, indent=4)
    calls: list[str] = []
    await DAGPlanner(stream=True).run("both", model=answering(text), tools=make_tools(calls))
    assert sorted(calls) == ["lookup:Brandt", "lookup:Harrow"]


def test_an_object_with_neither_tasks_nor_a_tool_is_a_parse_failure() -> None:
    with pytest.raises(ValueError, match='no "tasks" list'):
        DAGPlanSchema.model_validate({"plan": "look things up"})
    assert DAGPlanSchema.model_validate([{"id": 1, "tool": "x"}]).tasks[0].tool == "x"


@pytest.mark.parametrize("stream", [False, True])
async def test_a_plan_that_parses_to_nothing_is_repaired_with_the_exact_error(stream: bool) -> None:
    seen: list[str] = []

    def respond(request: ModelRequest) -> str:
        if request.purpose == "join":
            return finish_join(request)
        text = user_text(request)
        if "problems" in text or "did not match" in text or "does not match" in text:
            seen.append(text)
            return json.dumps({"tasks": [{"id": 1, "tool": "lookup", "args": {"entity": "Keller"}}]})
        return json.dumps({"tasks": []}) if stream else json.dumps({"thought": "I will look it up"})

    calls: list[str] = []
    run = await DAGPlanner(stream=stream).run("Keller?", model=FunctionModel(respond), tools=make_tools(calls))
    assert calls == ["lookup:Keller"] and run.results()["1"].value == 300
    assert seen and ("the plan has no tasks" in seen[0] or 'no "tasks" list' in seen[0])


@pytest.mark.parametrize("stream", [False, True])
async def test_a_repair_identical_to_the_failure_ends_with_a_plan_error_naming_it(stream: bool) -> None:
    bad = json.dumps({"id": 1, "tool": "teleport", "args": {}})
    text = bad if stream else json.dumps({"tasks": [json.loads(bad)]})
    with pytest.raises(PlanError) as info:
        await DAGPlanner(stream=stream).run("go", model=answering(text, repaired=text + "\n"), tools=make_tools([]))
    line = info.value.one_line()
    assert "repeated the failed plan unchanged" in line and "unknown tool 'teleport'" in line


async def test_one_failing_map_branch_keeps_the_other_branches_results(tmp_path: Path) -> None:
    (tmp_path / "qa_funcs.py").write_text(
        "from agentloom import tool\n"
        "@tool\n"
        "def lookup(entity: str) -> int:\n"
        '    """Capacity of a plant."""\n'
        "    return {'Harrow': 1200, 'Brandt': 800}[entity]\n"
    )

    def respond(request: ModelRequest) -> str:
        if request.purpose == "join":
            return finish_join(request)
        question = user_text(request)
        if "Brandt" in question:  # this branch's planner only ever answers with an unknown tool
            return json.dumps({"id": 1, "tool": "teleport", "args": {}})
        return json.dumps({"id": 1, "tool": "lookup", "args": {"entity": "Harrow"}})

    graph = parse_graph(
        """
version: 1
name: qa
inputs:
  questions: {type: list}
models:
  default: offline
tools:
  lookup: qa_funcs:lookup
nodes:
  answer:
    kind: map
    over: questions
    node: {kind: planner, planner: dag, question: "{item}", tools: [lookup], max_replans: 0}
outputs:
  answers: answer
""",
        base_dir=tmp_path,
    )
    result = await graph.run({"questions": ["Capacity of Harrow?", "Capacity of Brandt?"]}, model=FunctionModel(respond))
    answers: Any = result.output["answers"] if isinstance(result.output, dict) and "answers" in result.output else result.output
    assert len(answers) == 2
    assert "1200" in json.dumps(answers[0])
    assert answers[1]["failed"] is True and answers[1]["error_type"] == "PlanError" and "teleport" in answers[1]["error"]

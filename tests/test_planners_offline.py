"""The offline model's plan, dag and join behaviours, through the same validation as a real model."""

from __future__ import annotations

import json
from typing import Any, TypedDict

import pytest

from agentloom import tool
from agentloom.models.offline import OfflineModel
from agentloom.models.offline.plan import split_question
from agentloom.models.types import Message, ModelRequest
from agentloom.planners import DAGPlanner, JoinDecision, SubTaskPlan, plan_subtasks
from agentloom.planners._dag_prompts import result_line
from agentloom.text.dag_lines import JOIN_INSTRUCTIONS
from agentloom.tools.base import ToolResult
from agentloom.tools.calculator import calculator


@pytest.mark.parametrize(("question", "expected"), [
    ("What are the capacities of Harrow Tidal Station, Brandt Dam and Keller Solar Park?",
     ["What are the capacities of Harrow Tidal Station?", "What are the capacities of Brandt Dam?", "What are the capacities of Keller Solar Park?"]),
    ("Which has the larger capacity, Harrow Tidal Station or Brandt Dam?",
     ["What is the capacity of Harrow Tidal Station?", "What is the capacity of Brandt Dam?"]),
    ("Compare the capacity of Harrow Tidal Station and Brandt Dam.",
     ["What is the capacity of Harrow Tidal Station?", "What is the capacity of Brandt Dam?"]),
    ("Harrow Tidal Station vs Brandt Dam capacity",
     ["What is the capacity of Harrow Tidal Station?", "What is the capacity of Brandt Dam?"]),
    ("What is the capacity of Harrow Tidal Station and when did Brandt Dam open?",
     ["What is the capacity of Harrow Tidal Station?", "When did Brandt Dam open?"]),
    ("What is the capacity of Harrow Tidal Station; who operates Brandt Dam?",
     ["What is the capacity of Harrow Tidal Station?", "Who operates Brandt Dam?"]),
    ("What is the capacity of Harrow Tidal Station as well as the operator of Brandt Dam?",
     ["What is the capacity of Harrow Tidal Station?", "What is the operator of Brandt Dam?"]),
    ("Is Brandt Dam older than the Harrow Tidal Station?", ["How old is Brandt Dam?", "How old is the Harrow Tidal Station?"]),
    ("What is the total capacity of Harrow Tidal Station and Brandt Dam combined?",
     ["What is the capacity of Harrow Tidal Station?", "What is the capacity of Brandt Dam?"]),
    ("What is the capital of France?", ["What is the capital of France?"]),
])
def test_split_question(question: str, expected: list[str]) -> None:
    subs, sequential = split_question(question)
    assert subs == expected and not sequential


def test_sequential_steps_are_flagged() -> None:
    subs, sequential = split_question("Find the capacity of Harrow Tidal Station, then compute its share of the grid.")
    assert sequential and subs == ["Find the capacity of Harrow Tidal Station.", "Compute its share of the grid."]


async def test_plan_purpose_returns_validated_structured_output() -> None:
    plan = await plan_subtasks("offline", "Who founded Acme Corp and Globex?")
    assert isinstance(plan, SubTaskPlan)
    assert plan.sub_tasks == ["Who founded Acme Corp?", "Who founded Globex?"] and not plan.sequential
    assert "2 independent sub-questions" in plan.reason
    # works from the messages alone, without the metadata hint
    completion = await OfflineModel().complete(ModelRequest([Message("user", "Task: Compare Alpha Mill and Beta Mill")], output_type=SubTaskPlan, purpose="plan"))
    assert completion.parsed.sub_tasks == ["Describe Alpha Mill.", "Describe Beta Mill."]


class Reading(TypedDict):
    value: float
    unit: str


def tools_with(returns_dict: bool = False) -> list[Any]:
    if returns_dict:
        @tool
        def gauge(entity: str) -> Reading:
            """Look up the reading of a station."""
            return {"value": float(len(entity)), "unit": "m"}

        return [gauge, calculator]

    @tool
    def lookup(entity: str) -> float:
        """Look up the capacity of a plant."""
        return float(len(entity) * 100)

    @tool
    def search(query: str) -> dict[str, Any]:
        """Search documents."""
        return {"results": []}

    return [lookup, search, calculator]


async def plan_of(question: str, tools: list[Any], stream: bool) -> list[dict[str, Any]]:
    run = await DAGPlanner(stream=stream, max_replans=0).run(question, model="offline", tools=tools)
    return [{"id": int(t.id), "tool": t.tool, "args": t.args, "deps": [int(d) for d in t.deps]} for t in run.tasks]


@pytest.mark.parametrize("stream", [True, False])
async def test_dag_lookups_in_parallel_then_a_dependent_step(stream: bool) -> None:
    tasks = await plan_of("What is the difference in capacity between Harrow Station and Brandt Dam?", tools_with(), stream)
    assert tasks == [
        {"id": 1, "tool": "lookup", "args": {"entity": "Harrow Station"}, "deps": []},
        {"id": 2, "tool": "lookup", "args": {"entity": "Brandt Dam"}, "deps": []},
        {"id": 3, "tool": "calculator", "args": {"expression": "$1 - $2"}, "deps": [1, 2]},
    ]


async def test_dag_references_a_field_when_the_tool_returns_an_object() -> None:
    tasks = await plan_of("What is the average level of Alder Gauge, Birch Gauge and Cedar Gauge?", tools_with(True), True)
    assert tasks[-1] == {"id": 4, "tool": "calculator", "args": {"expression": "($1.value + $2.value + $3.value) / 3"}, "deps": [1, 2, 3]}


async def test_dag_uses_query_tools_for_questions_without_entities_and_chains_sequential_steps() -> None:
    @tool
    def search(query: str) -> dict[str, Any]:
        """Search documents."""
        return {"results": [{"id": "p_0000000001", "path": "a.md", "text": f"About {query}."}]}

    tasks = await plan_of("Find the tallest tower, then find who designed it.", [search], True)
    assert tasks == [
        {"id": 1, "tool": "search", "args": {"query": "Find the tallest tower"}, "deps": []},
        {"id": 2, "tool": "search", "args": {"query": "Find who designed it (given: $1)"}, "deps": [1]},
    ]


def join_request(lines: list[str], replans_left: int, question: str = "What is the capacity of Harrow Station and Brandt Dam?") -> ModelRequest:
    user = "\n".join([f"Question: {question}", "Task results (one JSON object per line):",
                      *lines, f"Replans left: {replans_left}"])
    return ModelRequest([Message("system", JOIN_INSTRUCTIONS), Message("user", user)], output_type=JoinDecision, purpose="join")


def ok(task_id: str, tool_name: str, args: dict[str, Any], value: Any, plan_round: int = 0) -> str:
    return result_line(task_id, tool_name, args, ToolResult(task_id, tool_name, args, ok=True, value=value), plan_round=plan_round)


async def test_join_finishes_with_cited_extractive_answer() -> None:
    passages = [{"id": "p_00000000ab", "path": "brandt.md", "line_start": 3, "line_end": 4,
                 "text": "Brandt Dam opened in 1961. Brandt Dam has a capacity of 800 MW."},
                {"id": "p_00000000ac", "path": "weather.md", "line_start": 1, "line_end": 1, "text": "It rained in May."}]
    lines = [ok("1", "lookup", {"entity": "Harrow Station"}, 1200), ok("2", "search", {"query": "Brandt Dam capacity"}, {"results": passages})]
    completion = await OfflineModel().complete(join_request(lines, 1, "What is the capacity of Brandt Dam?"))
    decision = completion.parsed
    assert decision.action == "finish"
    answer = decision.answer.splitlines()
    assert answer[0] == "Brandt Dam has a capacity of 800 MW. [p_00000000ab]"
    assert answer[-1] == 'task 1 (lookup entity="Harrow Station"): 1200.'
    assert "p_00000000ac" not in decision.answer  # unrelated passages are not quoted


async def test_join_without_evidence_says_so() -> None:
    lines = [ok("1", "search", {"query": "Brandt"}, {"results": [{"id": "p_00000000ad", "path": "w.md", "text": "It rained in May."}]})]
    decision = (await OfflineModel().complete(join_request(lines, 0, "What is the capacity of Brandt Dam?"))).parsed
    assert decision.action == "finish" and decision.answer.startswith("No supporting evidence was found")


async def test_join_asks_for_a_replan_naming_what_failed() -> None:
    failed = result_line("2", "lookup", {"entity": "Brandt Dam"}, ToolResult("2", "lookup", {}, ok=False, error="not found", error_type="KeyError"), plan_round=0)
    empty = ok("3", "search", {"query": "Brandt"}, {"results": []})
    lines = [ok("1", "lookup", {"entity": "Harrow Station"}, 1200), failed, empty]
    decision = (await OfflineModel().complete(join_request(lines, 1))).parsed
    assert decision.action == "replan"
    assert 'task 2 (lookup entity="Brandt Dam") failed: KeyError: not found' in decision.feedback
    assert 'task 3 (search query="Brandt") returned no evidence' in decision.feedback
    assert "1200" in decision.answer  # the best answer so far comes along
    final = (await OfflineModel().complete(join_request(lines, 0))).parsed
    assert final.action == "finish" and "1200" in final.answer


async def test_join_ignores_failures_a_replan_already_addressed() -> None:
    failed = result_line("1", "lookup", {"entity": "X"}, ToolResult("1", "lookup", {}, ok=False, error="no", error_type="KeyError"), plan_round=0)
    lines = [failed, ok("2", "search", {"query": "Brandt Dam"}, {"results": [{"id": "p_00000000cd", "path": "x.md", "text": "Brandt Dam has a capacity of 800 MW."}]}, plan_round=1)]
    decision = (await OfflineModel().complete(join_request(lines, 1, "What is the capacity of Brandt Dam?"))).parsed
    assert decision.action == "finish" and json.dumps(decision.answer).count("p_00000000cd") == 1

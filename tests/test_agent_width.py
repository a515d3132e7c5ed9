"""Agent width: stated each turn, enforced with recorded deferrals, schedules, max_turns, and
narrowing then finishing when the budget runs low."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from agentloom import Agent, Budget, tool
from agentloom.errors import ConfigError
from agentloom.models.function import FunctionModel
from agentloom.models.types import ModelRequest
from agentloom.planners import parse_width
from agentloom.runstore import RunStore

ENTITIES = [f"E{i}" for i in range(1, 7)]
_WIDTH = re.compile(r"Tool-call width this turn: (\d+)")


def stated_width(request: ModelRequest) -> int:
    found = _WIDTH.findall(request.messages[0].content or "")
    assert len(found) == 1, "the width is stated exactly once, in the system prompt"
    return int(found[0])


def looked_up(request: ModelRequest) -> list[str]:
    return [json.loads(c.arguments)["entity"] for m in request.messages if m.role == "assistant" for c in m.tool_calls]


def make_lookup(ran: list[str]) -> Any:
    @tool
    def lookup(entity: str) -> str:
        """Look up a fact about an entity."""
        ran.append(entity)
        return f"{entity} is fine"

    return lookup


def greedy_model(seen: list[int], entities: list[str] = ENTITIES) -> FunctionModel:
    """Asks for every entity not yet looked up, all at once; answers when none is left."""

    def respond(request: ModelRequest) -> dict[str, Any] | str:
        if request.metadata.get("final"):
            return "final answer from " + ", ".join(sorted(looked_up(request)))
        seen.append(stated_width(request))
        todo = [e for e in entities if e not in looked_up(request)]
        if not todo:
            return "all done: " + ", ".join(sorted(looked_up(request)))
        return {"tool_calls": [{"name": "lookup", "arguments": {"entity": e}} for e in todo]}

    return FunctionModel(respond)


async def test_width_is_stated_and_extra_calls_are_deferred_not_dropped() -> None:
    seen: list[int] = []
    ran: list[str] = []
    agent = Agent(greedy_model(seen), [make_lookup(ran)], width=2, max_turns=6)
    result = await agent.run("look everything up")
    assert sorted(ran) == ENTITIES  # every call ran exactly once
    assert result.output == "all done: " + ", ".join(ENTITIES)
    # the model was asked twice: once for the 6 calls, once after the 3 batches of 2 ran
    assert seen == [2, 2]
    assert result.meta["widths"] == [2, 2, 2, 2] and result.meta["deferred_calls"] == 4
    events = RunStore().events(result.run_id)
    deferrals = [e["data"] for e in events if e["kind"] == "deferral"]
    assert deferrals[0]["deferred"] == ["lookup"] * 4 and deferrals[0]["issued"] == 6
    assert [d.get("running") for d in deferrals[1:]] == [["lookup", "lookup"], ["lookup", "lookup"]]
    batches = [e for e in events if e["kind"] == "tool_call"]
    assert len(batches) == 6


async def test_default_schedule_is_descending() -> None:
    seen: list[int] = []

    def respond(request: ModelRequest) -> dict[str, Any] | str:
        if request.metadata.get("final"):
            return "best so far"
        seen.append(stated_width(request))
        return {"tool_calls": [{"name": "lookup", "arguments": {"entity": f"x{len(looked_up(request))}"}}]}

    agent = Agent(FunctionModel(respond), [make_lookup([])], max_turns=5)
    result = await agent.run("keep going")
    assert agent.width.describe() == "descending(8)"
    assert seen == [8, 4, 2, 1, 1]
    assert result.stop_reason == "max_turns" and result.meta["turns"] == 5


async def test_mapping_and_ascending_schedules() -> None:
    assert [parse_width({"1-2": 5, "3+": 1}).width(t) for t in range(4)] == [5, 5, 1, 1]
    assert [parse_width("ascending", peak=4).width(t) for t in range(4)] == [1, 2, 4, 4]
    seen: list[int] = []
    agent = Agent(greedy_model(seen), [make_lookup([])], width={"1": 3, "2+": 1}, max_turns=8)
    result = await agent.run("look everything up")
    assert seen[0] == 3 and result.meta["widths"][:4] == [3, 1, 1, 1]


async def test_max_turns_bounds_depth_and_reports_unrun_deferrals() -> None:
    seen: list[int] = []
    ran: list[str] = []
    agent = Agent(greedy_model(seen), [make_lookup(ran)], width=1, max_turns=2)
    result = await agent.run("look everything up")
    assert len(ran) == 2 and result.stop_reason == "max_turns"
    assert result.output.startswith("final answer from")  # best answer so far
    events = RunStore().events(result.run_id)
    unrun = [e for e in events if e["kind"] == "deferral" and "unrun" in e["data"]]
    assert unrun and len(unrun[0]["data"]["unrun"]) == 4


async def test_budget_narrows_width_then_finishes_with_best_answer() -> None:
    seen: list[int] = []
    ran: list[str] = []
    entities = [f"N{i}" for i in range(20)]
    agent = Agent(greedy_model(seen, entities), [make_lookup(ran)], width=4, max_turns=10)
    result = await agent.run("look everything up", budget=Budget(tool_calls=10))
    # 1.0 -> 4 calls, 0.6 -> 4 (deferred), 0.2 -> 1, 0.1 -> 1, then below 8%: finish
    assert result.meta["widths"] == [4, 4, 1, 1]
    assert len(ran) == 10 and result.budget_limited and result.partial and result.stop_reason == "budget"
    assert result.output.startswith("final answer from")
    events = RunStore().events(result.run_id)
    reasons = [e["data"]["reason"] for e in events if e["kind"] == "decision"]
    assert any("width narrowed from 4 to 1" in r for r in reasons)
    assert any("finishing with the best answer so far" in r for r in reasons)
    assert RunStore().get_run(result.run_id).status == "budget_exhausted"


async def test_budget_exhausted_mid_run_keeps_best_answer() -> None:
    def respond(request: ModelRequest) -> dict[str, Any]:
        return {"text": f"so far I know {len(looked_up(request))} things",
                "tool_calls": [{"name": "lookup", "arguments": {"entity": f"y{len(looked_up(request))}"}}]}

    agent = Agent(FunctionModel(respond), [make_lookup([])], width=1, max_turns=6)
    result = await agent.run("go", budget=Budget(llm_calls=2))
    assert result.budget_limited and result.usage.llm_calls == 2
    assert result.output == "so far I know 1 things"  # the last text the model wrote


def test_width_half_budget_halves() -> None:
    agent = Agent("offline", width=8)
    budget = Budget(tool_calls=10)
    budget.charge(__import__("agentloom.budget", fromlist=["Cost"]).Cost(tool_calls=6))
    assert agent._width_for(0, budget) == 4


@pytest.mark.parametrize("width", [0, -3, "zigzag", {"1-2": 0}, {"x": 2}, 2.5, True])
def test_bad_width_is_a_one_line_config_error(width: Any) -> None:
    with pytest.raises(ConfigError) as info:
        Agent("offline", width=width)
    assert "\n" not in str(info.value) and "width" in str(info.value)


def test_unknown_schedule_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown width schedule 'zigzag'; use a number or one of constant, descending, ascending"):
        parse_width("zigzag")


@pytest.mark.parametrize("limits", [{"usd": -1}, {"llm_calls": -2}, {"tool_calls": -0.5}])
def test_negative_budget_is_a_one_line_config_error(limits: dict[str, float]) -> None:
    with pytest.raises(ConfigError) as info:
        Budget(**limits)
    assert "negative" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("kwargs", [{"max_turns": 0}, {"threads": 0}, {"max_spawn_depth": 0}, {"threads": -1}])
def test_bad_depth_and_thread_settings(kwargs: dict[str, int]) -> None:
    with pytest.raises(ConfigError, match="at least 1"):
        Agent("offline", **kwargs)  # type: ignore[arg-type]

"""map_process_reduce: decompose, process in parallel (bounded), reduce; no model deciding."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentloom import Agent, Budget
from agentloom._runtime import run_scope
from agentloom.agents.mapreduce import BranchError, map_process_reduce
from agentloom.errors import ConfigError
from agentloom.models.function import FunctionModel
from agentloom.planners import plan_subtasks
from agentloom.runstore import RunStore


async def test_order_is_kept_and_concurrency_is_bounded() -> None:
    state = {"now": 0, "peak": 0}

    async def process(x: int) -> int:
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        await asyncio.sleep(0.01 * (5 - x % 5))
        state["now"] -= 1
        return x * x

    out = await map_process_reduce(range(12), process, concurrency=3)
    assert out == [x * x for x in range(12)]
    assert state["peak"] == 3


async def test_decompose_and_reduce_sync_or_async() -> None:
    async def decompose() -> list[str]:
        return ["a", "bb", "ccc"]

    assert await map_process_reduce(decompose, len, sum) == 6
    assert await map_process_reduce(lambda: ["x", "y"], str.upper, lambda rs: "".join(rs)) == "XY"

    async def areduce(results: list[int]) -> int:
        return max(results)

    assert await map_process_reduce([3, 9, 4], lambda v: v, areduce) == 9


async def test_error_policies() -> None:
    async def process(x: int) -> int:
        if x == 2:
            raise ValueError("two is bad")
        await asyncio.sleep(0.01)
        return x

    with pytest.raises(ValueError, match="two is bad"):
        await map_process_reduce([1, 2, 3], process)
    assert await map_process_reduce([1, 2, 3], process, on_error="skip") == [1, 3]
    kept = await map_process_reduce([1, 2, 3], process, on_error="keep")
    assert kept[0] == 1 and isinstance(kept[1], BranchError) and kept[1].index == 1 and kept[2] == 3


async def test_raise_cancels_the_other_branches() -> None:
    finished: list[int] = []

    async def process(x: int) -> int:
        if x == 0:
            raise RuntimeError("boom")
        await asyncio.sleep(0.2)
        finished.append(x)
        return x

    with pytest.raises(RuntimeError):
        await map_process_reduce([0, 1, 2], process)
    await asyncio.sleep(0.25)
    assert finished == []


async def test_branches_are_spans_with_child_budgets_inside_a_run() -> None:
    model = FunctionModel(lambda r: f"answer to {r.last_user_text()}")
    agent = Agent(model, [])
    store = RunStore()
    budget = Budget(llm_calls=10)
    async with run_scope("test", "mapreduce", {}, budget=budget, store=store) as scope:
        answers = await map_process_reduce(["q1", "q2", "q3"], lambda q: agent.run(q), lambda rs: [r.output for r in rs], name="fan")
    assert answers == ["answer to q1", "answer to q2", "answer to q3"]
    events = store.events(scope.run_id)
    assert sorted(e["name"] for e in events if e["kind"] == "branch") == ["fan[0]", "fan[1]", "fan[2]"]
    assert any(e["kind"] == "decision" and e["name"] == "fan" for e in events)
    assert sorted(c.name for c in budget.report().children) == ["fan[0]", "fan[1]", "fan[2]"]
    assert budget.spent.llm_calls == 3


async def test_decompose_with_the_plan_model() -> None:
    async def decompose() -> list[str]:
        return (await plan_subtasks("offline", "What are the capacities of Harrow Station, Brandt Dam and Keller Park?")).sub_tasks

    def process(sub: str) -> str:
        return sub.split(" of ")[-1].rstrip("?")

    assert await map_process_reduce(decompose, process) == ["Harrow Station", "Brandt Dam", "Keller Park"]


@pytest.mark.parametrize("kwargs", [{"concurrency": 0}, {"concurrency": 1.5}, {"on_error": "ignore"}])
async def test_bad_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        await map_process_reduce([1], lambda x: x, **kwargs)

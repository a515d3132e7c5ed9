"""Threads: the spawn tool runs sub-tasks as child agents (own context, child budget, bounded
concurrency and depth) and hands their cited answers back as one tool result."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import pytest

from agentloom import Agent, Budget, tool
from agentloom.agents.threads import CHILD_INSTRUCTIONS, child_limits
from agentloom.models.function import FunctionModel
from agentloom.models.types import ModelRequest
from agentloom.runstore import RunStore

QUESTION = "Compare the reservoirs Alder, Birch, Cedar and Dogwood."
SUBTASKS = ["Find the volume of Alder.", "Find the volume of Birch.", "Find the volume of Cedar.", "Find the volume of Dogwood."]


def pid(entity: str) -> str:
    return "p_" + hashlib.sha1(entity.encode()).hexdigest()[:10]


class Lookups:
    """A lookup tool that tracks how many calls are in flight at once."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak = 0
        self.calls: list[str] = []

    def tool(self) -> Any:
        @tool
        async def lookup(entity: str) -> dict[str, Any]:
            """Look up a reservoir."""
            self.calls.append(entity)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            await asyncio.sleep(0.05)
            self.in_flight -= 1
            return {"id": pid(entity), "path": f"{entity.lower()}.md", "line_start": 1, "line_end": 1,
                    "text": f"{entity} holds {len(entity) * 100} megalitres."}

        return lookup


def tool_results(request: ModelRequest) -> list[Any]:
    out = []
    for m in request.messages:
        if m.role == "tool" and m.content:
            try:
                out.append(json.loads(m.content))
            except ValueError:
                out.append(m.content)
    return out


def tools_offered(request: ModelRequest) -> list[str]:
    return [t["function"]["name"] for t in request.tools]


class Script:
    """Parent: spawn the sub-tasks, then answer from the children's summaries. Child: look up
    its entity, then answer citing the passage. Every request is recorded."""

    def __init__(self, subtasks: list[str] = SUBTASKS, nested: bool = False) -> None:
        self.subtasks = subtasks
        self.nested = nested
        self.requests: list[ModelRequest] = []

    def __call__(self, request: ModelRequest) -> dict[str, Any] | str:
        self.requests.append(request)
        task = request.messages[1].content or ""
        results = tool_results(request)
        if task.startswith("Explode"):
            raise RuntimeError("this thread crashed")
        if task.startswith("Find"):
            entity = task.rstrip(".").split()[-1]
            if self.nested and "spawn" in tools_offered(request) and not results:
                return {"tool_calls": [{"name": "spawn", "arguments": {"tasks": [f"Check {entity}."]}}]}
            if not results:
                return {"tool_calls": [{"name": "lookup", "arguments": {"entity": entity}}]}
            found = results[-1]
            text = found["summary"] if isinstance(found, dict) and "summary" in found else f"{found['text']} [{found['id']}]"
            return text
        if task.startswith("Check"):
            return "checked"
        if not results:
            return {"tool_calls": [{"name": "spawn", "arguments": {"tasks": self.subtasks}}]}
        spawned = results[-1]
        return "\n".join(t["answer"] or f"(failed: {t['error']})" for t in spawned["threads"])


async def test_spawn_runs_children_with_only_their_subtask_and_keeps_citations() -> None:
    lookups = Lookups()
    script = Script()
    budget = Budget(llm_calls=40)
    agent = Agent(FunctionModel(script), [lookups.tool()], threads=2)
    result = await agent.run(QUESTION, budget=budget)

    assert sorted(lookups.calls) == ["Alder", "Birch", "Cedar", "Dogwood"]
    assert [c.id for c in result.citations] == [pid(e) for e in ["Alder", "Birch", "Cedar", "Dogwood"]]
    assert "Alder holds 500 megalitres." in result.output
    children = [r for r in script.requests if (r.messages[1].content or "").startswith("Find")]
    assert len(children) == 8  # two turns each
    for request in children:
        users = [m.content for m in request.messages if m.role == "user"]
        assert len(users) == 1 and users[0] in SUBTASKS  # the sub-task is the whole context
        assert QUESTION not in (request.messages[0].content or "") and CHILD_INSTRUCTIONS in (request.messages[0].content or "")
        assert "spawn" not in tools_offered(request)  # max_spawn_depth=1: children cannot spawn
    parent_first = script.requests[0]
    assert "spawn" in tools_offered(parent_first) and "call spawn(tasks=[...])" in (parent_first.messages[0].content or "")


async def test_children_run_concurrently_up_to_threads() -> None:
    lookups = Lookups()
    await Agent(FunctionModel(Script()), [lookups.tool()], threads=2).run(QUESTION)
    assert lookups.peak == 2
    lookups = Lookups()
    await Agent(FunctionModel(Script()), [lookups.tool()], threads=4).run(QUESTION)
    assert lookups.peak == 4


async def test_each_child_has_its_own_budget_share() -> None:
    budget = Budget(llm_calls=41, tool_calls=100)
    await Agent(FunctionModel(Script()), [Lookups().tool()], threads=4).run(QUESTION, budget=budget)
    report = budget.report()
    threads = [c for c in report.children if c.name.startswith("agent.t")]
    assert [c.name for c in threads] == ["agent.t1", "agent.t2", "agent.t3", "agent.t4"]
    # 40 calls left when spawning (one for the parent's first turn): 80% shared by 4 children
    assert all(c.limits["llm_calls"] == 8 and c.spent["llm_calls"] == 2 for c in threads)
    assert budget.spent.llm_calls == 2 + 8


def test_child_limits_share() -> None:
    budget = Budget(llm_calls=10, usd=1.0)
    assert child_limits(budget, 4) == {"usd": pytest.approx(0.2), "llm_calls": 2}
    assert child_limits(Budget(llm_calls=2), 4) == {"llm_calls": 1}  # a child can always try
    assert child_limits(None, 3) == {}


async def test_spawn_depth_is_bounded() -> None:
    script = Script(nested=True)
    await Agent(FunctionModel(script), [Lookups().tool()], threads=2, max_spawn_depth=2).run(QUESTION)
    children = [r for r in script.requests if (r.messages[1].content or "").startswith("Find")]
    grandchildren = [r for r in script.requests if (r.messages[1].content or "").startswith("Check")]
    assert children and all("spawn" in tools_offered(r) for r in children)
    assert len(grandchildren) == 4 and all("spawn" not in tools_offered(r) for r in grandchildren)


async def test_failing_thread_does_not_stop_siblings() -> None:
    script = Script(subtasks=["Find the volume of Alder.", "Explode now."])
    result = await Agent(FunctionModel(script), [Lookups().tool()], threads=2).run(QUESTION)
    assert "Alder holds 500 megalitres." in result.output
    assert "(failed: RuntimeError: this thread crashed)" in result.output
    events = RunStore().events(result.run_id)
    spawn = [e for e in events if e["kind"] == "spawn"]
    assert spawn and spawn[0]["data"]["tasks"] == ["Find the volume of Alder.", "Explode now."]


async def test_spawn_rejects_empty_task_lists_as_tool_errors() -> None:
    def respond(request: ModelRequest) -> dict[str, Any] | str:
        results = tool_results(request)
        if not results:
            return {"tool_calls": [{"name": "spawn", "arguments": {"tasks": ["  "]}}]}
        return json.dumps(results[-1])

    result = await Agent(FunctionModel(respond), [], threads=2).run("x")
    assert "spawn needs at least one non-empty sub-task" in result.output

"""Approval gates on a bare ``Agent`` (no LangGraph checkpoint): the tool loop waits, recorded as
``waiting`` in the run store, until an ``on_approval`` handler, another task or another process
(``loom runs approve``) answers; and ``await result.resume(approve=True)`` on a waiting result."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agentloom import Agent, approvals
from agentloom.approvals import ApprovalRequest
from agentloom.errors import ConfigError
from agentloom.events import ApprovalRequested, Event
from agentloom.models.function import FunctionModel
from agentloom.models.types import ModelRequest
from agentloom.research.run import research
from agentloom.runstore import RunStore
from tests.test_agent_width import make_lookup

ROOT = Path(__file__).resolve().parents[1]


def respond(request: ModelRequest) -> dict[str, Any] | str:
    """Look the entity up once, then answer from the tool's result."""
    results = [m.content for m in request.messages if m.role == "tool"]
    if results:
        return f"answer: {results[-1]}"
    return {"tool_calls": [{"name": "lookup", "arguments": {"entity": "tank"}}]}


def agent(ran: list[str], **kwargs: Any) -> Agent:
    return Agent(FunctionModel(respond), [make_lookup(ran)], max_turns=3, **kwargs)


async def test_handler_approves_the_gated_call() -> None:
    ran: list[str] = []
    asked: list[ApprovalRequest] = []
    events: list[Event] = []

    def handler(request: ApprovalRequest) -> bool:
        asked.append(request)
        assert not ran  # the call waits for the answer
        return True

    result = await agent(ran, approve={"tools": ["lookup"]}, on_approval=handler).run("How much does the tank hold?",
                                                                                       listeners=[events.append])
    assert ran == ["tank"] and "tank is fine" in str(result.output)
    [request] = asked
    assert request.gate == "tool" and request.data["tool"] == "lookup" and request.data["args"] == {"entity": "tank"}
    assert [e.gate for e in events if isinstance(e, ApprovalRequested)] == ["tool"]
    assert result.meta["approvals"][0]["approved"] is True and result.meta["approvals"][0]["by"] == "python"
    with RunStore() as store:
        assert store.get_run(result.run_id).status == "ok"


async def test_handler_denial_ends_the_run_without_the_call() -> None:
    ran: list[str] = []

    async def handler(request: ApprovalRequest) -> dict[str, Any]:
        return {"approve": False, "reason": "not that tank"}

    result = await agent(ran, approve={"tools": ["lookup"]}, on_approval=handler).run("How much does the tank hold?")
    assert ran == []
    assert result.stop_reason == "denied" and result.partial
    assert result.meta["denied"]["reason"] == "not that tank"
    with RunStore() as store:
        record = store.get_run(result.run_id)
        assert record.status == "denied"
        assert len(store.events(result.run_id, "model_call")) == 1  # nothing was spent after the denial


async def wait_for_waiting(deadline_s: float = 30) -> approvals.RunHandle:
    deadline = time.monotonic() + deadline_s
    with RunStore() as store:  # one connection for the polling
        while time.monotonic() < deadline:
            found = await asyncio.to_thread(approvals.waiting, store=store)
            if found:
                return approvals.get(found[0].run_id)
            await asyncio.sleep(0.1)
    raise AssertionError("the agent run never showed up as waiting")


async def test_answered_from_another_process(loom_home: Path) -> None:
    ran: list[str] = []
    running = asyncio.ensure_future(agent(ran, approve={"tools": ["lookup"]}).run("How much does the tank hold?"))
    handle = await wait_for_waiting()
    [request] = handle.requests
    assert request.gate == "tool" and handle.status == "waiting" and not ran
    env = {**os.environ, "AGENTLOOM_HOME": str(loom_home)}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "agentloom.cli", "runs", "approve", handle.run_id,
                                                "--json", cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    result = await asyncio.wait_for(running, timeout=30)
    assert proc.returncode == 0, err.decode()
    assert ran == ["tank"] and "tank is fine" in str(result.output)
    assert result.meta["approvals"][0]["by"] == "cli"
    printed = json.loads(out)
    assert printed["run_id"] == result.run_id and "tank is fine" in str(printed["output"])


async def test_denied_from_another_task() -> None:
    ran: list[str] = []
    running = asyncio.ensure_future(agent(ran, approve={"tools": ["lookup"]}).run("How much does the tank hold?"))
    handle = await wait_for_waiting()
    answered = await asyncio.wait_for(handle.resume(approve=False, reason="later"), timeout=30)
    result = await asyncio.wait_for(running, timeout=30)
    assert ran == [] and result.stop_reason == answered.stop_reason == "denied"
    assert answered.run_id == result.run_id and handle.status == "denied"


async def test_spend_over_asks_once_before_the_step_that_passes_it() -> None:
    ran: list[str] = []
    asked: list[ApprovalRequest] = []

    def handler(request: ApprovalRequest) -> bool:
        asked.append(request)
        return True

    result = await agent(ran, approve={"spend_over": "1 tokens"}, on_approval=handler).run("How much does the tank hold?")
    assert [r.gate for r in asked] == ["spend"]  # asked before the second model call, and only once
    assert asked[0].data["total"] > 1 and asked[0].data["spent"]["llm_calls"] == 1
    assert result.usage.llm_calls == 2 and ran == ["tank"]


def test_agent_plan_gate_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="no plan to show"):
        Agent(FunctionModel(respond), approve="plan")
    with pytest.raises(ConfigError, match="approve"):
        Agent(FunctionModel(respond), approve={"spend_over": "lots"})


async def test_resume_after_the_waiting_process_ended_is_one_clear_error() -> None:
    with RunStore() as store:
        run_id = store.create_run("agent", name="agent")
        store.patch_run(run_id, lambda meta: meta.update(approval={
            "pending": [{"id": "x", "gate": "tool", "tool": "lookup"}], "recipe": {"entry": "agent"},
            "live": {"pid": 2**22 + 12345, "host": os.uname().nodename}}), status="waiting")
    with pytest.raises(ConfigError, match="process that has ended"):
        await approvals.get(run_id).resume(approve=True)


async def test_result_resume_continues_a_waiting_research_run() -> None:
    waiting = await research("How is Marrowick supplied with water?", approve="plan")
    assert waiting.stop_reason == "waiting"
    done = await waiting.resume(approve=True)
    assert done.stop_reason == "done" and done.run_id == waiting.run_id and "[1]" in str(done.output)


async def test_a_stream_consumer_answers_the_gate() -> None:
    ran: list[str] = []
    answered = None
    stream = agent(ran, approve={"tools": ["lookup"]}).stream("How much does the tank hold?")
    async for event in stream:
        if isinstance(event, ApprovalRequested):
            answered = await asyncio.wait_for(approvals.get(event.run_id).resume(approve=True), timeout=30)
    assert answered is not None and ran == ["tank"]
    assert stream.result is not None and "tank is fine" in str(stream.result.output)
    assert answered.run_id == stream.result.run_id and "tank is fine" in str(answered.output)


def dag_agent(calls: list[str], **kwargs: Any) -> Agent:
    from agentloom.planners import DAGPlanner
    from tests.test_dag_planner import PLAN, make_tools, planner_model

    return Agent(planner_model(lambda request: PLAN), make_tools(calls), planner=DAGPlanner(), **kwargs)


@pytest.mark.parametrize("approve", [True, False])
async def test_spend_gate_holds_on_the_dag_planner_path(approve: bool) -> None:
    calls: list[str] = []
    asked: list[ApprovalRequest] = []

    def handler(request: ApprovalRequest) -> bool:
        asked.append(request)
        return approve

    agent = dag_agent(calls, approve={"spend_over": "1 tokens"}, on_approval=handler)
    result = await agent.run("Harrow plus Brandt?")
    assert [r.gate for r in asked] == ["spend"] and asked[0].data["spent"]["llm_calls"] == 1  # before the join
    assert sorted(calls) == ["lookup:Brandt", "lookup:Harrow"]  # the plan ran before the gate
    if approve:
        assert result.usage.llm_calls == 2 and "lookup 1=1200" in str(result.output) and "2000" in str(result.output)
    else:
        assert result.usage.llm_calls == 1 and result.stop_reason == "denied" and result.partial
        with RunStore() as store:
            assert store.get_run(result.run_id).status == "denied"


@pytest.mark.parametrize("approve", [True, False])
async def test_spend_gate_holds_on_spawned_threads(approve: bool) -> None:
    from agentloom.agents.threads import CHILD_INSTRUCTIONS
    from tests.test_threads import Lookups, Script

    asked: list[ApprovalRequest] = []

    def handler(request: ApprovalRequest) -> bool:
        asked.append(request)
        return approve

    script, lookups = Script(), Lookups()
    agent = Agent(FunctionModel(script), [lookups.tool()], threads=4, approve={"spend_over": "1 tokens"}, on_approval=handler)
    result = await agent.run("Compare the reservoirs Alder, Birch, Cedar and Dogwood.")
    children = [r for r in script.requests if CHILD_INSTRUCTIONS in (r.messages[0].content or "")]
    assert [r.gate for r in asked] == ["spend"]  # four threads racing past the limit share one request
    if approve:
        assert len(children) == 8 and sorted(lookups.calls) == ["Alder", "Birch", "Cedar", "Dogwood"]
        assert "Alder holds 500 megalitres." in str(result.output)
    else:
        assert children == [] and lookups.calls == [] and len(script.requests) == 1
        assert result.stop_reason == "denied" and result.usage.llm_calls == 1

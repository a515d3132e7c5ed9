"""Time spent waiting for a person is not run time: a ``seconds`` limit and the run's wall time
cover the run on both sides of an approval pause, never the wait (a bare Agent waiting in its
loop, and a graph run resumed in another call)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from agentloom import Budget, approvals
from agentloom.approvals import ApprovalRequest
from agentloom.research.run import research
from agentloom.research.run_page import duration_of
from agentloom.runstore import RunStore
from tests.test_approval_agent import agent

WAIT_S = 1.2


async def test_an_agent_waiting_for_a_person_keeps_its_seconds_budget() -> None:
    ran: list[str] = []

    async def slow_person(request: ApprovalRequest) -> bool:
        await asyncio.sleep(WAIT_S)
        return True

    started = time.monotonic()
    result = await agent(ran, approve={"tools": ["lookup"]}, on_approval=slow_person).run(
        "How much does the tank hold?", budget=Budget(seconds=WAIT_S * 0.75))
    assert time.monotonic() - started >= WAIT_S
    assert not result.budget_limited and ran == ["tank"] and "tank is fine" in str(result.output)
    assert result.usage.wall_s < WAIT_S
    with RunStore() as store:
        record = store.get_run(result.run_id)
    [pause] = record.meta["pauses"]
    assert pause[1] - pause[0] >= WAIT_S
    seconds = duration_of(record)
    assert seconds is not None and seconds < WAIT_S


async def test_a_resumed_graph_run_counts_its_time_before_the_pause() -> None:
    waiting = await research("How is Marrowick supplied with water?", approve="plan")
    with RunStore() as store:
        before_s = float(store.get_run(waiting.run_id).meta["approval"]["elapsed_s"])
    assert before_s > 0
    await asyncio.sleep(WAIT_S)
    done: Any = await approvals.get(waiting.run_id).resume(approve=True, budget=Budget(seconds=300))
    assert done.stop_reason == "done"
    assert before_s <= done.usage.wall_s < before_s + WAIT_S  # the run time before the pause, not the pause

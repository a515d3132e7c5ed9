"""A spawned thread on a remote executor (a Ray async actor): the child agent travels as it is
(model, tools, instructions) and runs inside the parent's run there (see ``agentloom.remote_run``:
the run's budget through the database, its events sent back to the driver)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentloom import executors, remote_run
from agentloom.models import call_gate
from agentloom.tools import gate as tool_gate

if TYPE_CHECKING:
    from agentloom.agents.agent import Agent
    from agentloom.budget import Budget
    from agentloom.result import Result

__all__ = ["ThreadJob", "eligible", "run_thread"]


def eligible(agent: Agent) -> bool:
    """Whether a thread of ``agent`` can leave this process: not when it holds something a
    process owns (a memory bank object, MCP sessions the run opened), nor under an approval
    gate, which waits for its answer in this process."""
    return (executors.current().remote and agent.memory is None and not agent.toolsets
            and not tool_gate.active() and not call_gate.active())


@dataclass(frozen=True)
class ThreadJob:
    """One thread: the child agent, its sub-task, its share of the budget and its spawn depth."""

    link: remote_run.RunLink
    agent: Any
    task: str
    limits: dict[str, float | None]
    depth: int


async def run_thread(job: ThreadJob, budget: Budget | None) -> Result:
    """Run the thread on the current (remote) executor; its spend is counted in ``budget``, the
    parent's budget it would have been a child of."""
    value: Result = await remote_run.call_elsewhere(executors.current(), _on_worker, job, job.agent.name, budget)
    return value


async def _on_worker(job: ThreadJob, send: Callable[[Any], None] | None = None) -> dict[str, Any]:
    from agentloom.agents.threads import spawn_depth

    remote_run.join_stores(job.link, f"thread {job.agent.name}")
    with remote_run.entered(job.link, job.agent.name, send, limits=job.limits) as budget:
        token = spawn_depth.set(job.depth)
        try:
            result = await job.agent.run(job.task, budget=budget)
        finally:
            spawn_depth.reset(token)
    return {"value": result, "spent": budget.spent.to_dict()}

"""Reasoning threads (APR, Multiverse, ParaThinker): the ``spawn`` tool an agent gets with
``Agent(..., threads=N)``.

``spawn(tasks=[...])`` runs each sub-task as a child agent whose whole context is the sub-task
text the parent wrote, under its own child budget (a share of what the parent has left), at most
N at a time. The parent gets one tool result: the children's answers joined, with their
citation markers and the passages behind them, so citations survive the hand-off. Spawning
depth is bounded by ``max_spawn_depth``: children at the limit get no ``spawn`` tool.
"""

from __future__ import annotations

import asyncio
import math
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from agentloom import remote_run, tracing
from agentloom.agents import _remote_thread
from agentloom.budget import Budget
from agentloom.errors import BudgetExceeded
from agentloom.tools.base import Tool

if TYPE_CHECKING:
    from agentloom.agents.agent import Agent
    from agentloom.result import Result

__all__ = ["spawn_tool", "child_limits", "CHILD_INSTRUCTIONS", "spawn_depth"]

CHILD_INSTRUCTIONS = (
    "You are a thread working on one sub-task of a larger question; the text you are given is "
    "all the context you have. Use the tools, then answer the sub-task briefly, citing every "
    "claim with its source id in square brackets."
)

#: How deep the running code is in the spawn tree (0 = a top-level agent).
spawn_depth: ContextVar[int] = ContextVar("agentloom_spawn_depth", default=0)

#: The share of the parent's remaining budget that all children of one spawn may use.
CHILD_SHARE = 0.8


def child_limits(budget: Budget | None, n: int, share: float = CHILD_SHARE) -> dict[str, float | None]:
    """Per-child limits: an equal part of ``share`` of each limited dimension the parent has
    left (at least one call of each counted kind, so a child can always try)."""
    if budget is None or n < 1:
        return {}
    limits: dict[str, float | None] = {}
    for key, left in budget.remaining().items():
        if left is None or key == "seconds":
            continue
        part = max(0.0, left) * share / n
        if key == "usd":
            limits[key] = part
        else:
            limits[key] = max(1, math.floor(part))
    return limits


def _summary(index: int, task: str, result: Result | None, error: str | None) -> str:
    head = f"[thread {index}] {task}"
    if error is not None:
        return f"{head}\n(failed: {error})"
    assert result is not None
    text = str(result.output or "").strip() or "(no answer)"
    if result.budget_limited:
        text += "\n(stopped early: its budget ran out)"
    return f"{head}\n{text}"


def spawn_tool(parent: Agent) -> Tool:
    """The ``spawn`` tool for ``parent`` (which has ``threads`` set)."""
    threads = int(parent.threads or 1)
    depth = parent.spawn_depth
    max_tasks = parent.max_spawn_tasks

    async def spawn(tasks: list[str]) -> dict[str, Any]:
        """Run independent sub-tasks in parallel as child agents and get their answers back as one result.

        Args:
            tasks: Self-contained sub-tasks, one per child; each child sees only its own text, so include every detail it needs.
        """
        clean = [" ".join(str(t).split()) for t in tasks if str(t).strip()]
        if not clean:
            raise ValueError("spawn needs at least one non-empty sub-task")
        if len(clean) > max_tasks:
            raise ValueError(f"spawn takes at most {max_tasks} sub-tasks at once (max_spawn_tasks); got {len(clean)}; group them")
        current = max(depth, spawn_depth.get())
        if current >= parent.max_spawn_depth:
            raise ValueError(f"spawn depth limit reached (max_spawn_depth={parent.max_spawn_depth}); answer this sub-task directly")
        ctx = tracing.current()
        budget = ctx.budget if ctx is not None else None
        limits = child_limits(budget, len(clean))
        gate = asyncio.Semaphore(threads)
        tracing.emit("spawn", parent.name, data={"tasks": clean, "threads": threads, "depth": current + 1, "limits": limits})

        async def child(i: int, sub_task: str) -> tuple[Result | None, str | None]:
            agent = parent.child_agent(f"{parent.name}.t{i + 1}")
            async with gate:
                token = spawn_depth.set(current + 1)
                try:
                    if _remote_thread.eligible(agent):  # on a Ray host, charging the run's budget through the database
                        job = _remote_thread.ThreadJob(remote_run.link_here(), agent, sub_task, limits, current + 1)
                        return await _remote_thread.run_thread(job, budget), None
                    branch = budget.child(agent.name, **limits) if budget is not None else None
                    return await agent.run(sub_task, budget=branch), None
                except BudgetExceeded as exc:
                    return None, f"budget exhausted ({exc.one_line()})"
                except Exception as exc:  # one failing thread never takes its siblings down
                    return None, f"{type(exc).__name__}: {exc}"
                finally:
                    spawn_depth.reset(token)

        outcomes = await asyncio.gather(*(child(i, t) for i, t in enumerate(clean)))
        entries = []
        for sub_task, (result, error) in zip(clean, outcomes, strict=True):
            entries.append({
                "task": sub_task,
                "answer": None if result is None else str(result.output or ""),
                "ok": error is None,
                "budget_limited": bool(result is not None and result.budget_limited),
                "error": error,
                "sources": [] if result is None else [c.to_dict() for c in result.citations],
            })
        summary = "\n\n".join(_summary(i, t, r, e) for i, (t, (r, e)) in enumerate(zip(clean, outcomes, strict=True), start=1))
        return {"summary": summary, "threads": entries}

    return Tool(spawn, name="spawn")  # never shared: each spawn is its own thread

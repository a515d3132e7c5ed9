"""The agent node: an ``Agent`` built from the spec, run on the rendered task."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentloom.errors import ConfigError
from agentloom.graph._interp import render
from agentloom.graph._nodes._common import Output, as_int, text_of
from agentloom.graph._resources import Resources
from agentloom.graph._state import jsonable
from agentloom.graph.spec import AgentNode

__all__ = ["run_agent"]


async def run_agent(n: AgentNode, name: str, scope: Mapping[str, Any], res: Resources, team: str | None,
                 overrides: Mapping[str, Any]) -> Output:
    from agentloom.agents.agent import DEFAULT_INSTRUCTIONS, Agent

    default_task = "{item}" if "item" in scope else "{question}"
    task = text_of(render(n.task if n.task is not None else default_task, scope)).strip()
    if not task:
        raise ConfigError(f"agent node '{name}' got an empty task (from {n.task or default_task!r})")
    width = render(n.width, scope)
    if isinstance(width, str):
        width = None if width.strip() in ("auto", "") else int(width) if width.strip().isdigit() else width
    kwargs: dict[str, Any] = {
        "model": res.model(n.model),
        "tools": res.tools_for(n.tools),
        "instructions": text_of(render(n.instructions, scope)) if n.instructions else DEFAULT_INSTRUCTIONS,
        "name": name,
        "width": width if width is not None else "descending",
        "max_turns": as_int(render(n.max_turns, scope), f"{name}.max_turns"),
        "max_tokens": as_int(render(n.max_tokens, scope), f"{name}.max_tokens"),
        "temperature": overrides.get("temperature", n.temperature),
        "memory": res.memory if n.memory else None,
        "team": text_of(render(n.team, scope)) if n.team else team,
        "max_concurrency": n.max_concurrency,
        "output_type": res.refs.get(n.output_type) if n.output_type else None,
    }
    if n.threads is not None:
        kwargs["threads"] = n.threads
        kwargs["max_spawn_depth"] = n.max_spawn_depth
    if n.planner == "dag":
        from agentloom.planners.dag import DAGPlanner

        kwargs["planner"] = DAGPlanner(model=kwargs["model"])
    agent = Agent(**kwargs)
    result = await agent.run(task)
    output = result.output
    text = output if isinstance(output, str) else text_of(jsonable(output))
    cited = [c.to_dict() for c in result.citations]
    return (
        {
            "text": text,
            "output": None if isinstance(output, str) else jsonable(output),
            "task": task,
            "team": kwargs["team"],
            "citations": cited,
            "passages": cited,
            "stop_reason": result.stop_reason,
            "budget_limited": result.budget_limited,
            "grounded": result.grounded,
            "usage": result.usage.to_dict(),
            "meta": jsonable(result.meta),
        },
        result.budget_limited,
    )

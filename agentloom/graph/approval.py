"""The graph side of answering a waiting run: rebuild its graph from the recipe its record
keeps, check an edited plan, and run it on with a person's decision (``agentloom.approvals``
is the public face)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentloom.graph._approval import edited_plan
from agentloom.graph._approval_run import rebuild_graph

if TYPE_CHECKING:
    from agentloom.budget import Budget
    from agentloom.models.types import Model
    from agentloom.result import Result
    from agentloom.runstore import RunStore
    from agentloom.tracing import Listener

__all__ = ["approve_spec", "check_plan_edit", "resume_waiting", "tool_names"]


def approve_spec(approve: Any, *, where: str = "approve") -> Any:
    """Any accepted ``approve=`` form as an ``ApproveSpec``; ``ConfigError`` (one line) when bad."""
    from agentloom.errors import ConfigError
    from agentloom.graph._spec_approve import ApproveSpec, approve_data

    try:
        return ApproveSpec.model_validate(approve_data(approve))
    except ValueError as exc:
        raise ConfigError(f"{where}={approve!r}: {' '.join(str(exc).split())[:300]}") from None


def tool_names(spec: Any) -> set[str]:
    """The tool names an ``ApproveSpec``'s ``tools`` gate (a built-in group names its tools)."""
    from agentloom.graph._spec_types import TOOL_GROUPS

    return {t for name in spec.tools for t in TOOL_GROUPS.get(name, (name,))}


def check_plan_edit(request: Mapping[str, Any], plan: Mapping[str, Any]) -> dict[str, Any]:
    """The plan of a plan gate ``request`` with ``plan`` applied; ``ConfigError`` on a bad edit."""
    return edited_plan(request, plan)


async def resume_waiting(
    recipe: Mapping[str, Any],
    run_id: str,
    decision: Mapping[str, Any],
    *,
    model: str | Model | None = None,
    budget: Budget | None = None,
    store: RunStore | None = None,
    listeners: list[Listener] | None = None,
) -> Result:
    """Run the waiting run ``run_id`` on from its checkpoint, every pending gate answered with ``decision``."""
    from agentloom.budget import Budget
    from agentloom.graph._run import run_graph

    graph = rebuild_graph(recipe)
    return await run_graph(
        graph, None, budget=budget or Budget.from_limits(dict(recipe.get("budget") or {}), name=graph.name),
        run_id=run_id, model=model if model is not None else recipe.get("model"), resume=True, store=store,
        listeners=listeners, decision=dict(decision),
    )

"""A run that waits at an approval gate: recording the pause (status ``waiting``, the pending
requests, an ``ApprovalRequested`` event each, and how to rebuild the graph in another process)
and answering it (``Command(resume=...)`` for every pending gate)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentloom import tracing
from agentloom.budget import Budget, Cost
from agentloom.errors import ConfigError
from agentloom.events import ApprovalRequested
from agentloom.result import Result, UsageSummary

if TYPE_CHECKING:
    from agentloom.graph.builder import Graph
    from agentloom.runstore import RunStore

__all__ = ["approval_resume", "rebuild_graph", "waiting_result", "with_approve"]


def with_approve(graph: Graph, approve: Any) -> Graph:
    """A copy of ``graph`` whose ``approve:`` gates are ``approve`` (the caller's graph is untouched)."""
    from agentloom.graph.approval import approve_spec
    from agentloom.graph.builder import Graph

    gates = approve_spec(approve)
    spec = graph.spec.model_copy(update={"approve": gates if gates.any else None})
    return Graph.from_spec(spec, source=graph.source, base_dir=graph.base_dir, refs=graph.refs)


def rebuild_graph(recipe: Mapping[str, Any]) -> Graph:
    """The graph a waiting run was started with, from the recipe its record keeps."""
    import yaml

    from agentloom.graph.loader import parse_graph

    text = yaml.safe_dump(dict(recipe["spec"]), sort_keys=False, allow_unicode=True)
    return parse_graph(text, source=str(recipe.get("source") or "<waiting run>"), base_dir=recipe.get("base_dir"))


async def waiting_result(run: Any, scope: Any, final: Mapping[str, Any], app: Any, config: Any) -> Result:
    """Record the pause: the pending requests, one ``ApprovalRequested`` event each, the spend so
    far and the recipe to rebuild the graph; return a ``Result`` with ``stop_reason='waiting'``."""
    pending = [{"id": i.id, **(i.value if isinstance(i.value, Mapping) else {"value": i.value})} for i in final["__interrupt__"]]
    budget: Budget = scope.budget
    for request in pending:
        tracing.emit("approval_requested", str(request.get("node") or run.graph.name),
                     data={"gate": request.get("gate"), "request": request, "run_id": run.thread_id}, event_cls=ApprovalRequested)
    graph = run.graph
    recipe = {"spec": graph.to_dict(), "base_dir": str(graph.base_dir), "source": graph.source,
              "model": run.model if isinstance(run.model, str) else None,
              "model_object": run.model is not None and not isinstance(run.model, str),
              "budget": {k: v for k, v in budget.limits.items() if v is not None}, "entry": "graph"}
    scope.meta = {"graph": graph.spec.name, "stop_reason": "waiting",
                  "approval": {"pending": pending, "spent": budget.spent.to_dict(), "elapsed_s": round(budget.elapsed(), 4),
                               "since": time.time(), "recipe": recipe}}
    scope.usage = UsageSummary.from_budget(budget, memory_hits=run.hits).to_dict()
    return Result(output=None, usage=UsageSummary.from_budget(budget, memory_hits=run.hits), run_id=run.thread_id,
                  partial=True, stop_reason="waiting", meta={"waiting": pending, "graph": graph.spec.name})


async def approval_resume(app: Any, config: Any, decision: Any, budget: Budget, store: RunStore | None, run_id: str) -> Any:
    """The ``Command`` that answers every gate the run waits at with ``decision``; the spend
    before the pause is charged to ``budget`` first, so limits and reports count the whole run."""
    from langgraph.types import Command

    state = await app.aget_state(config)
    interrupts = list(state.interrupts or [])
    if not interrupts:
        raise ConfigError(f"run '{run_id}' is not waiting for approval; see `loom runs show {run_id}`")
    prior, ran_s = _prior_spend(store, run_id)
    if prior is not None and (prior.tokens or prior.usd or prior.llm_calls or prior.tool_calls):
        budget.charge(prior, what="spent before the approval pause")
    budget.shift_clock(ran_s)  # the run time before the pause counts; the pause does not
    return Command(resume={i.id: decision for i in interrupts})


def _prior_spend(store: RunStore | None, run_id: str) -> tuple[Cost | None, float]:
    """What the run spent before its pause, and for how many seconds it had run."""
    from agentloom.errors import RunNotFoundError
    from agentloom.runstore import RunStore

    own = store is None
    target = store or RunStore()
    try:
        record = target.get_run(run_id)
    except RunNotFoundError:
        return None, 0.0
    finally:
        if own:
            target.close()
    approval = (record.meta or {}).get("approval") or {}
    spent = approval.get("spent") or {}
    return Cost(usd=float(spent.get("usd") or 0.0), input_tokens=int(spent.get("input_tokens") or 0),
                output_tokens=int(spent.get("output_tokens") or 0), llm_calls=int(spent.get("llm_calls") or 0),
                tool_calls=int(spent.get("tool_calls") or 0)), float(approval.get("elapsed_s") or 0.0)


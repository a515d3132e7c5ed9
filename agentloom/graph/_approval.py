"""Approval gates inside a compiled graph: a ``NAME.approve`` node after each gated planner, a
spend check before each node and fan-out, and what a denied run still does.

A gate pauses through LangGraph ``interrupt(request)``; the checkpoint keeps the pause, so the
run survives a restart and continues when it is resumed with ``Command(resume=decision)``. A
decision is ``{"approve": bool, "reason": str, "plan": {...}}``. Every answered gate is kept in
the run flags (``approvals``); a denial also sets ``denied``, after which no node spends: map
fan-outs are empty, writers write extractively from what was found, other nodes are skipped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from agentloom import tracing
from agentloom.budget import Budget
from agentloom.errors import ApprovalDenied, ConfigError
from agentloom.graph._spec_approve import ApproveSpec

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

__all__ = ["FLAGS", "call_key", "collect", "denied", "edited_plan", "plan_gate", "project", "run_denied", "spend_gate", "tool_gate"]

FLAGS = "loom_flags"
#: Width planners: their output has ``branches`` that a map fans out over.
_WIDTH_PLANNERS = ("fixed", "scheduled", "budget")


def denied(state: Mapping[str, Any]) -> bool:
    """Whether a person denied a gate earlier in this run."""
    return bool((state.get(FLAGS) or {}).get("denied"))


def gated_planner(node: Any) -> bool:
    """Whether ``node`` is a planner whose output is a fan-out plan (``branches``)."""
    return getattr(node, "kind", None) == "planner" and getattr(node, "planner", None) in _WIDTH_PLANNERS


def _root_budget() -> Budget | None:
    ctx = tracing.current()
    return ctx.budget.root() if ctx is not None and ctx.budget is not None else None


def _spent(budget: Budget | None) -> dict[str, Any]:
    if budget is None:
        return {"usd": 0.0, "tokens": 0, "llm_calls": 0}
    spent = budget.spent
    return {"usd": round(spent.usd, 8), "tokens": spent.tokens, "llm_calls": spent.llm_calls}


def project(plan: Mapping[str, Any], node: Any, budget: Budget | None, *, spec: Any = None, name: str | None = None,
            tool_schemas: Sequence[Mapping[str, Any]] = (), measured: Any = None) -> dict[str, Any]:
    """The projected cost of the fan-out ``plan`` asks for and of the steps after it (see
    ``_projection``): from earlier runs of the graph (``measured``) when there are some, else
    from the branch's tool-loop shape in ``spec``; USD at the rate this run has paid so far.
    Labelled an estimate; ``run_tokens``/``run_llm_calls`` are the whole run's."""
    from agentloom.graph._projection import BranchShape, branch_shape, estimate

    branches = len(plan.get("branches") or [])
    spent = _spent(budget)
    shape = branch_shape(spec, name) if spec is not None and name else BranchShape()
    out = estimate(shape, list(plan.get("sub_tasks") or plan.get("branches") or []), branches, spent,
                   tool_schemas=tool_schemas, measured=measured)
    planner = getattr(node, "planner", "planner")
    return {"branches": branches, **out, "spent_before": spent, "estimate": f"{planner} planner's plan, {out['estimate']}"}


async def measure(spec: Any, name: str, state_res: Any) -> dict[str, Any]:
    """What ``project`` reads besides the plan: the branch body's tool schemas (from the run's
    resources) and earlier runs of this graph (from the run store, off the event loop)."""
    import asyncio

    from agentloom.graph._projection import branch_shape, history

    shape = branch_shape(spec, name)
    schemas: list[Mapping[str, Any]] = []
    if state_res is not None and shape.tools:
        try:
            schemas = [t.schema() for t in state_res.tools_for(list(shape.tools))]
        except Exception:  # an estimate only: a tool that cannot describe itself counts as no schema
            schemas = []
    ctx = tracing.current()
    store = ctx.store if ctx is not None else None
    measured = await asyncio.to_thread(history, store, spec.name, exclude=ctx.run_id if ctx is not None else None)
    return {"spec": spec, "name": name, "tool_schemas": schemas, "measured": measured}


async def branch_cost(spec: Any, name: str, node: Any, res: Any) -> float | None:
    """For a width planner node that does not set ``cost_per_branch``: what one branch of its
    fan-out costs in the node's unit, by the projection (earlier runs, else the branch's loop)."""
    from agentloom.graph._projection import branch_shape, per_branch

    if getattr(node, "kind", None) != "planner" or "cost_per_branch" not in type(node).model_fields \
            or "cost_per_branch" in node.model_fields_set:
        return None
    shape = branch_shape(spec, name)
    seen = await measure(spec, name, res)
    measured = seen["measured"]
    if not shape.prompt_text and (measured is None or not measured.runs):
        return None  # no agent fans out over this plan and no history: nothing better than the configured cost
    return per_branch(shape, str(node.unit), tool_schemas=seen["tool_schemas"], measured=measured)


def _decision(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"approve": value}
    if not isinstance(value, Mapping):
        raise ConfigError(f"an approval decision must be approve true/false, not {value!r}")
    return dict(value)


def _record(gate: str, where: str, decision: Mapping[str, Any], **facts: Any) -> dict[str, Any]:
    return {"gate": gate, "node": where, "approved": bool(decision.get("approve")), "reason": decision.get("reason"),
            "by": decision.get("by"), "edited": bool(decision.get("plan")), "at": time.time(), **facts}


def edited_plan(plan: Mapping[str, Any], edit: Mapping[str, Any]) -> dict[str, Any]:
    """``plan`` with a person's edit applied: new ``sub_tasks`` and/or ``width`` (branches are
    recomputed as the planner does), or ``branches`` given outright."""
    from agentloom.graph._nodes.planner import plan_branches

    unknown = sorted(set(edit) - {"sub_tasks", "width", "branches"})
    if unknown:
        raise ConfigError(f"an edited plan takes sub_tasks, width or branches, not {', '.join(unknown)}")
    out = dict(plan)
    if "branches" in edit:
        branches = edit["branches"]
        if not isinstance(branches, list) or not all(isinstance(b, str) and b.strip() for b in branches):
            raise ConfigError("an edited plan's branches must be a list of non-empty strings")
        out.update(branches=list(branches), width=len(branches))
        return out
    sub_tasks = edit.get("sub_tasks", plan.get("sub_tasks") or [])
    if not isinstance(sub_tasks, list) or not all(isinstance(t, str) and t.strip() for t in sub_tasks):
        raise ConfigError("an edited plan's sub_tasks must be a list of non-empty strings")
    width = edit.get("width", plan.get("width") or 1)
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ConfigError(f"an edited plan's width must be a whole number of at least 1, not {width!r}")
    out.update(sub_tasks=list(sub_tasks), width=width,
               branches=plan_branches(list(sub_tasks), str(plan.get("question") or ""), width))
    return out


def _over(spec: ApproveSpec, spent: Mapping[str, Any], more: Mapping[str, Any] | None = None) -> float | None:
    """How far ``spent`` (plus a projected ``more``) goes over ``spend_over``, or None when it does not."""
    limit = spec.spend_over
    if limit is None:
        return None
    key = "usd" if limit.unit == "usd" else "tokens"
    total = float(spent.get(key) or 0) + float((more or {}).get(key) or 0)
    return total if total > limit.amount else None


def plan_gate(name: str, node: Any, spec: ApproveSpec, graph: Any = None, setup: Any = None) -> Any:
    """The ``NAME.approve`` node: show the plan ``name`` made (sub-questions, width, depth,
    projected cost) and wait; an approval may carry an edited plan. ``graph`` (the spec) and
    ``setup`` (state, config -> inputs, resources) let the projection see the fan-out's shape."""

    async def approve(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        from langgraph.types import interrupt

        plan = state.get(name)
        if denied(state) or not isinstance(plan, Mapping) or plan.get("stop") or not plan.get("branches"):
            return {}
        budget = _root_budget()
        seen: dict[str, Any] = {}
        if graph is not None:
            res = (await setup(state, config))[1] if setup is not None else None
            seen = await measure(graph, name, res)
        projected = project(plan, node, budget, **seen)
        request = {
            "gate": "plan", "node": name, "question": plan.get("question"), "sub_tasks": list(plan.get("sub_tasks") or []),
            "width": plan.get("width"), "depth": plan.get("depth"), "branches": list(plan.get("branches") or []),
            "reason": plan.get("reason"), "projected": projected,
        }
        decision = _decision(interrupt(request))
        record = _record("plan", name, decision, projected=projected)
        if not decision.get("approve"):
            return {FLAGS: {"denied": [record], "approvals": [record]}}
        flags: dict[str, Any] = {"approvals": [record]}
        if _over(spec, projected["spent_before"], projected) is not None:
            flags["spend_approved"] = True  # the person saw this projection: the spend gate does not ask again
        update: dict[str, Any] = {FLAGS: flags}
        if isinstance(decision.get("plan"), Mapping):
            update[name] = edited_plan(plan, decision["plan"])
            tracing.emit("plan_edited", name, data={"branches": update[name]["branches"], "width": update[name]["width"]})
        return update

    approve.__name__ = f"approve_{name}"
    return approve


def spend_gate(spec: ApproveSpec | None, state: Mapping[str, Any], where: str, more: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Before node (or fan-out) ``where``: if the run's spend, plus ``more`` projected for the
    step, goes past ``spend_over``, wait for a person. Returns the flags to write."""
    if spec is None or spec.spend_over is None:
        return {}
    flags = state.get(FLAGS) or {}
    if flags.get("spend_approved") or flags.get("denied"):
        return {}
    spent = _spent(_root_budget())
    total = _over(spec, spent, more)
    if total is None:
        return {}
    from langgraph.types import interrupt

    request = {"gate": "spend", "node": where, "spend_over": spec.spend_over.describe(), "spent": spent,
               "projected": dict(more or {}), "total": total, "unit": spec.spend_over.unit}
    decision = _decision(interrupt(request))
    record = _record("spend", where, decision, spent=spent, total=total)
    if not decision.get("approve"):
        return {"denied": [record], "approvals": [record]}
    return {"spend_approved": True, "approvals": [record]}


_approved: ContextVar[list[dict[str, Any]] | None] = ContextVar("agentloom_tool_approvals", default=None)


@contextmanager
def collect() -> Iterator[list[dict[str, Any]]]:
    """The tool calls approved while the body runs (a node keeps them in the run flags)."""
    found: list[dict[str, Any]] = []
    token = _approved.set(found)
    try:
        yield found
    finally:
        _approved.reset(token)


def call_key(tool: str, args: Any) -> str:
    """A tool call's identity, so an approval applies to the very call a person saw."""
    import json

    return json.dumps([tool, args], sort_keys=True, default=str)


def tool_gate(spec: ApproveSpec | None) -> Any:
    """The check ``ToolExecutor`` makes before each call: a call of a gated tool waits for a
    person; approved, it runs (only if it is the call they saw); denied, it raises
    ``ApprovalDenied`` and the run ends with what it found. None when no tool is gated."""
    if spec is None or not spec.tools:
        return None
    from agentloom.graph.approval import tool_names

    names = tool_names(spec)

    def check(tool: str, args: dict[str, Any]) -> None:
        if tool not in names:
            return
        from langgraph.types import interrupt

        ctx = tracing.current()
        where = (ctx.team if ctx is not None else None) or tool
        decision = _decision(interrupt({"gate": "tool", "node": where, "tool": tool, "args": args, "key": call_key(tool, args)}))
        record = _record("tool", where, decision, tool=tool)
        calls = decision.get("calls")
        if decision.get("approve") and (calls is None or call_key(tool, args) in calls):
            tracing.emit("approved", tool, data={"gate": "tool", "args": args})
            kept = _approved.get()
            if kept is not None:
                kept.append(record)
            return
        if decision.get("approve"):
            record.update(approved=False, reason="the call differs from the one approved (its branch ran again)")
        raise ApprovalDenied(f"a person denied the call to {tool}: {record.get('reason') or 'no reason given'}", record)

    return check


async def run_denied(node: Any, name: str, scope: Mapping[str, Any], res: Any) -> tuple[Any, bool]:
    """What node ``name`` does in a denied run: a writer writes what was found, without a model;
    anything else is skipped (no output)."""
    if getattr(node, "kind", None) == "writer":
        from agentloom.graph._nodes.writer import run_writer

        return await run_writer(node, name, scope, res, True, use_model=False)
    tracing.emit("skipped", name, data={"reason": "a person denied an approval gate"})
    return None, False


def approvals_meta(flags: Mapping[str, Any], budget: Budget) -> dict[str, Any]:
    """The run's answered gates, with the run's actual spend beside each projection."""
    records = list(flags.get("approvals") or [])
    if not records:
        return {}
    spent = budget.spent
    actual = {"usd": round(spent.usd, 8), "tokens": spent.tokens, "llm_calls": spent.llm_calls}
    out: dict[str, Any] = {"approvals": records, "actual": actual}
    if flags.get("denied"):
        first = flags["denied"][0]
        out["denied"] = {"gate": first.get("gate"), "node": first.get("node"), "reason": first.get("reason")}
    return out

"""Planner nodes: width planners (fixed, scheduled, budget) that plan the next round from
the verifier's feedback, and the DAG and PDR planners that run to an answer themselves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentloom import tracing
from agentloom.graph._interp import render
from agentloom.graph._nodes._common import Output, as_int, node_question, text_of
from agentloom.graph._nodes.verify import build_verifier
from agentloom.graph._resources import Resources
from agentloom.graph._state import jsonable
from agentloom.graph.spec import (
    BudgetPlannerNode,
    DAGPlannerNode,
    FixedPlannerNode,
    PDRNode,
    ScheduledPlannerNode,
)

__all__ = ["plan_branches", "run_planner"]


class _Verdictish:
    """A verdict as planners read it (anything with ``score`` and ``passed``)."""

    def __init__(self, score: float, passed: bool | None) -> None:
        self.score = score
        self.passed = passed


def _spent(unit: str) -> float | None:
    """The whole run's spend so far in ``unit`` (None outside a budgeted run)."""
    ctx = tracing.current()
    if ctx is None or ctx.budget is None:
        return None
    return float(getattr(ctx.budget.root().spent, unit, 0) or 0)


def _feedback(n: Any, name: str, scope: Mapping[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    """The rounds so far as the planner reads them; each finished round carries what it cost in
    the node's unit (the run's spend since that round was planned)."""
    from agentloom.planners.types import Feedback

    previous = scope.get(name) if isinstance(scope.get(name), Mapping) else None
    rounds: list[dict[str, Any]] = list(previous.get("rounds", [])) if previous else []
    source = getattr(n, "feedback", None)
    if previous is not None and source:
        verified = render("{" + source.strip("{}") + "}", scope)
        if isinstance(verified, Mapping):
            verdicts = [
                {"score": float(v.get("score", 0.0)), "passed": v.get("passed")}
                for v in verified.get("verdicts") or []
                if isinstance(v, Mapping)
            ]
            answers = [text_of(c)[:500] for c in verified.get("candidates") or []]
            round_: dict[str, Any] = {"width": previous.get("width", len(answers)), "refine": bool(previous.get("refine")),
                                      "verdicts": verdicts, "answers": answers}
            now, then = _spent(n.unit), previous.get("spent_after_plan")
            if now is not None and isinstance(then, int | float):
                round_["cost"] = max(0.0, now - float(then))
            rounds.append(round_)
    feedback = Feedback()
    for r in rounds:
        feedback.add(
            [_Verdictish(v["score"], v["passed"]) for v in r.get("verdicts", [])],
            r.get("answers", []),
            width=int(r.get("width", 0)),
            refine=bool(r.get("refine")),
            cost=float(r.get("cost") or 0.0),
        )
    if previous and isinstance(previous.get("sub_tasks"), list) and previous["sub_tasks"]:
        feedback.sub_tasks = list(previous["sub_tasks"])
    return feedback, rounds


def _width_planner(n: FixedPlannerNode | ScheduledPlannerNode | BudgetPlannerNode, name: str, scope: Mapping[str, Any],
                   res: Resources, branch_cost: float | None = None) -> Any:
    from agentloom.planners import BudgetPlanner, FixedPlanner, ScheduledPlanner

    common: dict[str, Any] = {
        "model": res.model(n.model),
        "stop_on_pass": n.stop_on_pass,
        "unit": n.unit,
        "cost_per_branch": branch_cost if branch_cost is not None and branch_cost > 0 else n.cost_per_branch,
        "max_width": as_int(render(n.max_width, scope), f"{name}.max_width"),
        "name": name,
    }
    if isinstance(n, FixedPlannerNode):
        return FixedPlanner(as_int(render(n.width, scope), f"{name}.width"), as_int(render(n.depth, scope), f"{name}.depth"), **common)
    if isinstance(n, ScheduledPlannerNode):
        rounds = as_int(render(n.rounds, scope), f"{name}.rounds") if n.rounds is not None else None
        return ScheduledPlanner(n.schedule, rounds=rounds, peak=as_int(render(n.peak, scope), f"{name}.peak"),
                                refine_after_first=n.refine_after_first, **common)
    width = render(n.width, scope)
    depth = render(n.depth, scope)
    fixed_width = None if width is None or str(width).strip() in ("", "auto") else as_int(width, f"{name}.width")
    fixed_depth = None if depth is None or str(depth).strip() in ("", "auto") else as_int(depth, f"{name}.depth")
    if fixed_width is not None:
        return FixedPlanner(fixed_width, fixed_depth or 1, **common)
    max_rounds = fixed_depth or as_int(render(n.max_rounds, scope), f"{name}.max_rounds")
    return BudgetPlanner(
        prior_p=n.prior_p,
        prior_strength=n.prior_strength,
        f_max=n.f_max,
        min_gain_per_cost=n.min_gain_per_cost,
        saturation_eps=n.saturation_eps,
        saturation_baseline=n.saturation_baseline,
        confident_score=n.confident_score,
        min_improvement=n.min_improvement,
        agreement_stop=n.agreement_stop,
        min_votes=n.min_votes,
        max_rounds=max_rounds,
        learn=n.learn,
        **common,
    )


def _branches(sub_tasks: list[str], question: str, width: int) -> list[str]:
    """One task per branch: every sub-task at least once (one team per sub-question), then
    round-robin up to the width; without sub-tasks, the question ``width`` times."""
    if width < 1:
        return []
    if not sub_tasks:
        return [question] * width
    return [sub_tasks[i % len(sub_tasks)] for i in range(max(width, len(sub_tasks)))]


plan_branches = _branches


async def run_planner(n: Any, name: str, scope: Mapping[str, Any], res: Resources, *, branch_cost: float | None = None) -> Output:
    """Run a planner node. ``branch_cost``: the projected cost of one branch in the node's unit,
    used in place of ``cost_per_branch`` when the node does not set it (later rounds use what
    the earlier rounds cost)."""
    if isinstance(n, DAGPlannerNode):
        return await _dag(n, name, scope, res)
    if isinstance(n, PDRNode):
        return await _pdr(n, name, scope, res)
    question = node_question(n.question, scope, name) or ""
    planner = _width_planner(n, name, scope, res, branch_cost)
    planner.branch_rule = lambda plan: len(_branches(list(plan.sub_tasks), question, plan.width))  # what this node runs
    feedback, rounds = _feedback(n, name, scope)
    ctx = tracing.current()
    plan = await planner.next_plan(question, ctx.budget if ctx is not None else None, feedback)
    sub_tasks = list(plan.sub_tasks) or list(feedback.sub_tasks)
    branches = _branches(sub_tasks, question, 0 if plan.stop else plan.width)
    out = jsonable(plan.to_dict())
    out.update(
        {
            "question": question,
            "planner": type(planner).__name__,
            "sub_tasks": sub_tasks,
            "branches": branches,
            "width": len(branches),  # what runs (the next round's feedback and the plan gate count these)
            "planned_width": plan.width,
            "rounds": rounds,
            "text": plan.reason,
            "cost_per_branch": planner.cost_per_branch,
            "spent_after_plan": _spent(n.unit),
        }
    )
    return out, False


async def _dag(n: DAGPlannerNode, name: str, scope: Mapping[str, Any], res: Resources) -> Output:
    from agentloom.planners.dag import DAGPlanner

    question = node_question(n.question, scope, name) or ""
    planner = DAGPlanner(
        model=res.model(n.model),
        max_replans=as_int(render(n.max_replans, scope), f"{name}.max_replans"),
        stream=n.stream,
        max_tasks=as_int(render(n.max_tasks, scope), f"{name}.max_tasks"),
        max_tokens=as_int(render(n.max_tokens, scope), f"{name}.max_tokens"),
        temperature=n.temperature,
        result_chars=n.result_chars,
        instructions=text_of(render(n.instructions, scope)) if n.instructions else None,
        max_concurrency=n.max_concurrency,
        name=name,
    )
    run = await planner.run(question, tools=res.tools_for(n.tools))
    cited = [c.to_dict() for c in run.citations]
    return (
        {
            "text": run.answer,
            "answer": run.answer,
            "citations": cited,
            "passages": [p.to_dict() for p in run.passages.values()],
            "tasks": [jsonable(t) for t in run.tasks],
            "replans": run.replans,
            "stop_reason": run.stop_reason,
            "budget_limited": run.budget_limited,
        },
        run.budget_limited,
    )


async def _pdr(n: PDRNode, name: str, scope: Mapping[str, Any], res: Resources) -> Output:
    from agentloom.agents.pdr import PDR

    question = node_question(n.question, scope, name) or ""
    pdr = PDR(
        as_int(render(n.width, scope), f"{name}.width"),
        as_int(render(n.rounds, scope), f"{name}.rounds"),
        as_int(render(n.workspace_tokens, scope), f"{name}.workspace_tokens"),
        model=res.model(n.model),
        tools=res.tools_for(n.tools),
        instructions=text_of(render(n.instructions, scope)) if n.instructions else None,
        verifier=build_verifier(n.verifier, res) if n.verifier is not None else None,
        draft_max_turns=as_int(render(n.draft_max_turns, scope), f"{name}.draft_max_turns"),
        max_tokens=as_int(render(n.max_tokens, scope), f"{name}.max_tokens"),
        name=name,
    )
    result = await pdr.run(question)
    output = result.output
    return (
        {
            "text": output if isinstance(output, str) else text_of(jsonable(output)),
            "citations": [c.to_dict() for c in result.citations],
            "passages": [c.to_dict() for c in result.citations],
            "stop_reason": result.stop_reason,
            "budget_limited": result.budget_limited,
            "meta": jsonable(result.meta),
        },
        result.budget_limited,
    )

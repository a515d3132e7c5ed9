"""Shared machinery of the width planners: sub-tasks from the model, what the remaining budget
affords, and recording each decision."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from agentloom.budget import Budget
from agentloom.errors import ConfigError
from agentloom.models.types import Model
from agentloom.planners.types import Feedback, Plan, record_decision

__all__ = ["PlannerBase", "affordable", "teams_reason", "COST_UNITS"]

COST_UNITS = ("llm_calls", "tool_calls", "tokens", "input_tokens", "output_tokens", "usd")


def affordable(remaining: Budget | float | None, unit: str, cost_per_branch: float) -> float:
    """How many branches the remaining budget pays for (``inf`` when that unit is unlimited).

    ``remaining`` is a ``Budget`` (its remainder in ``unit`` counts; a budget limited only in
    other units scales by ``remaining_fraction``), a number of units left, or None (unlimited).
    """
    if remaining is None:
        return math.inf
    if isinstance(remaining, Budget):
        left = remaining.remaining().get(unit)
        if left is None:
            if remaining.remaining_fraction() <= 0.0:
                return 0.0
            return math.inf
        return max(0.0, float(left)) / cost_per_branch
    if isinstance(remaining, bool) or not isinstance(remaining, int | float):
        raise ConfigError(f"remaining budget {remaining!r} must be a Budget, a number or None")
    return max(0.0, float(remaining)) / cost_per_branch


def teams_reason(plan: Plan, teams: int) -> str:
    """``plan``'s reason for a round over several sub-tasks, leading with the ``teams`` that run:
    "width 3, one team per sub-question: ..." (the planner's "width N:" prefix is replaced)."""
    k = len(plan.sub_tasks)
    if teams == k:
        spread = "one team per sub-question"
    elif teams % k == 0:
        spread = f"{teams // k} teams per sub-question"
    else:
        spread = f"{teams} teams over {k} sub-questions"
    rest = re.sub(r"^width \d+\s*:\s*", "", plan.reason.strip())
    return f"width {teams}, {spread}" + (f": {rest}" if rest else "")


class PlannerBase:
    """Common options: ``model`` (splits the task into sub-tasks, purpose ``plan``), the cost
    ``unit`` and ``cost_per_branch`` used to see what the budget affords, ``stop_on_pass``."""

    name = "planner"

    def __init__(
        self,
        *,
        model: str | Model | None = None,
        unit: str = "llm_calls",
        cost_per_branch: float = 1.0,
        stop_on_pass: bool = True,
        max_width: int = 64,
        name: str | None = None,
    ) -> None:
        if unit not in COST_UNITS:
            raise ConfigError(f"unknown cost unit '{unit}'; use one of {', '.join(COST_UNITS)}")
        if not cost_per_branch > 0:
            raise ConfigError(f"cost_per_branch={cost_per_branch} must be positive")
        if isinstance(max_width, bool) or not isinstance(max_width, int) or max_width < 1:
            raise ConfigError(f"max_width={max_width!r} must be a whole number of at least 1")
        self.model = model
        self.unit = unit
        self.cost_per_branch = float(cost_per_branch)
        self.stop_on_pass = stop_on_pass
        self.max_width = max_width
        #: How many branches a plan runs, for a runner whose rule is not ``width`` per sub-task.
        self.branch_rule: Callable[[Plan], int] | None = None
        if name:
            self.name = name

    async def sub_tasks(self, task: str, feedback: Feedback) -> list[str]:
        """The task's sub-tasks: from the feedback if known, else from the model (once)."""
        if feedback.sub_tasks or self.model is None:
            return list(feedback.sub_tasks)
        from agentloom.planners.subtasks import plan_subtasks

        split = await plan_subtasks(self.model, task)
        feedback.sub_tasks = list(split.sub_tasks)
        if feedback.sequential is None:
            feedback.sequential = split.sequential
        return list(feedback.sub_tasks)

    def branch_cost(self, feedback: Feedback) -> float:
        """Observed cost per branch so far (in ``unit``), else the configured estimate."""
        if feedback.branches and feedback.cost > 0:
            return feedback.cost / feedback.branches
        return self.cost_per_branch

    def teams(self, plan: Plan) -> int:
        """How many branches ``plan`` runs: ``width`` per sub-task, as ``run_rounds`` runs them (a
        runner with another rule, such as the graph's planner node, sets ``branch_rule``)."""
        if self.branch_rule is not None:
            return int(self.branch_rule(plan))
        return plan.width * max(1, len(plan.sub_tasks))

    def finish(self, plan: Plan, **extra: Any) -> Plan:
        """Record ``plan`` as a decision and return it. With several sub-tasks its reason leads
        with the number of branches that actually run (the decision's ``width``; the planner's
        own per-sub-task figure is ``planned_width``), so the plan never contradicts the teams."""
        teams = self.teams(plan)
        if not plan.stop and len(plan.sub_tasks) > 1:
            plan = replace(plan, reason=teams_reason(plan, teams))
        if teams != plan.width:
            extra = {"width": teams, "planned_width": plan.width, **extra}
        record_decision(self.name, plan, **extra)
        return plan

    def stopped(self, feedback: Feedback, reason: str, **estimates: Any) -> Plan:
        return self.finish(Plan(width=0, stop=True, reason=reason, round=feedback.round, depth=0, estimates=estimates))

"""Planners that do not adapt: ``FixedPlanner(width, depth)`` runs ``depth`` rounds of
``width`` branches; ``ScheduledPlanner(schedule)`` takes each round's width from a schedule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentloom.budget import Budget
from agentloom.errors import ConfigError
from agentloom.models.types import Model
from agentloom.planners._base import PlannerBase, affordable
from agentloom.planners.types import Feedback, Plan
from agentloom.planners.width import WidthSchedule, parse_width

__all__ = ["FixedPlanner", "ScheduledPlanner"]


def _whole(value: object, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{what}={value!r} must be a whole number of at least {minimum}")
    return value


async def _affordable_round(
    planner: PlannerBase, task: str, remaining: Budget | float | None, feedback: Feedback
) -> Plan | tuple[list[str], float]:
    """The round's sub-tasks and how many branches each can afford, or the stop plan when the
    budget does not cover one branch (per sub-task)."""
    can = affordable(remaining, planner.unit, planner.branch_cost(feedback))
    if can < 1:
        return planner.stopped(feedback, "the remaining budget does not cover another branch")
    sub_tasks = await planner.sub_tasks(task, feedback)
    if len(sub_tasks) > 1:  # each sub-task gets ``width`` branches
        can /= len(sub_tasks)
        if can < 1:
            return planner.stopped(feedback, f"stop: the remaining budget does not cover one branch for each of {len(sub_tasks)} sub-tasks")
    return sub_tasks, can


class FixedPlanner(PlannerBase):
    """``depth`` rounds of ``width`` branches; rounds after the first refine the best so far.
    Stops early when a branch passed verification (``stop_on_pass``)."""

    name = "fixed_planner"

    def __init__(self, width: int = 1, depth: int = 1, *, model: str | Model | None = None, stop_on_pass: bool = True, **options: Any) -> None:
        super().__init__(model=model, stop_on_pass=stop_on_pass, **options)
        self.width = _whole(width, "width")
        self.depth = _whole(depth, "depth")

    async def next_plan(self, task: str, remaining: Budget | float | None, feedback: Feedback) -> Plan:
        r = feedback.round
        if self.stop_on_pass and feedback.passes:
            return self.stopped(feedback, f"a branch passed verification after {r} round(s)")
        if r >= self.depth:
            return self.stopped(feedback, f"fixed depth of {self.depth} round(s) reached")
        gate = await _affordable_round(self, task, remaining, feedback)
        if isinstance(gate, Plan):
            return gate
        sub_tasks, can = gate
        width = int(min(self.width, can))
        why = f"fixed width {self.width}, round {r + 1} of {self.depth}"
        if width < self.width:
            why += f" (narrowed to {width}: the budget covers only {width})"
        return self.finish(Plan(width=width, refine=r > 0, sub_tasks=sub_tasks, reason=why, round=r, depth=self.depth - r))


class ScheduledPlanner(PlannerBase):
    """Round ``r`` gets the width the schedule gives turn ``r``: an int, ``constant`` /
    ``descending`` / ``ascending`` (peak ``peak``), a mapping of 1-based round ranges, or an
    explicit list of widths (one round each). ``rounds`` bounds depth (default: the list's
    length, else 4). Rounds after the first refine when ``refine_after_first``."""

    name = "scheduled_planner"

    def __init__(
        self,
        schedule: int | str | Mapping[Any, int] | Sequence[int] | WidthSchedule = "descending",
        *,
        rounds: int | None = None,
        peak: int = 8,
        refine_after_first: bool = False,
        model: str | Model | None = None,
        stop_on_pass: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(model=model, stop_on_pass=stop_on_pass, **options)
        self.widths: list[int] | None = None
        if isinstance(schedule, list | tuple):
            if not schedule:
                raise ConfigError("width schedule list is empty")
            self.widths = [_whole(w, "scheduled width") for w in schedule]
            self.schedule = parse_width({f"{i + 1}": w for i, w in enumerate(self.widths)})
            default_rounds = len(self.widths)
        else:
            self.schedule = parse_width(schedule, peak=peak)  # type: ignore[arg-type]
            default_rounds = 4
        self.rounds = _whole(rounds, "rounds") if rounds is not None else default_rounds
        self.refine_after_first = refine_after_first

    async def next_plan(self, task: str, remaining: Budget | float | None, feedback: Feedback) -> Plan:
        r = feedback.round
        if self.stop_on_pass and feedback.passes:
            return self.stopped(feedback, f"a branch passed verification after {r} round(s)")
        if r >= self.rounds:
            return self.stopped(feedback, f"schedule {self.schedule.describe()} finished its {self.rounds} round(s)")
        gate = await _affordable_round(self, task, remaining, feedback)
        if isinstance(gate, Plan):
            return gate
        sub_tasks, can = gate
        planned = self.schedule.width(r)
        width = int(min(planned, can))
        why = f"schedule {self.schedule.describe()} gives width {planned} in round {r + 1}"
        if width < planned:
            why += f" (narrowed to {width} by the budget)"
        refine = self.refine_after_first and r > 0
        return self.finish(Plan(width=width, refine=refine, sub_tasks=sub_tasks, reason=why, round=r, depth=self.rounds - r))

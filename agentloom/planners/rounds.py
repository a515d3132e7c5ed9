"""``run_rounds``: drive a width-vs-depth planner. Each round asks the planner for a ``Plan``,
runs its ``width`` branches (per sub-task, when the plan has sub-tasks) concurrently, each under
its own child budget, verifies them, and feeds verdicts and answers back, until the planner
stops or the budget runs out."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentloom import tracing
from agentloom.budget import Budget
from agentloom.errors import BudgetExceeded
from agentloom.planners.types import Feedback, Plan, Planner
from agentloom.runstore import RunStore

__all__ = ["Branch", "RoundsResult", "run_rounds"]


@dataclass(frozen=True)
class Branch:
    """What one branch of a round works on (handed to ``generate``)."""

    round: int
    """The 0-based round."""
    index: int
    """The branch's index within its round."""
    task: str
    """What it works on: the task, or one sub-task when the plan has them."""
    feedback: Feedback
    """The verdicts and answers of the rounds so far."""
    refine_from: Any = None
    """When the plan goes deeper: the best candidate so far, to refine."""
    verdict: Any = None
    """The verdict of ``refine_from``."""

    @property
    def refining(self) -> bool:
        return self.refine_from is not None


@dataclass
class RoundsResult:
    """The best candidate found (by verdict: passed, then score), every candidate and verdict,
    the plans taken, and why the loop stopped."""

    best: Any
    best_verdict: Any
    candidates: list[Any] = field(default_factory=list)
    verdicts: list[Any] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    feedback: Feedback = field(default_factory=Feedback)
    stop_reason: str = ""
    budget_limited: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def solved(self) -> bool:
        return getattr(self.best_verdict, "passed", None) is True


def _rank(verdict: Any) -> tuple[int, float]:
    if verdict is None:
        return (1, 0.0)
    passed = getattr(verdict, "passed", None)
    return (2 if passed is True else 1 if passed is None else 0, float(getattr(verdict, "score", 0.0)))


def _answer(candidate: Any) -> Any:
    for attr in ("final_answer", "answer", "output", "text"):
        value = getattr(candidate, attr, None)
        if callable(value):
            value = value()
        if value is not None:
            return value
    return candidate


async def _maybe(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _spent(budget: Budget, unit: str) -> float:
    return budget.spent.get(unit)


async def run_rounds(
    task: str,
    planner: Planner,
    generate: Callable[[Branch], Any | Awaitable[Any]],
    verify: Callable[[str, list[Any]], Sequence[Any] | Awaitable[Sequence[Any]]] | None = None,
    *,
    budget: Budget | None = None,
    feedback: Feedback | None = None,
    answer_of: Callable[[Any], Any] = _answer,
    max_rounds: int = 32,
    store: RunStore | None = None,
) -> RoundsResult:
    """Run rounds until the planner stops. ``generate(branch)`` makes one candidate (sync or
    async); ``verify(task, candidates)`` returns one verdict per candidate (objects with
    ``score`` and ``passed``). Cost per round is read from the budget in the planner's unit.
    Outside a run this starts one (recorded in ``store``); inside, it is a nested span."""
    from agentloom._runtime import run_scope

    name = getattr(planner, "name", "planner")
    async with run_scope("rounds", name, {"task": task}, budget=budget, store=store) as scope:
        result = await _rounds(task, planner, generate, verify, scope.budget, feedback or Feedback(), answer_of, max_rounds)
        scope.output = {"best": str(answer_of(result.best))[:2000] if result.best is not None else None, "solved": result.solved}
        scope.meta = {"stop_reason": result.stop_reason, "rounds": len(result.feedback.rounds), "branches": result.feedback.branches}
        scope.status = "budget_exhausted" if result.budget_limited and result.best is None else "ok"
    return result


async def _rounds(
    task: str,
    planner: Planner,
    generate: Callable[[Branch], Any],
    verify: Callable[[str, list[Any]], Any] | None,
    budget: Budget,
    feedback: Feedback,
    answer_of: Callable[[Any], Any],
    max_rounds: int,
) -> RoundsResult:
    unit = getattr(planner, "unit", "llm_calls")
    out = RoundsResult(best=None, best_verdict=None, feedback=feedback)
    best_key: tuple[int, float] | None = None

    for _ in range(max_rounds):
        try:
            plan = await planner.next_plan(task, budget, feedback)
        except BudgetExceeded as exc:
            out.budget_limited = True
            out.stop_reason = f"stop: budget exhausted while planning ({exc.one_line()})"
            break
        out.plans.append(plan)
        if plan.stop or plan.width < 1:
            out.stop_reason = plan.reason or "planner stopped"
            break
        before = _spent(budget, unit)
        parts = plan.sub_tasks or [task]
        branches = [
            Branch(
                round=plan.round,
                index=i,
                task=parts[i % len(parts)],
                feedback=feedback,
                refine_from=out.best if plan.refine else None,
                verdict=out.best_verdict if plan.refine else None,
            )
            for i in range(plan.width * len(parts))
        ]
        outcomes = await asyncio.gather(*(_run_branch(generate, b, budget) for b in branches))
        candidates = [c for c, err in outcomes if err is None]
        for _c, err in outcomes:
            if err is not None:
                out.errors.append(err)
                if err.startswith("BudgetExceeded"):
                    out.budget_limited = True
        verdicts: list[Any] = []
        if candidates and verify is not None:
            try:
                verdicts = list(await _maybe(verify(task, candidates)))
            except BudgetExceeded as exc:
                out.budget_limited = True
                out.errors.append(f"BudgetExceeded: {exc}")
        for i, candidate in enumerate(candidates):
            verdict = verdicts[i] if i < len(verdicts) else None
            out.candidates.append(candidate)
            out.verdicts.append(verdict)
            key = _rank(verdict)
            if best_key is None or key > best_key:
                best_key, out.best, out.best_verdict = key, candidate, verdict
        cost = _spent(budget, unit) - before
        feedback.add(verdicts, [answer_of(c) for c in candidates], width=len(candidates), refine=plan.refine, cost=cost)
        if not candidates and out.budget_limited:
            out.stop_reason = "stop: budget exhausted"
            break
    else:
        out.stop_reason = f"stop: {max_rounds} rounds run"
    observe = getattr(planner, "observe", None)
    if callable(observe):
        observe(feedback, out.solved)
    return out


async def _run_branch(generate: Callable[[Branch], Any], branch: Branch, budget: Budget) -> tuple[Any, str | None]:
    """One branch in its own span and child budget; an exception becomes an error string."""
    name = f"round{branch.round + 1}.branch{branch.index + 1}"
    with tracing.span("branch", name, round=branch.round, index=branch.index, refine=branch.refining) as ctx:
        ctx.budget = budget.child(name)
        try:
            return await _maybe(generate(branch)), None
        except BudgetExceeded as exc:
            return None, f"BudgetExceeded: {exc}"
        except Exception as exc:  # one failing branch never stops its siblings
            tracing.emit("branch_error", name, status="error", error=f"{type(exc).__name__}: {exc}")
            return None, f"{type(exc).__name__}: {exc}"

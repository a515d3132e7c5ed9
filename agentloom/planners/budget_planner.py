"""``BudgetPlanner``: chooses each round's width and whether to go deeper, from an online
estimate of the per-branch success probability ``p`` and what the budget still affords.

Parallel gain follows Scaling over Scaling: with ``N`` independent branches and a verifier,
``F(N) = Fmax * (1 - (1 - p)^N)``; the N-th branch adds ``Fmax * p * (1 - p)^(N-1)``. Both are
estimated online: ``p`` from verifier passes and failures (and answer agreement when nothing
is verified) under a Beta prior, ``Fmax`` (the chance the task is solvable at all) by Bayes
from the failures so far. The planner counts the branches whose marginal gain per unit of cost
clears a threshold, never beyond the saturation point ``N*`` (where ``F`` is within
``saturation_eps`` of ``Fmax``) or what the budget pays for, and spreads them over the rounds
left (``max_rounds`` is the latency budget): a branch deferred to a later round is paid for only
if the earlier ones fail. It prefers depth when the task is sequential or refinement still
raises the verifier score, and keeps one branch when a single branch is already likely to
succeed (capability saturation: above a ~45% single-agent baseline, coordination stops paying).
"""

from __future__ import annotations

import math
from typing import Any

from agentloom.budget import Budget
from agentloom.errors import ConfigError
from agentloom.models.types import Model
from agentloom.planners._base import PlannerBase, affordable
from agentloom.planners.types import Feedback, Plan

__all__ = ["BudgetPlanner", "parallel_gain", "saturation_width"]


def parallel_gain(p: float, n: int, f_max: float = 1.0) -> float:
    """``F(N) = Fmax * (1 - (1 - p)^N)``: the chance at least one of ``n`` branches succeeds."""
    if n <= 0:
        return 0.0
    return f_max * (1.0 - (1.0 - p) ** n)


def saturation_width(p: float, eps: float = 0.05) -> int:
    """``N*``: the fewest branches with ``F(N) >= (1 - eps) * Fmax``."""
    if p >= 1.0:
        return 1
    if p <= 0.0:
        return 1_000_000
    return max(1, math.ceil(math.log(eps) / math.log(1.0 - p)))


def _unit_fraction(value: float, lo: float, hi: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ConfigError(f"{what}={value!r} must be a number between {lo:g} and {hi:g}")
    return float(value)


class BudgetPlanner(PlannerBase):
    """Width-vs-depth under a budget; every decision is recorded with its reason.

    ``prior_p``/``prior_strength`` form a Beta prior on ``p`` (updated across tasks when
    ``learn`` is on); ``f_max`` is the prior chance that a task is solvable at all.
    ``min_gain_per_cost`` is the smallest marginal gain worth one more branch, per unit of cost
    (``unit``, default one LLM call). ``saturation_baseline`` is the single-branch success
    ``F(1)`` above which the planner does not widen. ``confident_score`` is a verifier score at
    which one branch is refined rather than widened around. ``max_rounds`` bounds depth.
    """

    name = "budget_planner"

    def __init__(
        self,
        *,
        prior_p: float = 0.5,
        prior_strength: float = 2.0,
        f_max: float = 0.9,
        min_gain_per_cost: float = 0.05,
        saturation_eps: float = 0.05,
        saturation_baseline: float = 0.45,
        confident_score: float = 0.8,
        min_improvement: float = 0.02,
        agreement_stop: float = 0.75,
        min_votes: int = 3,
        max_rounds: int = 6,
        learn: bool = True,
        model: str | Model | None = None,
        stop_on_pass: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(model=model, stop_on_pass=stop_on_pass, **options)
        self.prior_p = _unit_fraction(prior_p, 0.0, 1.0, "prior_p")
        if not prior_strength > 0:
            raise ConfigError(f"prior_strength={prior_strength} must be positive")
        self.prior_strength = float(prior_strength)
        self.f_max = _unit_fraction(f_max, 0.0, 1.0, "f_max")
        if min_gain_per_cost < 0:
            raise ConfigError(f"min_gain_per_cost={min_gain_per_cost} must be 0 or more")
        self.min_gain_per_cost = float(min_gain_per_cost)
        self.saturation_eps = _unit_fraction(saturation_eps, 1e-9, 0.999, "saturation_eps")
        self.saturation_baseline = _unit_fraction(saturation_baseline, 0.0, 1.0, "saturation_baseline")
        self.confident_score = _unit_fraction(confident_score, 0.0, 1.0, "confident_score")
        self.min_improvement = float(min_improvement)
        self.agreement_stop = _unit_fraction(agreement_stop, 0.0, 1.0, "agreement_stop")
        self.min_votes = max(2, int(min_votes))
        if isinstance(max_rounds, bool) or not isinstance(max_rounds, int) or max_rounds < 1:
            raise ConfigError(f"max_rounds={max_rounds!r} must be a whole number of at least 1")
        self.max_rounds = max_rounds
        self.learn = learn
        self._seen_branches = 0.0
        self._seen_successes = 0.0
        self._tasks = 0

    # ----------------------------------------------------------------- estimates
    def prior(self) -> tuple[float, float]:
        """The Beta prior ``(alpha, beta)`` for a new task: the configured prior, pulled toward
        the pooled per-branch success rate of earlier tasks when learning."""
        mean = self.prior_p
        if self.learn and self._seen_branches > 0:
            mean = (self.prior_p * self.prior_strength + self._seen_successes) / (self.prior_strength + self._seen_branches)
        mean = min(max(mean, 1e-6), 1 - 1e-6)
        return mean * self.prior_strength, (1.0 - mean) * self.prior_strength

    def estimate_p(self, feedback: Feedback) -> tuple[float, dict[str, Any]]:
        """The posterior mean of ``p`` for a solvable task (prior, verifier passes and failures,
        answer agreement for unverified rounds), and in ``estimates["f_max"]`` the posterior
        chance that the task is solvable at all: ``Fmax`` starts at ``f_max`` and falls with
        every failure that a solvable task would have been unlikely to produce."""
        alpha0, beta0 = self.prior()
        passes = feedback.passes
        failures = feedback.verified - passes
        agree_n = 0
        agree_rate = 0.0
        unverified = [a for r in feedback.rounds if r.verified == 0 for a in r.answers]
        if len(unverified) >= 2:
            from agentloom.planners.types import agreement

            agree_rate, _ = agreement(unverified)
            agree_n = len(unverified)
        successes = passes + agree_rate * agree_n
        misses = failures + (1.0 - agree_rate) * agree_n
        alpha, beta = alpha0 + successes, beta0 + misses
        p = alpha / (alpha + beta)
        if successes > 0 or self.f_max >= 1.0:
            f_max = 1.0 if successes > 0 else self.f_max
        else:  # P(solvable | only misses) by Bayes: E_prior[(1-p)^misses] for a solvable task
            likely = math.exp(math.lgamma(beta0 + misses) + math.lgamma(alpha0 + beta0)
                              - math.lgamma(beta0) - math.lgamma(alpha0 + beta0 + misses))
            f_max = self.f_max * likely / (self.f_max * likely + 1.0 - self.f_max)
        return p, {"p": round(p, 4), "f_max": round(f_max, 4), "passes": passes, "failures": failures,
                   "agreement": round(agree_rate, 4), "votes": agree_n}

    def observe(self, feedback: Feedback, solved: bool | None = None) -> None:
        """Learn from a finished task. Only its first round counts: later rounds happen only
        after failures, so pooling them would bias the estimate of a typical task's ``p`` low."""
        if not self.learn or not feedback.rounds:
            return
        first = feedback.rounds[0]
        self._tasks += 1
        if first.verified:
            self._seen_branches += first.verified
            self._seen_successes += first.passes
        elif solved is not None and first.width:
            self._seen_branches += 1
            self._seen_successes += 1.0 if solved and len(feedback.rounds) == 1 else 0.0

    # ----------------------------------------------------------------- the decision
    async def next_plan(self, task: str, remaining: Budget | float | None, feedback: Feedback) -> Plan:
        r = feedback.round
        if self.stop_on_pass and feedback.passes:
            return self.stopped(feedback, f"stop: {feedback.passes} branch(es) passed verification after {r} round(s)")
        if r >= self.max_rounds:
            return self.stopped(feedback, f"stop: depth limit of {self.max_rounds} round(s) reached")
        rate, top = feedback.agreement()
        votes = len([a for a in feedback.answers if a is not None and str(a).strip()])
        if not feedback.verified and votes >= self.min_votes and rate >= self.agreement_stop:
            return self.stopped(feedback, f"stop: {rate:.0%} of {votes} answers agree on '{str(top)[:60]}' (>= {self.agreement_stop:.0%})", agreement=rate)
        cost = self.branch_cost(feedback)
        can = affordable(remaining, self.unit, cost)
        if can < 1:
            return self.stopped(feedback, f"stop: the remaining budget does not cover another branch ({cost:g} {self.unit} each)")
        sub_tasks = await self.sub_tasks(task, feedback)
        if len(sub_tasks) > 1:  # each sub-task gets ``width`` branches
            can /= len(sub_tasks)
            if can < 1:
                return self.stopped(feedback, f"stop: the remaining budget does not cover one branch for each of {len(sub_tasks)} sub-tasks")
        p, est = self.estimate_p(feedback)
        f_max = float(est["f_max"])
        n_star = saturation_width(p, self.saturation_eps)
        est.update(n_star=n_star, cost_per_branch=round(cost, 6), affordable=None if math.isinf(can) else int(can))
        cap = int(min(n_star, can, 1_000_000))
        trend = feedback.score_trend()
        best = feedback.best_score()
        depth_left = self.max_rounds - r

        if feedback.sequential:
            return self._plan(1, r > 0, sub_tasks, r, depth_left, est, "depth: the task has sequential dependencies, so one branch builds on the last")
        if r > 0 and len(trend) >= 2 and trend[-1] - trend[-2] >= self.min_improvement:
            return self._plan(1, True, sub_tasks, r, depth_left, est,
                              f"depth: refinement is still improving the verifier score ({trend[-2]:.2f} -> {trend[-1]:.2f})")
        if r > 0 and best is not None and best >= self.confident_score:
            return self._plan(1, True, sub_tasks, r, depth_left, est,
                              f"depth: one branch is already confident (score {best:.2f} >= {self.confident_score:.2f}); refine it rather than widen")
        single = parallel_gain(p, 1, f_max)
        if single >= self.saturation_baseline:
            est.update(F=round(single, 4))
            return self._plan(1, False, sub_tasks, r, depth_left, est,
                              f"width 1: {'one branch per sub-question' if len(sub_tasks) > 1 else 'a single branch'} is likely "
                              f"enough (F(1)≈{single:.2f} >= {self.saturation_baseline:.2f}; capability saturation, coordination stops paying)")
        target = 0
        rejected: float | None = None
        for n in range(1, cap + 1):
            marginal = f_max * p * (1.0 - p) ** (n - 1)
            if marginal / cost < self.min_gain_per_cost:
                rejected = marginal
                break
            target = n
        if target == 0:
            first = f_max * p
            return self.stopped(
                feedback,
                f"stop: one more branch would add {first:.3f} (p≈{p:.2f}, Fmax≈{f_max:.2f}), {first / cost:.3f} per {self.unit} < threshold {self.min_gain_per_cost:g}",
                **est,
            )
        # Branches worth running are spread over the rounds left: a later round runs only if the
        # earlier ones failed, so depth saves cost; width is what fits the depth limit.
        width = min(self.max_width, max(1, round(target / depth_left)))
        est.update(target=target, rounds_left=depth_left, F=round(parallel_gain(p, target, f_max), 4),
                   marginal_last=round(f_max * p * (1 - p) ** (target - 1), 4))
        if rejected is None:
            limit = {n_star: "the saturation point N*"}.get(cap, "what the budget affords")
            worth = f"{target} branch(es) (capped by {limit}, N*={n_star})"
        else:
            worth = (f"{target} branch(es); one more would add {rejected:.3f} for {cost:g} {self.unit}, "
                     f"{rejected / cost:.3f} per {self.unit.rstrip('s')} < threshold {self.min_gain_per_cost:g}")
        why = f"width {width}: p≈{p:.2f}, Fmax≈{f_max:.2f}, F({target})={est['F']:.2f} from {worth}"
        if width == self.max_width and width < round(target / depth_left):
            why += f"; at most max_width={self.max_width} per round"
        elif width < target:
            why += f"; spread over {depth_left} round(s) left so later rounds run only if earlier ones fail"
        return self._plan(width, False, sub_tasks, r, depth_left, est, why)

    def _plan(self, width: int, refine: bool, sub_tasks: list[str], r: int, depth: int, est: dict[str, Any], why: str) -> Plan:
        return self.finish(Plan(width=width, refine=refine, sub_tasks=sub_tasks, reason=why, round=r, depth=depth, estimates=est))

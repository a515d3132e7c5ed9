"""BudgetPlanner: online p, F(N) = Fmax(1-(1-p)^N), threshold and saturation, depth when it
pays, capability saturation, and recorded reasons; run_rounds drives it."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest

from agentloom import Budget
from agentloom.agents.candidates import Verdict
from agentloom.errors import ConfigError
from agentloom.models.base import call_model
from agentloom.models.function import FunctionModel
from agentloom.models.types import Message, ModelRequest
from agentloom.planners import BudgetPlanner, Feedback, parallel_gain, run_rounds, saturation_width
from agentloom.runstore import RunStore


def failed(n: int) -> list[Any]:
    return [SimpleNamespace(score=0.0, passed=False) for _ in range(n)]


def test_gain_model() -> None:
    assert parallel_gain(0.5, 1) == 0.5
    assert parallel_gain(0.5, 3, f_max=0.8) == pytest.approx(0.8 * (1 - 0.125))
    assert parallel_gain(0.3, 0) == 0.0
    assert saturation_width(0.5) == 5  # 1 - 0.5^5 = 0.969 >= 0.95
    assert saturation_width(1 / 3) == 8
    assert saturation_width(1.0) == 1


async def test_first_round_keeps_one_branch_when_a_single_branch_is_likely_enough() -> None:
    plan = await BudgetPlanner().next_plan("q", None, Feedback())
    assert plan.width == 1 and not plan.stop and not plan.refine
    assert "capability saturation" in plan.reason and plan.estimates["p"] == 0.5


async def test_widens_to_where_marginal_gain_meets_the_threshold() -> None:
    feedback = Feedback()
    feedback.add(failed(1), ["7"])
    plan = await BudgetPlanner(min_gain_per_cost=0.05, max_rounds=2).next_plan("q", None, feedback)
    # p = 1/3 and Fmax = 0.9*(1/2) / (0.9*(1/2) + 0.1) = 0.818 after one miss: the 5th branch adds
    # 0.818/3*(2/3)^4 = 0.054, a 6th 0.036 < 0.05; one round left, so all five run now
    assert plan.width == 5 and plan.estimates["p"] == pytest.approx(1 / 3, abs=1e-4)
    assert plan.estimates["f_max"] == pytest.approx(0.45 / 0.55, abs=1e-4) and plan.estimates["n_star"] == 8
    assert "one more would add 0.036 for 1 llm_calls, 0.036 per llm_call < threshold 0.05" in plan.reason
    assert plan.estimates["F"] == pytest.approx(0.45 / 0.55 * (1 - (2 / 3) ** 5), abs=1e-4)


async def test_branches_are_spread_over_the_rounds_left() -> None:
    feedback = Feedback()
    feedback.add(failed(1), ["7"])
    plan = await BudgetPlanner(min_gain_per_cost=0.05, max_rounds=6).next_plan("q", None, feedback)
    assert plan.width == 1 and plan.estimates["target"] == 5 and plan.estimates["rounds_left"] == 5
    assert "spread over 5 round(s) left" in plan.reason
    plan = await BudgetPlanner(min_gain_per_cost=0.05, max_rounds=3).next_plan("q", None, feedback)
    assert plan.width == 2  # five worth running, two rounds left


async def test_width_is_capped_by_saturation_max_width_and_budget() -> None:
    feedback = Feedback()
    feedback.add(failed(1), ["7"])
    plan = await BudgetPlanner(min_gain_per_cost=0.0, max_rounds=2).next_plan("q", None, feedback)
    assert plan.width == 8 and "saturation point N*" in plan.reason
    plan = await BudgetPlanner(min_gain_per_cost=0.0, max_rounds=2, max_width=3).next_plan("q", None, feedback)
    assert plan.width == 3 and "at most max_width=3 per round" in plan.reason
    plan = await BudgetPlanner(min_gain_per_cost=0.0, max_rounds=2).next_plan("q", Budget(llm_calls=2), feedback)
    assert plan.width == 2 and "what the budget affords" in plan.reason
    plan = await BudgetPlanner().next_plan("q", 0.5, feedback)
    assert plan.stop and "does not cover another branch" in plan.reason


async def test_cost_per_branch_comes_from_observed_spend() -> None:
    feedback = Feedback()
    feedback.add(failed(2), ["1", "2"], cost=8.0)  # 4 units per branch
    plan = await BudgetPlanner(min_gain_per_cost=0.0, max_rounds=2).next_plan("q", 10.0, feedback)
    assert plan.width == 2 and plan.estimates["cost_per_branch"] == 4.0


async def test_stops_when_one_more_branch_is_not_worth_it() -> None:
    feedback = Feedback()
    feedback.add(failed(40), [str(i) for i in range(40)])
    plan = await BudgetPlanner(max_rounds=10).next_plan("q", None, feedback)
    assert plan.stop and plan.width == 0
    # p = 1/42, and 40 misses make it unlikely the task is solvable at all (Fmax ~ 0.18)
    assert "one more branch would add 0.004 (p≈0.02, Fmax≈0.18)" in plan.reason and "< threshold 0.05" in plan.reason


async def test_failures_lower_the_chance_the_task_is_solvable() -> None:
    planner = BudgetPlanner(f_max=0.9)
    values = []
    for misses in (0, 2, 8):
        feedback = Feedback()
        if misses:
            feedback.add(failed(misses), ["x"] * misses)
        values.append(planner.estimate_p(feedback)[1]["f_max"])
    assert values[0] == 0.9 and values[0] > values[1] > values[2]
    feedback = Feedback()
    feedback.add([*failed(5), SimpleNamespace(score=1.0, passed=False), SimpleNamespace(score=1.0, passed=True)], list("abcdefg"))
    assert planner.estimate_p(feedback)[1]["f_max"] == 1.0
    assert BudgetPlanner(f_max=1.0).estimate_p(Feedback())[1]["f_max"] == 1.0


async def test_stops_on_pass_depth_limit_and_agreement() -> None:
    feedback = Feedback()
    feedback.add([Verdict("c1", score=0.9, passed=True)], ["42"])
    assert (await BudgetPlanner().next_plan("q", None, feedback)).stop
    feedback = Feedback()
    for _ in range(3):
        feedback.add(failed(1), ["x"])
    plan = await BudgetPlanner(max_rounds=3).next_plan("q", None, feedback)
    assert plan.stop and "depth limit of 3" in plan.reason
    feedback = Feedback()
    feedback.add([], ["42", "42.0", " 42 ", "41"])
    plan = await BudgetPlanner().next_plan("q", None, feedback)
    assert plan.stop and "75% of 4 answers agree on '42'" in plan.reason


async def test_agreement_counts_as_evidence_without_a_verifier() -> None:
    feedback = Feedback()
    feedback.add([], ["a", "b", "c"])  # no agreement: p drops from the prior
    planner = BudgetPlanner()
    p, est = planner.estimate_p(feedback)
    assert est["agreement"] == pytest.approx(1 / 3, abs=1e-3) and p == pytest.approx((1 + 1) / (2 + 3))


async def test_prefers_depth_for_sequential_tasks_and_improving_scores() -> None:
    feedback = Feedback(sequential=True)
    feedback.add(failed(1), ["a"])
    plan = await BudgetPlanner().next_plan("q", None, feedback)
    assert plan.width == 1 and plan.refine and "sequential dependencies" in plan.reason

    feedback = Feedback()
    feedback.add([SimpleNamespace(score=0.3, passed=False)] * 2, ["a", "b"])
    feedback.add([SimpleNamespace(score=0.55, passed=False)], ["c"], refine=True)
    plan = await BudgetPlanner().next_plan("q", None, feedback)
    assert plan.width == 1 and plan.refine and "still improving the verifier score (0.30 -> 0.55)" in plan.reason

    feedback = Feedback()
    feedback.add([SimpleNamespace(score=0.85, passed=False)], ["a"])
    plan = await BudgetPlanner().next_plan("q", None, feedback)
    assert plan.width == 1 and plan.refine and "already confident" in plan.reason


async def test_learns_the_prior_across_tasks() -> None:
    planner = BudgetPlanner(max_rounds=1)
    for _ in range(5):
        feedback = Feedback()
        feedback.add([*failed(4), SimpleNamespace(score=1.0, passed=True)], list("abcde"))
        feedback.add(failed(3), ["x", "y", "z"])  # later rounds do not count: they follow failures
        planner.observe(feedback, True)
    alpha, beta = planner.prior()
    assert alpha / (alpha + beta) == pytest.approx((1 + 5) / (2 + 25))
    plan = await planner.next_plan("next task", None, Feedback())
    assert plan.width == 6  # F(1) = 0.9 * 0.22 is below the baseline: the first round goes wide
    assert BudgetPlanner(learn=False).prior() == (1.0, 1.0)


@pytest.mark.parametrize("kwargs", [{"prior_p": 1.5}, {"max_rounds": 0}, {"min_gain_per_cost": -1}, {"unit": "minutes"},
                                    {"cost_per_branch": 0}, {"max_width": 0}, {"prior_strength": 0}])
def test_bad_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        BudgetPlanner(**kwargs)


async def test_run_rounds_widens_after_a_miss_and_stops_on_a_verified_answer() -> None:
    """A generator right only for branch 3 of round 2; a programmatic verifier."""

    def respond(request: ModelRequest) -> str:
        return "42" if request.last_user_text() == "attempt r2 b4" else "17"

    model = FunctionModel(respond)

    async def generate(branch: Any) -> str:
        request = ModelRequest([Message("user", f"attempt r{branch.round + 1} b{branch.index + 1}")], purpose="act")
        return (await call_model(model, request)).text or ""

    def verify(task: str, candidates: list[str]) -> list[Verdict]:
        return [Verdict(str(i), score=1.0 if c == "42" else 0.0, passed=c == "42") for i, c in enumerate(candidates)]

    store = RunStore()
    budget = Budget(llm_calls=50)
    result = await run_rounds("what is six times seven?", BudgetPlanner(max_rounds=2), generate, verify, budget=budget, store=store)
    assert result.solved and result.best == "42"
    assert [p.width for p in result.plans] == [1, 5, 0]
    assert result.plans[-1].stop and "passed verification" in result.stop_reason
    assert budget.spent.llm_calls == 6 and [r.cost for r in result.feedback.rounds] == [1.0, 5.0]
    run = store.list_runs()[0]
    reasons = [e["data"]["reason"] for e in store.events(run.id) if e["kind"] == "decision"]
    assert len(reasons) == 3 and "capability saturation" in reasons[0] and reasons[1].startswith("width 5")
    branch_spans = [e["name"] for e in store.events(run.id) if e["kind"] == "branch"]
    assert sorted(branch_spans) == ["round1.branch1"] + [f"round2.branch{i}" for i in range(1, 6)]


async def test_run_rounds_stops_when_the_budget_runs_out() -> None:
    model = FunctionModel(lambda r: "wrong")

    async def generate(branch: Any) -> str:
        return (await call_model(model, ModelRequest([Message("user", f"try {branch.round}.{branch.index}")]))).text or ""

    result = await run_rounds("q", BudgetPlanner(), generate, lambda t, cs: failed(len(cs)), budget=Budget(llm_calls=4))
    assert not result.solved and result.feedback.branches <= 4
    assert result.budget_limited or "budget" in result.stop_reason
    assert math.isclose(sum(r.cost for r in result.feedback.rounds), result.feedback.branches)


async def test_sub_tasks_come_from_the_plan_model() -> None:
    seen: list[str] = []

    def generate(branch: Any) -> str:
        seen.append(branch.task)
        return branch.task

    planner = BudgetPlanner(model="offline", max_rounds=1, prior_p=0.2)  # F(1) = 0.18: goes wide
    result = await run_rounds("Which is older, Harrow Tidal Station or Brandt Dam?", planner, generate)
    assert result.plans[0].width == 6 and result.plans[0].sub_tasks == ["How old is Harrow Tidal Station?", "How old is Brandt Dam?"]
    assert seen.count("How old is Harrow Tidal Station?") == 6 and seen.count("How old is Brandt Dam?") == 6  # width per sub-task


async def test_width_per_sub_task_is_capped_by_the_budget() -> None:
    feedback = Feedback(sub_tasks=["a?", "b?", "c?"])
    plan = await BudgetPlanner(prior_p=0.2, max_rounds=1).next_plan("q", 7.0, feedback)
    assert plan.width == 2  # 7 calls cover two branches for each of three sub-tasks
    plan = await BudgetPlanner(prior_p=0.2, max_rounds=1).next_plan("q", 2.0, feedback)
    assert plan.stop and "one branch for each of 3 sub-tasks" in plan.reason

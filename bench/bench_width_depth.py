"""Width vs depth under a budget: ``BudgetPlanner`` against fixed widths 1/4/8 and the oracle
allocation that knows each task's success probability.

Workload: simulated tasks, each with a known per-branch success probability ``p``. A branch is
one chat call to a loopback OpenAI-compatible server whose scripted answer is right when a hash
of (task, attempt number) falls below ``p`` (a function of the request's content only, so runs
are deterministic); wrong answers come from a small pool, so they sometimes agree. The k-th
attempt at a task gets the same draw under every strategy (common random numbers), so the
strategies differ only in how many attempts they make, and when. A
programmatic verifier checks each answer against the ground truth. Cost is model calls (one per
branch); every strategy runs through ``planners.run_rounds`` with a per-task budget of
``CAP`` calls, and a verifier-passing answer stops a task. Tasks are planned independently
(``learn=False``) so they can run concurrently and the figures do not depend on task order.

Two oracles know every task's ``p`` and spend the same total number of calls as the strategy
they are compared with (expected values, exact, not sampled):

- ``oracle_alloc``: the compute-optimal allocation of parallel branches per task (greedy on the
  marginal gain ``p (1-p)^n``, at most ``CAP`` each): the allocation a width planner aims at;
- ``oracle_seq``: one branch at a time, stopping at the first verified answer, calls spent on
  the highest-``p`` tasks first: an upper bound for any policy, adaptive or not.

Two task mixes: ``mixed`` (easy to hard) and ``hard`` (a fifth of the tasks impossible).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import sys
from pathlib import Path
from typing import Any

from bench._home import scratch_home

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakeserver import FakeOpenAIServer, Reply, last_user_text  # noqa: E402

CAP = 16
MIXES: dict[str, tuple[float, ...]] = {
    "mixed": (0.9, 0.6, 0.35, 0.15, 0.05),
    "hard": (0.9, 0.5, 0.2, 0.05, 0.0),
}
_PROMPT = re.compile(r"^Task (\d+) \(p=([\d.]+)\)")
_ATTEMPT = re.compile(r"attempt (\d+)$")


def _draw(*parts: object) -> float:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def truth(task_id: int) -> str:
    return f"A{task_id * 7 + 3}"


def responder(body: dict[str, Any]) -> Reply:
    """Right with probability p (by a hash of the prompt's task and attempt), else one of three
    wrong answers."""
    text = last_user_text(body)
    head, attempt = _PROMPT.match(text), _ATTEMPT.search(text)
    assert head is not None and attempt is not None, text
    task_id, p = int(head.group(1)), float(head.group(2))
    key = (task_id, attempt.group(1))
    if _draw("right", *key) < p:
        return Reply(text=truth(task_id))
    return Reply(text=f"W{int(_draw('wrong', *key) * 3)}")


def tasks_for(mix: tuple[float, ...], n: int) -> list[tuple[int, float]]:
    return [(i, mix[i % len(mix)]) for i in range(n)]


def oracle_sequential(tasks: list[tuple[int, float]], budget: float) -> float:
    """Expected accuracy of the best sequential stop-at-success use of ``budget`` calls given
    every task's p: each call on a task buys p accuracy per expected call, so fill the
    highest-p tasks first, up to CAP calls each."""
    solved = spent = 0.0
    for _, p in sorted(tasks, key=lambda t: -t[1]):
        if p <= 0:
            continue
        for n in range(CAP):
            step_cost = (1 - p) ** n  # the (n+1)-th call happens only if the first n failed
            if spent + step_cost > budget:
                return (solved + max(0.0, (budget - spent) / step_cost) * p * (1 - p) ** n) / len(tasks)
            spent += step_cost
            solved += p * (1 - p) ** n
    return solved / len(tasks)


def oracle_allocation(tasks: list[tuple[int, float]], budget: float) -> float:
    """Expected accuracy of the best allocation of ``budget`` parallel branches over the tasks
    given every task's p (greedy on the concave marginal gain, at most CAP per task)."""
    counts = [0] * len(tasks)
    gains = sorted(((p * (1 - p) ** n, i) for i, (_, p) in enumerate(tasks) for n in range(CAP)), reverse=True)
    left = budget
    for gain, i in gains:  # for each task the gains decrease with n, so the order is feasible
        if left <= 0 or gain <= 0:
            break
        step = min(1.0, left)
        counts[i] += step
        left -= step
    return sum(1 - (1 - p) ** counts[i] for i, (_, p) in enumerate(tasks)) / len(tasks)


async def _strategy(model: Any, store: Any, planner: Any, tasks: list[tuple[int, float]], concurrency: int = 4) -> dict[str, float]:
    from agentloom import Budget
    from agentloom.agents.candidates import Verdict
    from agentloom.models.base import call_model
    from agentloom.models.types import Message, ModelRequest
    from agentloom.planners import run_rounds

    gate = asyncio.Semaphore(concurrency)

    async def one(task_id: int, p: float) -> tuple[bool, int, int, int]:
        prompt = f"Task {task_id} (p={p}): give the answer."

        async def generate(branch: Any) -> str:
            attempt = branch.feedback.branches + branch.index + 1  # the task's k-th attempt, whatever the round
            request = ModelRequest([Message("user", f"{prompt} attempt {attempt}")], max_tokens=8, purpose="act")
            return (await call_model(model, request)).text or ""

        def verify(_task: str, candidates: list[str]) -> list[Verdict]:
            return [Verdict(str(i), score=1.0 if c == truth(task_id) else 0.0, passed=c == truth(task_id)) for i, c in enumerate(candidates)]

        budget = Budget(llm_calls=CAP)
        async with gate:
            result = await run_rounds(prompt, planner, generate, verify, budget=budget, store=store)
        return result.solved, budget.spent.llm_calls, budget.spent.tokens, len(result.feedback.rounds)

    outcomes = await asyncio.gather(*(one(t, p) for t, p in tasks))
    n = len(tasks)
    return {
        "accuracy": sum(o[0] for o in outcomes) / n,
        "calls": sum(o[1] for o in outcomes) / n,
        "tokens": sum(o[2] for o in outcomes) / n,
        "rounds": sum(o[3] for o in outcomes) / n,
    }


async def _measure(quick: bool) -> list[dict[str, Any]]:
    from agentloom.models.openai_model import OpenAIModel
    from agentloom.planners import BudgetPlanner, FixedPlanner
    from agentloom.runstore import RunStore

    n = 15 if quick else 160
    thresholds = (0.05,) if quick else (0.07, 0.05, 0.03)
    rows: list[dict[str, Any]] = []
    store = RunStore()
    with FakeOpenAIServer(responder, record=False) as server:
        model = OpenAIModel("fake-model", base_url=server.base_url, api_key="k", max_retries=0)
        for mix_name, mix in MIXES.items():
            tasks = tasks_for(mix, n)
            results: dict[str, dict[str, float]] = {}
            for width in (1, 4, 8):
                results[f"fixed_width_{width}"] = await _strategy(model, store, FixedPlanner(width=width, depth=1), tasks)
            for threshold in thresholds:
                planner = BudgetPlanner(min_gain_per_cost=threshold, learn=False)
                results[f"budget_planner(gain>={threshold:g})"] = await _strategy(model, store, planner, tasks)
            fixed8 = results["fixed_width_8"]
            for name, r in results.items():
                alloc = oracle_allocation(tasks, r["calls"] * n)
                seq = oracle_sequential(tasks, r["calls"] * n)
                rows.append({
                    "mix": mix_name,
                    "strategy": name,
                    "accuracy": round(r["accuracy"], 3),
                    "calls_per_task": round(r["calls"], 2),
                    "tokens_per_task": round(r["tokens"], 1),
                    "rounds": round(r["rounds"], 2),
                    "oracle_alloc": round(alloc, 3),
                    "vs_oracle_alloc": round(r["accuracy"] / alloc, 3) if alloc else None,
                    "oracle_seq": round(seq, 3),
                    "vs_oracle_seq": round(r["accuracy"] / seq, 3) if seq else None,
                    "ratio": round(r["calls"] / fixed8["calls"], 3),
                })
            # the cheapest BudgetPlanner setting that matches fixed width 8's accuracy
            matching = [(r["calls"], name) for name, r in results.items() if name.startswith("budget") and r["accuracy"] >= fixed8["accuracy"]]
            best = min(matching) if matching else None
            rows.append({
                "mix": mix_name,
                "strategy": "summary",
                "accuracy": round(fixed8["accuracy"], 3),
                "calls_per_task": round(best[0], 2) if best else None,
                "ratio": round(best[0] / fixed8["calls"], 3) if best else None,
                "note": (f"{best[1]} reaches fixed-8 accuracy at {best[0] / fixed8['calls']:.0%} of its calls" if best
                         else "no BudgetPlanner setting reached fixed-8 accuracy"),
            })
        await model.aclose()
    store.close()
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Rows per (mix, strategy); ``ratio`` is calls per task over fixed width 8's."""
    with scratch_home("bench-width-depth-"):
        return asyncio.run(_measure(quick))

if __name__ == "__main__":
    from bench.run import format_table

    print(format_table(run(quick="--quick" in sys.argv)))

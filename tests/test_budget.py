"""Budget: hard limits that parallel calls can never overshoot, across asyncio and threads;
branch budgets capped by their parent; release on cancel; the report tree and the ledger."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentloom import tracing
from agentloom.budget import Budget, Cost, Price
from agentloom.errors import BudgetExceeded, ConfigError
from agentloom.models.base import estimate_input_tokens
from agentloom.models.function import FunctionModel
from agentloom.models.types import Completion, Message, ModelRequest, Usage
from agentloom.runstore import RunStore

N_CALLS = 500


def ask(i: int, max_tokens: int = 64) -> ModelRequest:
    """Requests of identical size (fixed-width numbers), so every estimate is the same."""
    return ModelRequest([Message.user(f"question {i:04d}")], max_tokens=max_tokens)


class Counting:
    """A FunctionModel body that counts the requests that actually reached the 'provider'."""

    def __init__(self, worst_case: bool = False) -> None:
        self.seen: list[str] = []
        self.lock = threading.Lock()
        self.worst_case = worst_case

    def __call__(self, request: ModelRequest) -> Completion | str:
        with self.lock:
            self.seen.append(request.last_user_text())
        if self.worst_case:  # spend exactly what was reserved
            usage = Usage(input_tokens=estimate_input_tokens(request), output_tokens=request.max_tokens or 0)
            return Completion(text="x", usage=usage)
        return f"answer to {request.last_user_text()}"


async def fan_out(model: FunctionModel, budget: Budget, n: int = N_CALLS) -> list[Any]:
    with tracing.use(tracing.RunContext(budget=budget)):
        return await asyncio.gather(*(model.complete(ask(i)) for i in range(n)), return_exceptions=True)


def split(results: list[Any]) -> tuple[list[Completion], list[BaseException]]:
    ok = [r for r in results if isinstance(r, Completion)]
    failed = [r for r in results if not isinstance(r, Completion)]
    return ok, failed


# ----------------------------------------------------------------------------- the guarantee
async def test_500_concurrent_calls_never_exceed_the_call_limit() -> None:
    fn = Counting()
    budget = Budget(llm_calls=37)
    ok, failed = split(await fan_out(FunctionModel(fn, latency=0.02), budget))
    assert len(ok) == 37 and len(failed) == N_CALLS - 37
    assert all(isinstance(e, BudgetExceeded) and e.limit == "llm_calls" for e in failed)
    assert len(fn.seen) == 37  # the refused calls were never sent
    assert budget.spent.llm_calls == 37 <= budget.limits["llm_calls"]  # type: ignore[operator]
    assert budget.reserved == Cost()


async def test_500_concurrent_calls_never_exceed_the_token_limit() -> None:
    fn = Counting(worst_case=True)
    model = FunctionModel(fn, latency=0.02)
    per_call = model.estimate(ask(0)).tokens
    limit = per_call * 12 + per_call // 2
    budget = Budget(tokens=limit)
    ok, failed = split(await fan_out(model, budget))
    assert len(fn.seen) == len(ok) == 12
    assert all(isinstance(e, BudgetExceeded) and e.limit == "tokens" for e in failed)
    assert budget.spent.tokens == 12 * per_call <= limit
    assert budget.reserved == Cost()


async def test_token_limit_holds_when_calls_spend_less_than_reserved() -> None:
    fn = Counting()
    model = FunctionModel(fn, latency=lambda r: 0.001 * (int(r.last_user_text()[-4:]) % 5))
    limit = model.estimate(ask(0)).tokens * 20
    budget = Budget(tokens=limit)
    ok, failed = split(await fan_out(model, budget))
    assert len(fn.seen) == len(ok) >= 20
    assert all(isinstance(e, BudgetExceeded) for e in failed)
    assert budget.spent.tokens <= limit
    assert budget.reserved == Cost()


async def test_500_concurrent_calls_never_exceed_the_usd_limit() -> None:
    fn = Counting(worst_case=True)
    model = FunctionModel(fn, latency=0.02, price=Price(input=1e-5, output=3e-5))
    per_call = model.estimate(ask(0)).usd
    limit = per_call * 9.5
    budget = Budget(usd=limit)
    ok, failed = split(await fan_out(model, budget))
    assert len(fn.seen) == len(ok) == 9
    assert all(isinstance(e, BudgetExceeded) and e.limit == "usd" for e in failed)
    assert budget.spent.usd <= limit
    assert budget.spent.usd == pytest.approx(9 * per_call)
    assert sum(r.usage.usd for r in ok) == pytest.approx(budget.spent.usd)


def test_reserve_and_settle_from_8_threads_is_exact() -> None:
    budget = Budget(llm_calls=1000, tokens=10**9)
    start = threading.Barrier(8)
    settled = [0] * 8
    violations: list[str] = []

    def worker(index: int) -> None:
        start.wait()
        while True:
            try:
                reservation = budget.reserve(Cost(input_tokens=5, llm_calls=1), what=f"t{index}")
            except BudgetExceeded:
                return
            report = budget.report()
            if report.spent["llm_calls"] + report.reserved["llm_calls"] > 1000:
                violations.append(str(report.to_dict()))
            reservation.settle(Cost(input_tokens=3, llm_calls=1))
            settled[index] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert violations == []
    assert sum(settled) == 1000 == budget.spent.llm_calls
    assert budget.spent.input_tokens == 3000
    assert budget.reserved == Cost()
    assert len([r for r in budget.ledger if r.action == "settle"]) == 1000


def test_threads_mixing_settle_and_release_never_overshoot() -> None:
    root = Budget(llm_calls=300)
    branches = [root.child(f"b{i}", llm_calls=200) for i in range(4)]
    settled = [0] * 8

    def worker(index: int) -> None:
        branch = branches[index % 4]
        n = 0
        while True:
            try:
                reservation = branch.reserve(Cost(llm_calls=1))
            except BudgetExceeded:
                return
            n += 1
            if n % 3 == 0:
                reservation.release()
            else:
                reservation.settle(Cost(llm_calls=1))
                settled[index] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert root.spent.llm_calls == sum(settled) <= 300
    assert sum(b.spent.llm_calls for b in branches) == root.spent.llm_calls
    assert all(b.spent.llm_calls <= 200 for b in branches)
    assert root.reserved == Cost() and all(b.reserved == Cost() for b in branches)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 40), st.sampled_from(["settle", "release", "hold"])),
        max_size=60,
    )
)
def test_spent_plus_reserved_never_passes_a_limit(ops: list[tuple[int, int, str]]) -> None:
    budget = Budget(tokens=300, llm_calls=25)
    held = []
    for estimate, actual, action in ops:
        try:
            reservation = budget.reserve(Cost(input_tokens=estimate, llm_calls=1))
        except BudgetExceeded:
            continue
        if action == "settle":
            reservation.settle(Cost(input_tokens=min(actual, estimate), llm_calls=1))
        elif action == "release":
            reservation.release()
        else:
            held.append(reservation)
        assert budget.spent.tokens + budget.reserved.tokens <= 300
        assert budget.spent.llm_calls + budget.reserved.llm_calls <= 25
    for reservation in held:
        reservation.release()
    assert budget.reserved == Cost()


# ----------------------------------------------------------------------------- branches
def test_child_budgets_are_capped_by_the_parent_remainder() -> None:
    root = Budget(llm_calls=10, usd=1.0)
    root.charge(Cost(llm_calls=4, usd=0.25), what="planning")
    child = root.child("branch-a", llm_calls=100, usd=0.5)
    assert child.limits["llm_calls"] == 6 and child.limits["usd"] == 0.5
    assert child.remaining()["llm_calls"] == 6
    for _ in range(6):
        child.charge(Cost(llm_calls=1), what="act")
    assert root.spent.llm_calls == 10 and root.remaining()["llm_calls"] == 0
    sibling = root.child("branch-b", llm_calls=5)
    assert sibling.limits["llm_calls"] == 0
    with pytest.raises(BudgetExceeded) as info:
        sibling.reserve(Cost(llm_calls=1))
    assert info.value.budget == "branch-b"
    unlimited_child = root.child("branch-c")  # no own limits: still bounded by the root
    with pytest.raises(BudgetExceeded) as info:
        unlimited_child.reserve(Cost(llm_calls=1))
    assert info.value.budget == "root" and info.value.limit == "llm_calls"
    assert root.remaining_fraction() == 0.0 and root.exhausted


async def test_model_calls_under_a_branch_count_against_the_root() -> None:
    root = Budget(llm_calls=5)
    branch = root.child("branch", llm_calls=3)
    model = FunctionModel(lambda r: "ok")
    with tracing.use(tracing.RunContext(budget=branch)):
        results = await asyncio.gather(*(model.complete(ask(i)) for i in range(5)), return_exceptions=True)
    ok, failed = split(results)
    assert len(ok) == 3 and all(isinstance(e, BudgetExceeded) and e.budget == "branch" for e in failed)
    assert root.spent.llm_calls == 3 and root.remaining()["llm_calls"] == 2


async def test_cancelled_calls_release_their_reservations() -> None:
    fn = Counting()
    model = FunctionModel(fn, latency=30.0)
    budget = Budget(llm_calls=100, tokens=10**6)
    with tracing.use(tracing.RunContext(budget=budget)):
        tasks = [asyncio.create_task(model.complete(ask(i))) for i in range(20)]
        while budget.reserved.llm_calls < 20:
            await asyncio.sleep(0.005)
        assert budget.reserved.tokens > 0
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    assert fn.seen == []
    assert budget.reserved == Cost() and budget.spent == Cost()
    assert [r.action for r in budget.ledger] == ["release"] * 20


def test_hold_releases_when_the_body_fails() -> None:
    budget = Budget(tool_calls=1)
    with pytest.raises(RuntimeError), budget.hold(Cost(tool_calls=1), what="tool"):
        raise RuntimeError("tool crashed")
    assert budget.reserved == Cost()
    with budget.hold(Cost(tool_calls=1)) as reservation:
        reservation.settle(Cost(tool_calls=1))
    assert budget.spent.tool_calls == 1
    with pytest.raises(BudgetExceeded):
        budget.reserve(Cost(tool_calls=1))


def test_seconds_limit() -> None:
    budget = Budget(seconds=0.05)
    budget.reserve(Cost(llm_calls=1)).release()
    time.sleep(0.06)
    with pytest.raises(BudgetExceeded) as info:
        budget.reserve(Cost(llm_calls=1), what="late call")
    assert info.value.limit == "seconds" and "late call" in str(info.value)


# ----------------------------------------------------------------------------- configuration and reading
@pytest.mark.parametrize(
    "limits",
    [{"usd": -1.0}, {"llm_calls": -3}, {"tokens": True}, {"seconds": "10"}],
)
def test_bad_limits_are_config_errors(limits: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        Budget(**limits)
    assert info.value.exit_code == 2
    assert next(iter(limits)) in str(info.value)


def test_unknown_limit_names_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="dollars"):
        Budget.from_limits({"dollars": 3})
    with pytest.raises(ConfigError, match="calls"):
        Budget().child("x", calls=3)
    assert Budget.from_limits({"usd": 2, "llm_calls": 5}).limits["llm_calls"] == 5


def test_report_is_a_tree_of_spend() -> None:
    root = Budget(usd=1.0, llm_calls=10, name="run")
    a = root.child("a", llm_calls=4)
    b = root.child("b")
    a.charge(Cost(usd=0.1, input_tokens=100, output_tokens=20, llm_calls=2))
    b.charge(Cost(usd=0.05, llm_calls=1, tool_calls=3))
    held = a.reserve(Cost(llm_calls=1))
    report = root.report()
    assert report.name == "run" and [c.name for c in report.children] == ["a", "b"]
    assert report.spent["llm_calls"] == 3 and report.spent["tool_calls"] == 3
    assert report.spent["usd"] == pytest.approx(0.15)
    assert report.reserved["llm_calls"] == 1
    assert report.children[0].spent["tokens"] == 120 and report.children[0].limits["llm_calls"] == 4
    text = report.render()
    assert text.splitlines()[0].startswith("run: ")
    assert "llm_calls=3/10" in text and "  a: " in text and "llm_calls=2/4" in text
    assert json.loads(json.dumps(report.to_dict()))["children"][1]["spent"]["tool_calls"] == 3
    held.release()


async def test_ledger_rows_land_in_the_run_store_as_budget_events() -> None:
    store = RunStore()
    budget = Budget(llm_calls=3, name="run")
    ctx = tracing.RunContext(run_id=store.create_run("test"), store=store, budget=budget)
    budget.on_charge(tracing.ledger_sink(ctx))
    model = FunctionModel(lambda r: "ok", latency=0.01)
    with tracing.use(ctx):
        results = await asyncio.gather(*(model.complete(ask(i)) for i in range(5)), return_exceptions=True)
        budget.child("tools").charge(Cost(tool_calls=1), what="tool calculator")
    assert len(split(results)[0]) == 3
    events = store.events(ctx.run_id, "budget")
    assert len(events) == len(budget.ledger) == 4
    assert [e["name"] for e in events].count("settle") == 4
    model_rows = [e for e in events if e["data"]["llm_calls"] == 1]
    assert len(model_rows) == 3
    assert all(e["data"]["budget"] == "run" and "model function" in e["data"]["what"] for e in model_rows)
    tool_row = next(e for e in events if e["data"]["tool_calls"] == 1)
    assert tool_row["data"]["budget"] == "tools" and tool_row["data"]["what"] == "tool calculator"

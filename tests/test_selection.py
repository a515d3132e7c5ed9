"""Selection policies and ``select_streaming``: early stopping cancels in-flight branches, their
budget reservations return to zero, the release and the saving are recorded."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest

from agentloom import tracing
from agentloom.agents import (
    Candidate,
    ConsensusVerifier,
    FunctionVerifier,
    Verdict,
    best_of_n,
    first_finish,
    quorum,
    select,
    select_streaming,
    threshold,
    top_k,
)
from agentloom.agents.selection import ranked
from agentloom.budget import Budget, Cost
from agentloom.errors import BudgetExceeded, ConfigError, VerifierError
from agentloom.models.base import call_model
from agentloom.models.function import FunctionModel
from agentloom.models.types import Message, ModelRequest
from agentloom.runstore import RunStore

NEVER = "never"  # an answer marker: this sample's model call never returns on its own


def model_for(answers: dict[int, str], gate: asyncio.Event) -> FunctionModel:
    """Answers by the request's seed; a ``NEVER`` sample waits on ``gate`` (never set), so its
    call stays in flight with its budget reservation held until it is cancelled."""

    async def respond(request: ModelRequest) -> str:
        answer = answers[request.seed or 0]
        if answer == NEVER:
            await gate.wait()
        return answer

    return FunctionModel(respond, name="sampler")


def branches(model: FunctionModel, n: int) -> list[Callable[[], Awaitable[Candidate]]]:
    def make(i: int) -> Callable[[], Awaitable[Candidate]]:
        async def run() -> Candidate:
            completion = await call_model(
                model, ModelRequest(messages=[Message.user(f"What is 6 * 7? sample {i}")], seed=i, max_tokens=64)
            )
            return Candidate(text=completion.text, source=f"sample-{i}")

        return run

    return [make(i) for i in range(n)]


def is_42(candidate: Candidate) -> bool:
    return (candidate.text or "").strip() == "42"


def run_context(tmp_path: Path, budget: Budget) -> tuple[RunStore, str, tracing.RunContext]:
    store = RunStore(tmp_path / "runs.db")
    run_id = store.create_run("test")
    ctx = tracing.RunContext(run_id=run_id, store=store, budget=budget)
    budget.on_charge(tracing.ledger_sink(ctx))
    return store, run_id, ctx


# --------------------------------------------------------------------------- static policies
def pool(*specs: tuple[str, float, bool | None]) -> list[tuple[Candidate, Verdict]]:
    out = []
    for text, score, passed in specs:
        c = Candidate(text=text)
        out.append((c, Verdict(c.id, score, passed)))
    return out


def texts(cands: Sequence[Candidate]) -> list[str | None]:
    return [c.text for c in cands]


def test_ranking_puts_passed_then_unverified_then_failed() -> None:
    entries = pool(("fail-high", 0.9, False), ("unverified", 0.5, None), ("pass-low", 0.2, True), ("pass-high", 0.8, True))
    assert texts([c for c, _ in ranked(entries)]) == ["pass-high", "pass-low", "unverified", "fail-high"]


def test_top_k_threshold_and_best_of_n_choose() -> None:
    entries = pool(("a", 0.9, True), ("b", 0.4, False), ("c", 0.7, True), ("d", 0.6, None))
    assert texts(top_k(2).choose(entries)) == ["a", "c"]
    assert texts(threshold(0.5).choose(entries)) == ["a", "c", "d"]
    assert texts(best_of_n(4).choose(entries)) == ["a"]
    assert best_of_n(2).limit(10) == 2 and top_k(2).limit(10) == 10


def test_first_finish_takes_the_first_acceptable_in_finish_order() -> None:
    entries = pool(("late-best", 0.2, False), ("first-ok", 0.6, True), ("better", 0.9, True))
    policy = first_finish()
    assert policy.satisfied(entries)
    assert texts(policy.choose(entries)) == ["first-ok"]
    assert texts(first_finish(min_score=0.8).choose(entries)) == ["better"]
    none_ok = pool(("x", 0.3, False), ("y", 0.5, False))
    assert not policy.satisfied(none_ok)
    assert texts(policy.choose(none_ok)) == ["y"]
    assert first_finish(fallback=False).choose(none_ok) == []


def test_quorum_counts_equivalent_answers_and_ignores_failed() -> None:
    entries = pool(("1,000", 0.5, None), ("one thousand", 0.5, None), ("999", 0.5, None))
    assert not quorum(3).satisfied(entries)
    entries += pool(("1000.0", 0.5, False))
    assert not quorum(3).satisfied(entries), "a failed candidate does not count"
    assert quorum(3, count_failed=True).satisfied(entries)
    entries += pool(("x = 1000", 0.7, None))
    assert quorum(3).satisfied(entries)
    assert texts(quorum(3).choose(entries)) == ["x = 1000", "1,000", "one thousand"]


@pytest.mark.parametrize("make", [lambda: top_k(0), lambda: quorum(-1), lambda: best_of_n(0), lambda: threshold(2.0)])
def test_bad_policy_arguments_are_config_errors(make: Callable[[], object]) -> None:
    with pytest.raises(ConfigError):
        make()


# --------------------------------------------------------------------------- streaming
async def test_first_finish_cancels_in_flight_branches_and_releases_their_reservations(tmp_path: Path) -> None:
    gate = asyncio.Event()
    answers = {0: "41", 1: NEVER, 2: "42", 3: NEVER, 4: NEVER, 5: NEVER}
    model = model_for(answers, gate)
    budget = Budget(llm_calls=100, name="root")
    store, run_id, ctx = run_context(tmp_path, budget)
    with tracing.use(ctx):
        result = await select_streaming(branches(model, 6), FunctionVerifier(is_42), first_finish(), name="pick")
    assert result.best is not None and result.best.text == "42" and result.best.source == "sample-2"
    assert result.satisfied and result.stop_reason == "policy"
    assert result.cancelled == 4 and result.not_started == 0
    # every reservation came back
    assert budget.reserved == Cost()
    assert all(child.reserved == Cost() for child in budget.children)
    assert budget.spent.llm_calls == 2
    assert result.released.llm_calls == 4 and result.released.tokens > 0
    releases = [row for row in budget.ledger if row.action == "release"]
    assert len(releases) == 4
    # recorded: one cancelled event per branch, the ledger releases, a summary
    cancelled = store.events(run_id, kind="cancelled")
    assert sorted(e["data"]["branch"] for e in cancelled) == [1, 3, 4, 5]
    assert all(e["data"]["released"]["llm_calls"] == 1 and e["data"]["reserved_after"]["tokens"] == 0 for e in cancelled)
    assert len([e for e in store.events(run_id, kind="budget") if e["name"] == "release"]) == 4
    (summary,) = store.events(run_id, kind="selection")
    assert summary["data"]["cancelled"] == 4 and summary["data"]["saved_estimate"]["estimate"] is True
    # saving: 4 cancelled branches x the mean spend of the 2 finished ones
    finished_tokens = budget.spent.tokens / 2
    assert result.saved.llm_calls == pytest.approx(4.0)
    assert result.saved.tokens == pytest.approx(4 * finished_tokens)
    assert "estimate" in result.saved.to_dict() and result.saved.estimate


async def test_quorum_stops_once_k_agree() -> None:
    gate = asyncio.Event()
    answers = {0: "42", 1: "41", 2: "forty-two", 3: NEVER, 4: "42.0", 5: NEVER, 6: NEVER, 7: NEVER}
    budget = Budget()
    with tracing.use(tracing.RunContext(budget=budget)):
        result = await select_streaming(branches(model_for(answers, gate), 8), None, quorum(3))
    assert result.satisfied
    assert sorted(c.source for c in result.chosen) == ["sample-0", "sample-2", "sample-4"]
    assert result.cancelled == 4
    assert budget.spent.llm_calls == 4 and budget.reserved == Cost()
    assert result.agreement == pytest.approx(3 / 4)
    assert result.majority == "42"


async def test_quorum_not_reached_runs_everything_and_takes_the_plurality() -> None:
    answers = {0: "1", 1: "2", 2: "2", 3: "3"}
    result = await select_streaming(branches(model_for(answers, asyncio.Event()), 4), None, quorum(3))
    assert not result.satisfied and result.cancelled == 0 and result.stop_reason == "exhausted"
    assert texts(result.chosen) == ["2", "2"]


async def test_max_concurrency_leaves_later_branches_unstarted() -> None:
    gate = asyncio.Event()
    answers = {0: "42", 1: NEVER, 2: NEVER, 3: NEVER}
    budget = Budget()
    with tracing.use(tracing.RunContext(budget=budget)):
        result = await select_streaming(
            branches(model_for(answers, gate), 4), FunctionVerifier(is_42), first_finish(), max_concurrency=2
        )
    # a slot is freed only once its candidate is verified; branch 0 satisfied the policy, so
    # branches 2 and 3 never start
    assert result.cancelled == 3 and result.not_started == 2
    assert budget.reserved == Cost() and budget.spent.llm_calls == 1
    assert result.saved.llm_calls == pytest.approx(3.0)


async def test_best_of_n_runs_only_n_and_closes_the_rest() -> None:
    answers = {i: str(40 + i) for i in range(5)}
    model = model_for(answers, asyncio.Event())
    coroutines = [b() for b in branches(model, 5)]  # awaitables, not factories
    budget = Budget()

    def closeness(candidate: Candidate) -> float:
        return 1 - abs(int(candidate.text or "0") - 42) / 10

    with tracing.use(tracing.RunContext(budget=budget)):
        result = await select_streaming(coroutines, FunctionVerifier(closeness), best_of_n(3))
    assert budget.spent.llm_calls == 3
    assert result.best is not None and result.best.text == "42"
    assert len(result.candidates) == 3 and result.cancelled == 0


async def test_a_raising_branch_is_recorded_and_the_rest_go_on() -> None:
    async def broken() -> Candidate:
        raise RuntimeError("tool crashed")

    async def fine() -> Candidate:
        return Candidate(text="42")

    result = await select_streaming([broken, fine], FunctionVerifier(is_42), top_k(1))
    assert texts(result.chosen) == ["42"]
    assert result.errors and "tool crashed" in result.errors[0]


async def test_a_raising_verifier_fails_candidates_and_the_run_goes_on(tmp_path: Path) -> None:
    class Exploding:
        name = "exploding"

        async def verify(self, candidates: Sequence[Candidate], *, question: str | None = None) -> list[Verdict]:
            raise RuntimeError("verifier bug")

    async def a() -> Candidate:
        return Candidate(text="1")

    async def b() -> Candidate:
        return Candidate(text="2")

    store, run_id, ctx = run_context(tmp_path, Budget())
    with tracing.use(ctx):
        result = await select_streaming([a, b], Exploding(), top_k(2))
    assert len(result.verdicts) == 2
    assert all(v.passed is False and "verifier bug" in (v.error or "") for v in result.verdicts)
    assert len(result.chosen) == 2
    events = store.events(run_id, kind="verdict")
    assert len(events) == 2 and all(e["status"] == "error" for e in events)


async def test_all_branches_failing_is_a_verifier_error_naming_the_node() -> None:
    async def broken() -> Candidate:
        raise ValueError("bad")

    with pytest.raises(VerifierError, match="'vote_node'.*ValueError: bad"):
        await select_streaming([broken, broken], None, top_k(1), name="vote_node")


async def test_no_branches_is_a_verifier_error_naming_the_node() -> None:
    with pytest.raises(VerifierError, match="'empty_node'"):
        await select_streaming([], None, top_k(1), name="empty_node")
    with pytest.raises(VerifierError, match="'empty_static'"):
        await select([], None, top_k(1), name="empty_static")


async def test_budget_running_out_is_reported_not_raised() -> None:
    answers = {i: "42" for i in range(4)}
    budget = Budget(llm_calls=2)
    with tracing.use(tracing.RunContext(budget=budget)):
        result = await select_streaming(
            branches(model_for(answers, asyncio.Event()), 4), FunctionVerifier(is_42), top_k(1), max_concurrency=1
        )
    assert result.budget_limited
    assert len(result.candidates) == 2 and any("BudgetExceeded" in e for e in result.errors)
    assert budget.reserved == Cost()


async def test_every_branch_over_budget_returns_an_empty_budget_limited_result() -> None:
    answers = {i: "42" for i in range(2)}
    budget = Budget(llm_calls=0)
    with tracing.use(tracing.RunContext(budget=budget)):
        result = await select_streaming(branches(model_for(answers, asyncio.Event()), 2), None, top_k(1))
    assert result.budget_limited and result.best is None and result.stop_reason == "budget"


async def test_cancelling_the_selection_itself_releases_everything() -> None:
    gate = asyncio.Event()
    answers = {i: NEVER for i in range(3)}
    budget = Budget()
    with tracing.use(tracing.RunContext(budget=budget)):
        task = asyncio.ensure_future(select_streaming(branches(model_for(answers, gate), 3), None, top_k(1)))
        for _ in range(100):
            await asyncio.sleep(0)
            if budget.reserved.llm_calls == 3:
                break
        assert budget.reserved.llm_calls == 3
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert budget.reserved == Cost() and budget.spent.llm_calls == 0


async def test_consensus_verifier_rejudges_the_whole_pool_while_streaming() -> None:
    answers = {0: "7", 1: "8", 2: "seven", 3: "7.0", 4: "9"}
    result = await select_streaming(branches(model_for(answers, asyncio.Event()), 5), ConsensusVerifier(), top_k(5))
    verdicts = {c.text: result.verdict_for(c.id) for c in result.candidates}
    assert all(v is not None for v in verdicts.values())
    assert verdicts["7"].passed is True and verdicts["seven"].passed is True  # type: ignore[union-attr]
    assert verdicts["8"].passed is False  # type: ignore[union-attr]
    assert result.agreement == pytest.approx(0.6)


async def test_static_select_verifies_everything_at_once() -> None:
    cands = [Candidate(text=t) for t in ["41", "42", "43"]]
    result = await select(cands, FunctionVerifier(is_42), first_finish())
    assert texts(result.chosen) == ["42"] and result.satisfied


async def test_branches_may_return_text() -> None:
    async def a() -> str:
        return "42"

    result = await select_streaming([a], FunctionVerifier(is_42), first_finish())
    assert result.best is not None and result.best.text == "42"


async def test_budget_exceeded_inside_verifier_marks_result_budget_limited() -> None:
    class Broke:
        name = "broke"

        async def verify(self, candidates: Sequence[Candidate], *, question: str | None = None) -> list[Verdict]:
            raise BudgetExceeded("no money", limit="usd", budget="root")

    async def a() -> Candidate:
        return Candidate(text="42")

    result = await select_streaming([a], Broke(), top_k(1))
    assert result.budget_limited and result.verdicts[0].passed is None


async def test_one_at_a_time_starts_nothing_it_will_cancel() -> None:
    answers = {i: "7" for i in range(6)}
    budget = Budget()
    with tracing.use(tracing.RunContext(budget=budget)):
        result = await select_streaming(
            branches(model_for(answers, asyncio.Event()), 6), None, quorum(2), max_concurrency=1
        )
    assert budget.spent.llm_calls == 2
    assert [row.action for row in budget.ledger] == ["settle", "settle"], "no call was started and then released"
    assert result.cancelled == 4 and result.not_started == 4

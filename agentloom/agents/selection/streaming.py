"""``select_streaming``: run candidate-producing branches concurrently, verify each candidate
as it finishes, and cancel the branches still in flight once the policy is satisfied: their
budget reservations are released, each cancellation is recorded, and the spend saved is
estimated (and labelled an estimate)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from agentloom import tracing
from agentloom.agents.selection.judging import as_candidate, verify_into
from agentloom.agents.selection.policies import Entry, FirstFinish, Policy, Quorum, agreement
from agentloom.agents.selection.results import SavedEstimate, SelectionResult
from agentloom.budget import Budget, Cost
from agentloom.errors import BudgetExceeded, ConfigError, VerifierError

if TYPE_CHECKING:
    from agentloom.agents.verifiers import Verifier

__all__ = ["BranchWork", "select_streaming"]

#: What a selection branch runs: an awaitable, or a zero-argument function returning one (started lazily, metered).
BranchWork = Awaitable[Any] | Callable[[], Awaitable[Any]]


@dataclass
class _BranchState:
    index: int
    branch: Any
    started: bool = False
    budget: Budget | None = None
    reserved_at_cancel: Cost = field(default_factory=Cost)
    holds_slot: bool = False


_DIMENSIONS = ("input_tokens", "output_tokens", "llm_calls", "tool_calls", "usd")


def _mean(costs: list[Cost]) -> dict[str, float]:
    return {d: sum(float(getattr(c, d)) for c in costs) / len(costs) for d in _DIMENSIONS}


async def select_streaming(
    branches: Sequence[BranchWork],
    verifier: Verifier | None,
    policy: Policy,
    *,
    question: str | None = None,
    max_concurrency: int | None = None,
    name: str = "select",
) -> SelectionResult:
    """Run candidate-producing ``branches`` concurrently (at most ``max_concurrency`` at once),
    verify each candidate as it finishes, and cancel the rest as soon as ``policy`` is satisfied.

    A branch is an awaitable or a zero-argument function returning one (functions start
    lazily and run under their own child budget, so their spend is metered). A branch may
    return a ``Candidate``, a string, a ``Completion`` or a ``Result``. Cancelled branches
    release their budget reservations; each gets a ``cancelled`` event, and a ``selection``
    event sums up. A branch that raises is recorded and skipped; if every branch fails, a
    ``VerifierError`` names the node (unless the budget ran out: then the result says so).
    """
    items = _admitted(list(branches), policy, max_concurrency, name)
    race = _Race(items, verifier, policy, question, max_concurrency, name)
    await race.run()
    cancelled = race.cancelled
    released = _record_cancellations(cancelled, policy, name)
    saved = _saved_estimate(race.finished, cancelled)
    spent = Cost()
    for state in race.states:
        if state.budget is not None:
            spent = spent + state.budget.spent
    pool = race.pool
    candidates = [c for c, _ in pool]
    if not candidates and not race.budget_hit:
        raise VerifierError(
            f"selection node '{name}': all {len(items)} branches failed, so there is no candidate to select; "
            f"first error: {race.errors[0] if race.errors else 'unknown'}"
        )
    share, majority = agreement(candidates)
    satisfied, budget_hit = race.satisfied, race.budget_hit
    result = SelectionResult(
        chosen=policy.choose(pool),
        candidates=candidates,
        verdicts=[v for _, v in pool],
        policy=policy.name,
        satisfied=satisfied or (not isinstance(policy, FirstFinish | Quorum) and bool(pool)),
        cancelled=len(cancelled),
        not_started=sum(1 for s in cancelled if not s.started),
        saved=saved,
        released=released,
        spent=spent,
        agreement=share,
        majority=majority,
        errors=race.errors,
        budget_limited=budget_hit,
        stop_reason="policy" if satisfied and cancelled else "budget" if budget_hit and not satisfied else "exhausted",
    )
    tracing.emit("selection", name, data=result.to_dict())
    return result


def _admitted(items: list[BranchWork], policy: Policy, max_concurrency: int | None, name: str) -> list[BranchWork]:
    """The branches the policy will look at (coroutines beyond its limit are closed unstarted)."""
    if not items:
        raise VerifierError(f"selection node '{name}' received no branches; give it at least one")
    if max_concurrency is not None and max_concurrency < 1:
        raise ConfigError(f"selection node '{name}': max_concurrency={max_concurrency} must be 1 or more")
    limit = policy.limit(len(items))
    for extra in items[limit:]:
        if inspect.iscoroutine(extra):
            extra.close()
    return items[:limit]


class _Race:
    """The branches running under a concurrency gate, verified as they finish, until the
    policy is satisfied; then the rest are cancelled (``cancelled`` lists them)."""

    def __init__(self, items: list[BranchWork], verifier: Verifier | None, policy: Policy, question: str | None,
                 max_concurrency: int | None, name: str) -> None:
        ctx = tracing.current()
        self.meter = ctx.budget if ctx is not None and ctx.budget is not None else Budget(name=name)
        self.base = ctx if ctx is not None else tracing.RunContext()
        self.gate = asyncio.Semaphore(max_concurrency or len(items))
        self.states = [_BranchState(i, b) for i, b in enumerate(items)]
        self.verifier, self.policy, self.question, self.name = verifier, policy, question, name
        self.pool: list[Entry] = []
        self.finished: list[_BranchState] = []
        self.cancelled: list[_BranchState] = []
        self.errors: list[str] = []
        self.budget_hit = False
        self.satisfied = False

    async def run(self) -> None:
        tasks: dict[asyncio.Task[Any], _BranchState] = {asyncio.ensure_future(self._branch(s)): s for s in self.states}
        pending: set[asyncio.Task[Any]] = set(tasks)
        leftovers: list[asyncio.Task[Any]] = []
        try:
            while pending and not self.satisfied:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=lambda t: tasks[t].index):
                    await self._finished(task, tasks[task])
        finally:
            leftovers = [t for t in tasks if not t.done()]
            await self._cancel(leftovers, tasks)
        self.cancelled = [tasks[t] for t in leftovers]

    async def _branch(self, state: _BranchState) -> Any:
        # the slot is held until the candidate has been verified (released by ``_finished``),
        # so a branch is never started just to be cancelled when the policy is satisfied
        await self.gate.acquire()
        state.holds_slot = True
        try:
            state.started = True
            state.budget = self.meter.child(f"{self.name}.branch{state.index}")
            with tracing.use(self.base.derive(budget=state.budget)):
                branch = state.branch
                awaitable = branch if inspect.isawaitable(branch) else branch()
                return await awaitable
        except asyncio.CancelledError:
            self._free(state)
            raise

    def _free(self, state: _BranchState) -> None:
        if state.holds_slot:
            state.holds_slot = False
            self.gate.release()

    async def _finished(self, task: asyncio.Task[Any], state: _BranchState) -> None:
        """Record a failed branch, or verify its candidate into the pool and check the policy."""
        exc = task.exception() if not task.cancelled() else asyncio.CancelledError()
        if exc is not None:
            self.budget_hit = self.budget_hit or isinstance(exc, BudgetExceeded)
            self.errors.append(f"branch {state.index}: {type(exc).__name__}: {exc}")
            tracing.emit("branch", f"{self.name}.branch{state.index}", status="error", error=str(exc), data={"branch": state.index})
            self._free(state)
            return
        candidate = as_candidate(task.result(), state.index)
        if state.budget is not None and candidate.cost.llm_calls == 0 and candidate.cost.tokens == 0:
            candidate = replace(candidate, cost=Cost() + state.budget.spent)
        self.finished.append(state)
        self.pool, hit = await verify_into(self.verifier, self.pool, [candidate], self.question, self.name)
        self.budget_hit = self.budget_hit or hit
        # candidates that finished together are all kept; the policy is checked after each
        self.satisfied = self.satisfied or self.policy.satisfied(self.pool)
        if not self.satisfied:
            self._free(state)

    @staticmethod
    async def _cancel(leftovers: list[asyncio.Task[Any]], tasks: dict[asyncio.Task[Any], _BranchState]) -> None:
        """Cancel the branches still running (noting what each had reserved) and wait for them."""
        for task in leftovers:
            state = tasks[task]
            state.reserved_at_cancel = Cost() + state.budget.reserved if state.budget is not None else Cost()
            task.cancel()
        if leftovers:
            await asyncio.gather(*leftovers, return_exceptions=True)
        for task in leftovers:
            state = tasks[task]
            if not state.started and inspect.iscoroutine(state.branch):
                state.branch.close()


def _record_cancellations(cancelled: list[_BranchState], policy: Policy, name: str) -> Cost:
    """One ``cancelled`` event per cancelled branch; returns the reservations they released."""
    released = Cost()
    for state in cancelled:
        after = state.budget.reserved if state.budget is not None else Cost()
        freed = state.reserved_at_cancel - after
        released = released + freed
        tracing.emit(
            "cancelled",
            f"{name}.branch{state.index}",
            status="cancelled",
            data={
                "branch": state.index,
                "started": state.started,
                "reason": f"{policy.name} satisfied",
                "released": freed.to_dict(),
                "reserved_after": after.to_dict(),
                "spent_before_cancel": state.budget.spent.to_dict() if state.budget is not None else Cost().to_dict(),
            },
        )
    return released


def _saved_estimate(finished: list[_BranchState], cancelled: list[_BranchState]) -> SavedEstimate:
    """What the cancelled branches would still have spent, estimated from the finished ones' mean."""
    saved = SavedEstimate(branches=len(cancelled))
    finished_spend = [s.budget.spent for s in finished if s.budget is not None]
    if finished_spend and cancelled:
        mean = _mean(finished_spend)
        for state in cancelled:
            partial = state.budget.spent if state.budget is not None else Cost()
            for dim in _DIMENSIONS:
                gap = max(0.0, mean[dim] - float(getattr(partial, dim)))
                setattr(saved, dim, getattr(saved, dim) + gap)
    elif cancelled:
        saved.method = "no branch finished, so nothing to estimate from"
    return saved

"""Selection policies and early stopping over candidate-producing branches.

Policies (``top_k``, ``threshold``, ``first_finish``, ``quorum``, ``best_of_n``) say which
candidates to keep and whether enough is known to stop. ``select_streaming`` runs branches
concurrently, verifies each candidate as it finishes and cancels the branches still in flight
once the policy is satisfied: their budget reservations are released, each cancellation is
recorded, and the spend saved is estimated (and labelled an estimate).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentloom import tracing
from agentloom.agents._answer_norm import answer_key
from agentloom.agents.candidates import Candidate, Verdict, rank_key
from agentloom.budget import Budget, Cost
from agentloom.errors import BudgetExceeded, ConfigError, VerifierError

__all__ = [
    "BestOfN",
    "Branch",
    "FirstFinish",
    "Policy",
    "Quorum",
    "SavedEstimate",
    "SelectionResult",
    "Threshold",
    "TopK",
    "agreement",
    "best_of_n",
    "first_finish",
    "quorum",
    "ranked",
    "select",
    "select_streaming",
    "threshold",
    "top_k",
]

Entry = tuple[Candidate, Verdict]
#: A branch: an awaitable, or a zero-argument function returning one (started lazily, metered).
Branch = Awaitable[Any] | Callable[[], Awaitable[Any]]


def ranked(pool: Sequence[Entry]) -> list[Entry]:
    """Entries best first: passed > unverified > failed, then score; ties keep finish order."""
    return sorted(pool, key=lambda e: rank_key(e[1]), reverse=True)


def _default_key(candidate: Candidate) -> str | None:
    text = candidate.final_answer()
    return answer_key(text) if text.strip() else None


def _clusters(candidates: Sequence[Candidate], key: Callable[[Candidate], str | None]) -> dict[str, list[Candidate]]:
    groups: dict[str, list[Candidate]] = {}
    for c in candidates:
        k = key(c)
        if k is not None:
            groups.setdefault(k, []).append(c)
    return groups


def agreement(candidates: Sequence[Candidate], key: Callable[[Candidate], str | None] = _default_key) -> tuple[float, str | None]:
    """The largest share of candidates giving equivalent answers, and that answer (None on a tie)."""
    groups = _clusters(candidates, key)
    answered = sum(len(g) for g in groups.values())
    if not answered:
        return 0.0, None
    sizes = sorted((len(g) for g in groups.values()), reverse=True)
    top = max(groups.values(), key=len)
    majority = None if len(sizes) > 1 and sizes[0] == sizes[1] else top[0].final_answer().strip()
    return sizes[0] / answered, majority


# --------------------------------------------------------------------------- policies
class Policy:
    """Which candidates to keep (``choose``) and whether to stop early (``satisfied``).
    ``limit`` caps how many branches are run at all."""

    name = "policy"

    def limit(self, n: int) -> int:
        return n

    def satisfied(self, pool: Sequence[Entry]) -> bool:
        return False

    def choose(self, pool: Sequence[Entry]) -> list[Candidate]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


def _positive(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what}={value!r} must be a whole number of 1 or more")
    return value


class TopK(Policy):
    """The ``k`` best candidates, after every branch has finished."""

    def __init__(self, k: int) -> None:
        self.k = _positive(k, "top_k k")
        self.name = f"top_k({k})"

    def choose(self, pool: Sequence[Entry]) -> list[Candidate]:
        return [c for c, _ in ranked(pool)[: self.k]]


class Threshold(Policy):
    """Every candidate scoring at least ``t`` that did not fail, best first."""

    def __init__(self, t: float) -> None:
        if not 0.0 <= t <= 1.0:
            raise ConfigError(f"threshold t={t} must be between 0 and 1")
        self.t = t
        self.name = f"threshold({t:g})"

    def choose(self, pool: Sequence[Entry]) -> list[Candidate]:
        return [c for c, v in ranked(pool) if v.score >= self.t and v.passed is not False]


class FirstFinish(Policy):
    """The first candidate to finish that is acceptable (by default: its verdict passed, and its
    score reaches ``min_score`` if given); the rest are cancelled. If none is acceptable the
    best one is returned when ``fallback`` (the result then says the policy was not satisfied)."""

    def __init__(
        self,
        accept: Callable[[Candidate, Verdict], bool] | None = None,
        *,
        min_score: float | None = None,
        fallback: bool = True,
    ) -> None:
        self.accept = accept
        self.min_score = min_score
        self.fallback = fallback
        self.name = "first_finish"

    def acceptable(self, candidate: Candidate, verdict: Verdict) -> bool:
        if self.accept is not None:
            return bool(self.accept(candidate, verdict))
        return verdict.passed is True and (self.min_score is None or verdict.score >= self.min_score)

    def satisfied(self, pool: Sequence[Entry]) -> bool:
        return any(self.acceptable(c, v) for c, v in pool)

    def choose(self, pool: Sequence[Entry]) -> list[Candidate]:
        for c, v in pool:
            if self.acceptable(c, v):
                return [c]
        return [ranked(pool)[0][0]] if pool and self.fallback else []


class Quorum(Policy):
    """Stop once ``k`` candidates agree (equivalent normalised answers; candidates whose verdict
    failed do not count unless ``count_failed``). Chooses the agreeing cluster, best first; if no
    cluster reaches ``k``, the plurality."""

    def __init__(self, k: int, *, key: Callable[[Candidate], str | None] | None = None, count_failed: bool = False) -> None:
        self.k = _positive(k, "quorum k")
        self.key = key or _default_key
        self.count_failed = count_failed
        self.name = f"quorum({k})"

    def _groups(self, pool: Sequence[Entry]) -> list[list[Entry]]:
        verdicts = {c.id: v for c, v in pool}
        eligible = [c for c, v in pool if self.count_failed or v.passed is not False]
        groups = _clusters(eligible, self.key)
        return [[(c, verdicts[c.id]) for c in g] for g in groups.values()]

    def satisfied(self, pool: Sequence[Entry]) -> bool:
        return any(len(g) >= self.k for g in self._groups(pool))

    def choose(self, pool: Sequence[Entry]) -> list[Candidate]:
        groups = self._groups(pool)
        if not groups:
            return [ranked(pool)[0][0]] if pool else []
        best = max(groups, key=len)  # first-formed wins a tie
        return [c for c, _ in ranked(best)]


class BestOfN(Policy):
    """Run (at most) ``n`` branches and keep the single best candidate."""

    def __init__(self, n: int) -> None:
        self.n = _positive(n, "best_of_n n")
        self.name = f"best_of_n({n})"

    def limit(self, n: int) -> int:
        return min(n, self.n)

    def choose(self, pool: Sequence[Entry]) -> list[Candidate]:
        return [c for c, _ in ranked(pool)[:1]]


def top_k(k: int) -> TopK:
    """Keep the ``k`` best candidates."""
    return TopK(k)


def threshold(t: float) -> Threshold:
    """Keep every candidate scoring at least ``t``."""
    return Threshold(t)


def first_finish(
    accept: Callable[[Candidate, Verdict], bool] | None = None, *, min_score: float | None = None, fallback: bool = True
) -> FirstFinish:
    """Take the first acceptable candidate and cancel the rest."""
    return FirstFinish(accept, min_score=min_score, fallback=fallback)


def quorum(k: int, *, key: Callable[[Candidate], str | None] | None = None, count_failed: bool = False) -> Quorum:
    """Stop once ``k`` candidates agree."""
    return Quorum(k, key=key, count_failed=count_failed)


def best_of_n(n: int) -> BestOfN:
    """Generate ``n``, keep the best."""
    return BestOfN(n)


# --------------------------------------------------------------------------- results
@dataclass
class SavedEstimate:
    """Spend avoided by stopping early. An estimate: each cancelled branch is assumed to have
    gone on to spend what the finished branches spent on average (minus what it had already
    spent); branches never started count in full."""

    input_tokens: float = 0.0
    output_tokens: float = 0.0
    llm_calls: float = 0.0
    tool_calls: float = 0.0
    usd: float = 0.0
    branches: int = 0
    estimate: bool = True
    method: str = "mean spend of finished branches minus each cancelled branch's partial spend"

    @property
    def tokens(self) -> float:
        return self.input_tokens + self.output_tokens

    def to_dict(self) -> dict[str, Any]:
        return {
            "tokens": round(self.tokens, 2),
            "input_tokens": round(self.input_tokens, 2),
            "output_tokens": round(self.output_tokens, 2),
            "llm_calls": round(self.llm_calls, 3),
            "tool_calls": round(self.tool_calls, 3),
            "usd": round(self.usd, 8),
            "branches": self.branches,
            "estimate": self.estimate,
            "method": self.method,
        }


@dataclass
class SelectionResult:
    """What a selection produced: the chosen candidates (best first), every finished candidate
    with its verdict, how many branches were cancelled and what that saved (an estimate), and
    the answer agreement among finished candidates."""

    chosen: list[Candidate]
    candidates: list[Candidate]
    verdicts: list[Verdict]
    policy: str
    satisfied: bool
    cancelled: int = 0
    not_started: int = 0
    saved: SavedEstimate = field(default_factory=SavedEstimate)
    released: Cost = field(default_factory=Cost)
    spent: Cost = field(default_factory=Cost)
    agreement: float = 0.0
    majority: str | None = None
    errors: list[str] = field(default_factory=list)
    budget_limited: bool = False
    stop_reason: str = "exhausted"

    @property
    def best(self) -> Candidate | None:
        return self.chosen[0] if self.chosen else None

    def verdict_for(self, candidate_id: str) -> Verdict | None:
        for v in self.verdicts:
            if v.candidate_id == candidate_id:
                return v
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": [c.id for c in self.chosen],
            "candidates": [c.id for c in self.candidates],
            "verdicts": [v.to_dict() for v in self.verdicts],
            "policy": self.policy,
            "satisfied": self.satisfied,
            "cancelled": self.cancelled,
            "not_started": self.not_started,
            "saved_estimate": self.saved.to_dict(),
            "released": self.released.to_dict(),
            "spent": self.spent.to_dict(),
            "agreement": round(self.agreement, 6),
            "majority": self.majority,
            "errors": self.errors,
            "budget_limited": self.budget_limited,
            "stop_reason": self.stop_reason,
        }


def _unverified(candidate: Candidate, why: str, *, error: str | None = None, passed: bool | None = None) -> Verdict:
    return Verdict(candidate.id, 0.0, passed, feedback=why, error=error, verifier="none" if error is None else "")


async def _judge(
    verifier: Any, candidates: list[Candidate], question: str | None, name: str
) -> tuple[list[Verdict], bool]:
    """Verify ``candidates``; a verifier that raises fails them with the error recorded.
    Returns the verdicts and whether the budget ran out while verifying."""
    if verifier is None:
        return [_unverified(c, "not verified (no verifier)") for c in candidates], False
    try:
        return list(await verifier.verify(candidates, question=question)), False
    except BudgetExceeded as exc:
        verdicts = [_unverified(c, "the budget ran out before verification", error=str(exc)) for c in candidates]
        return verdicts, True
    except Exception as exc:  # a broken verifier fails the candidates, not the run
        error = f"{type(exc).__name__}: {exc}"
        verdicts = []
        for c in candidates:
            v = Verdict(c.id, 0.0, False, feedback=f"verifier raised {error}", error=error, verifier=getattr(verifier, "name", name))
            from agentloom.agents.verifiers import record_verdict

            record_verdict(v, getattr(verifier, "name", name))
            verdicts.append(v)
        return verdicts, False


def _as_candidate(value: Any, index: int) -> Candidate:
    if isinstance(value, Candidate):
        return value
    if isinstance(value, str):
        return Candidate(text=value, source=f"branch-{index}")
    if hasattr(value, "usage") and hasattr(value, "text"):
        return Candidate.from_completion(value, source=f"branch-{index}")
    if hasattr(value, "output") and hasattr(value, "usage"):  # an agentloom Result
        out = value.output
        return Candidate(text=out if isinstance(out, str) else None, output=None if isinstance(out, str) else out, source=f"branch-{index}")
    return Candidate(output=value, source=f"branch-{index}")


async def select(
    candidates: Sequence[Candidate],
    verifier: Any,
    policy: Policy,
    *,
    question: str | None = None,
    name: str = "select",
) -> SelectionResult:
    """Verify finished ``candidates`` together and apply ``policy`` (no branches to cancel)."""
    items = list(candidates)[: policy.limit(len(candidates))]
    if not items:
        raise VerifierError(f"selection node '{name}' received no candidates; check the branches feeding it")
    verdicts, budget_hit = await _judge(verifier, items, question, name)
    pool = list(zip(items, verdicts, strict=True))
    share, majority = agreement(items)
    chosen = policy.choose(pool)
    result = SelectionResult(
        chosen=chosen,
        candidates=items,
        verdicts=verdicts,
        policy=policy.name,
        satisfied=policy.satisfied(pool) or not isinstance(policy, FirstFinish | Quorum),
        agreement=share,
        majority=majority,
        budget_limited=budget_hit,
        stop_reason="budget" if budget_hit else "exhausted",
    )
    tracing.emit("selection", name, data=result.to_dict())
    return result


# --------------------------------------------------------------------------- streaming
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
    branches: Sequence[Branch],
    verifier: Any,
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
    items = list(branches)
    if not items:
        raise VerifierError(f"selection node '{name}' received no branches; give it at least one")
    if max_concurrency is not None and max_concurrency < 1:
        raise ConfigError(f"selection node '{name}': max_concurrency={max_concurrency} must be 1 or more")
    limit = policy.limit(len(items))
    for extra in items[limit:]:
        if inspect.iscoroutine(extra):
            extra.close()
    items = items[:limit]
    ctx = tracing.current()
    meter = ctx.budget if ctx is not None and ctx.budget is not None else Budget(name=name)
    base = ctx if ctx is not None else tracing.RunContext()
    gate = asyncio.Semaphore(max_concurrency or len(items))
    states = [_BranchState(i, b) for i, b in enumerate(items)]

    async def run(state: _BranchState) -> Any:
        # the slot is held until the candidate has been verified (released by the loop below),
        # so a branch is never started just to be cancelled when the policy is satisfied
        await gate.acquire()
        state.holds_slot = True
        try:
            state.started = True
            state.budget = meter.child(f"{name}.branch{state.index}")
            with tracing.use(base.derive(budget=state.budget)):
                branch = state.branch
                awaitable = branch if inspect.isawaitable(branch) else branch()
                return await awaitable
        except asyncio.CancelledError:
            free(state)
            raise

    def free(state: _BranchState) -> None:
        if state.holds_slot:
            state.holds_slot = False
            gate.release()

    tasks: dict[asyncio.Task[Any], _BranchState] = {asyncio.ensure_future(run(s)): s for s in states}
    pool: list[Entry] = []
    finished_states: list[_BranchState] = []
    errors: list[str] = []
    budget_hit = False
    satisfied = False
    pending: set[asyncio.Task[Any]] = set(tasks)
    try:
        while pending and not satisfied:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in sorted(done, key=lambda t: tasks[t].index):
                state = tasks[task]
                exc = task.exception() if not task.cancelled() else asyncio.CancelledError()
                if exc is not None:
                    budget_hit = budget_hit or isinstance(exc, BudgetExceeded)
                    errors.append(f"branch {state.index}: {type(exc).__name__}: {exc}")
                    tracing.emit("branch", f"{name}.branch{state.index}", status="error", error=str(exc), data={"branch": state.index})
                    free(state)
                    continue
                candidate = _as_candidate(task.result(), state.index)
                if state.budget is not None and candidate.cost.llm_calls == 0 and candidate.cost.tokens == 0:
                    candidate.cost = Cost() + state.budget.spent
                finished_states.append(state)
                if getattr(verifier, "batch_only", False):
                    everyone = [c for c, _ in pool] + [candidate]
                    verdicts, hit = await _judge(verifier, everyone, question, name)
                    pool = list(zip(everyone, verdicts, strict=True))
                else:
                    verdicts, hit = await _judge(verifier, [candidate], question, name)
                    pool.append((candidate, verdicts[0]))
                budget_hit = budget_hit or hit
                # candidates that finished together are all kept; the policy is checked after each
                satisfied = satisfied or policy.satisfied(pool)
                if not satisfied:
                    free(state)
    finally:
        leftovers = [t for t in tasks if not t.done()]
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

    cancelled_states = [tasks[t] for t in leftovers]
    released = Cost()
    for state in cancelled_states:
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

    saved = SavedEstimate(branches=len(cancelled_states))
    finished_spend = [s.budget.spent for s in finished_states if s.budget is not None]
    if finished_spend and cancelled_states:
        mean = _mean(finished_spend)
        for state in cancelled_states:
            partial = state.budget.spent if state.budget is not None else Cost()
            for dim in _DIMENSIONS:
                gap = max(0.0, mean[dim] - float(getattr(partial, dim)))
                setattr(saved, dim, getattr(saved, dim) + gap)
    elif cancelled_states:
        saved.method = "no branch finished, so nothing to estimate from"

    spent = Cost()
    for state in states:
        if state.budget is not None:
            spent = spent + state.budget.spent
    candidates = [c for c, _ in pool]
    if not candidates and not budget_hit:
        raise VerifierError(
            f"selection node '{name}': all {len(items)} branches failed, so there is no candidate to select; "
            f"first error: {errors[0] if errors else 'unknown'}"
        )
    share, majority = agreement(candidates)
    result = SelectionResult(
        chosen=policy.choose(pool),
        candidates=candidates,
        verdicts=[v for _, v in pool],
        policy=policy.name,
        satisfied=satisfied or (not isinstance(policy, FirstFinish | Quorum) and bool(pool)),
        cancelled=len(cancelled_states),
        not_started=sum(1 for s in cancelled_states if not s.started),
        saved=saved,
        released=released,
        spent=spent,
        agreement=share,
        majority=majority,
        errors=errors,
        budget_limited=budget_hit,
        stop_reason="policy" if satisfied and cancelled_states else "budget" if budget_hit and not satisfied else "exhausted",
    )
    tracing.emit("selection", name, data=result.to_dict())
    return result

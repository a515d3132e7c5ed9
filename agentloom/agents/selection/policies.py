"""Selection policies: which candidates to keep (``top_k``, ``threshold``, ``first_finish``,
``quorum``, ``best_of_n``) and whether enough is known to stop early; plus the ranking and
answer agreement they rest on."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agentloom.agents.candidates import Candidate, Verdict, rank_key
from agentloom.answers import agreement, answer_key
from agentloom.errors import ConfigError

__all__ = [
    "BestOfN",
    "Entry",
    "FirstFinish",
    "Policy",
    "Quorum",
    "Threshold",
    "TopK",
    "agreement",
    "best_of_n",
    "first_finish",
    "quorum",
    "ranked",
    "threshold",
    "top_k",
]

#: A candidate with its verdict.
Entry = tuple[Candidate, Verdict]


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

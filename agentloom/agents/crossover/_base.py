"""The ``Crossover`` protocol and what every crossover does with its inputs: refuse an empty
list, rank candidates by verdict, pool their passages and citation ids, and count the spend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from agentloom.agents.candidates import Candidate, Verdict, rank_key, verdict_map
from agentloom.budget import Cost
from agentloom.citations import Citation, cited_ids
from agentloom.errors import VerifierError

__all__ = [
    "Crossover",
    "VerdictsArg",
    "need",
    "passage_list",
    "prepare",
    "ranked",
    "spent",
    "union_ids",
    "union_passages",
]

#: The verdicts a crossover is given: a list, a dict by candidate id, or none.
VerdictsArg = Sequence[Verdict] | Mapping[str, Verdict] | None


@runtime_checkable
class Crossover(Protocol):
    """Combines candidates (with their verdicts) into one new candidate."""

    name: str

    async def combine(
        self,
        candidates: Sequence[Candidate],
        verdicts: VerdictsArg = None,
        *,
        question: str | None = None,
    ) -> Candidate: ...


def need(candidates: Sequence[Candidate], node: str, kind: str) -> list[Candidate]:
    """``candidates`` as a list; an empty one is an error naming the node."""
    items = list(candidates)
    if not items:
        raise VerifierError(
            f"crossover node '{node}' ({kind}) received no candidates; check that the branches feeding it produced output"
        )
    return items


def ranked(candidates: list[Candidate], verdicts: dict[str, Verdict]) -> list[Candidate]:
    """``candidates`` best first by their verdicts (passed > unverified > failed, then score)."""
    return sorted(candidates, key=lambda c: rank_key(verdicts.get(c.id)), reverse=True)


def prepare(
    candidates: Sequence[Candidate], verdicts: VerdictsArg, node: str, kind: str
) -> tuple[list[Candidate], dict[str, Verdict], list[Candidate]]:
    """A crossover's inputs: the candidates (refusing none), their verdicts by candidate id,
    and the candidates best first."""
    items = need(candidates, node, kind)
    vm = verdict_map(verdicts)
    return items, vm, ranked(items, vm)


def union_passages(candidates: Sequence[Candidate]) -> dict[str, Citation]:
    """Every passage the candidates carry, by id (the first copy wins)."""
    out: dict[str, Citation] = {}
    for c in candidates:
        for pid, p in c.passages.items():
            out.setdefault(pid, p)
    return out


def union_ids(candidates: Sequence[Candidate]) -> list[str]:
    """Every citation id the candidates list or cite in their text, in first-seen order."""
    seen: dict[str, None] = {}
    for c in candidates:
        for i in [*c.citations, *cited_ids(c.content)]:
            seen.setdefault(i, None)
    return list(seen)


def passage_list(passages: Mapping[str, Citation], ids: Sequence[str]) -> list[dict[str, Any]]:
    """The passages ``ids`` name (all of them when none is known), as the model reads them."""
    chosen = [passages[i] for i in ids if i in passages] or list(passages.values())
    return [{"id": p.id, "text": p.text[:4000], **({"path": p.path} if p.path else {})} for p in chosen]


def spent(completion: Any) -> Cost:
    """What a completion cost, as a budget ``Cost`` (at least one model call)."""
    u = completion.usage
    return Cost(usd=u.usd or 0.0, input_tokens=u.input_tokens, output_tokens=u.output_tokens, llm_calls=max(1, u.attempts))

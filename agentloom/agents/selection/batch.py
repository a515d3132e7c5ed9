"""``select``: verify finished candidates together and apply a policy (nothing to cancel)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from agentloom import tracing
from agentloom.agents.candidates import Candidate
from agentloom.agents.selection.judging import judge
from agentloom.agents.selection.policies import FirstFinish, Policy, Quorum, agreement
from agentloom.agents.selection.results import SelectionResult
from agentloom.errors import VerifierError

if TYPE_CHECKING:
    from agentloom.agents.verifiers import Verifier

__all__ = ["select"]


async def select(
    candidates: Sequence[Candidate],
    verifier: Verifier | None,
    policy: Policy,
    *,
    question: str | None = None,
    name: str = "select",
) -> SelectionResult:
    """Verify finished ``candidates`` together and apply ``policy`` (no branches to cancel)."""
    items = list(candidates)[: policy.limit(len(candidates))]
    if not items:
        raise VerifierError(f"selection node '{name}' received no candidates; check the branches feeding it")
    verdicts, budget_hit = await judge(verifier, items, question, name)
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

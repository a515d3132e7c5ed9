"""Turning branch outputs into verified entries: coerce what a branch returned into a
``Candidate``, and verify candidates so that a broken verifier or an exhausted budget marks
them instead of stopping the run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agentloom.agents.candidates import Candidate, Verdict
from agentloom.agents.selection.policies import Entry
from agentloom.errors import BudgetExceeded

if TYPE_CHECKING:
    from agentloom.agents.verifiers import Verifier

__all__ = ["as_candidate", "judge", "verify_into"]


def _unverified(candidate: Candidate, why: str, *, error: str | None = None, passed: bool | None = None) -> Verdict:
    return Verdict(candidate.id, 0.0, passed, feedback=why, error=error, verifier="none" if error is None else "")


async def judge(
    verifier: Verifier | None, candidates: list[Candidate], question: str | None, name: str
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


async def verify_into(
    verifier: Verifier | None, pool: Sequence[Entry], fresh: Sequence[Candidate], question: str | None, name: str
) -> tuple[list[Entry], bool]:
    """``pool`` plus the ``fresh`` candidates with their verdicts (a ``batch_only`` verifier
    judges candidates relative to each other, so it re-judges the whole pool), and whether the
    budget ran out while verifying."""
    if getattr(verifier, "batch_only", False):
        everyone = [c for c, _ in pool] + list(fresh)
        verdicts, hit = await judge(verifier, everyone, question, name)
        return list(zip(everyone, verdicts, strict=True)), hit
    verdicts, hit = await judge(verifier, list(fresh), question, name)
    return [*pool, *zip(fresh, verdicts, strict=True)], hit


def as_candidate(value: Any, index: int) -> Candidate:
    """What branch ``index`` returned (a ``Candidate``, text, a ``Completion``, a ``Result`` or a
    structured output) as a ``Candidate``."""
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

"""The ``Verifier`` protocol and ``VerifierBase``: one verdict per candidate, in order, each
labelled with the verifier's name and recorded as a ``verdict`` event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol, runtime_checkable

from agentloom import tracing
from agentloom.agents.candidates import Candidate, Verdict
from agentloom.errors import VerifierError

__all__ = ["Verifier", "VerifierBase", "record_verdict"]


@runtime_checkable
class Verifier(Protocol):
    """Anything that judges candidates: one verdict per candidate, in order."""

    name: str

    async def verify(self, candidates: Sequence[Candidate], *, question: str | None = None) -> list[Verdict]: ...


def record_verdict(verdict: Verdict, node: str) -> None:
    """Write ``verdict`` to the run as a ``verdict`` event of node ``node``."""
    status = "error" if verdict.error else "ok" if verdict.passed else "unverified" if verdict.passed is None else "failed"
    data = verdict.to_dict()
    data["feedback"] = data["feedback"][:1000]
    data["node"] = node
    tracing.emit("verdict", node, status=status, data=data, error=verdict.error)


class VerifierBase:
    """Shared behaviour: refuse an empty candidate list (naming the node), label and record
    every verdict. Subclasses implement ``_verify``. ``batch_only`` verifiers judge candidates
    relative to each other (consensus), so streaming selection re-runs them on the whole pool."""

    name: str = "verifier"
    batch_only: bool = False

    async def verify(self, candidates: Sequence[Candidate], *, question: str | None = None) -> list[Verdict]:
        """One verdict per candidate, in the candidates' order."""
        items = list(candidates)
        if not items:
            raise VerifierError(
                f"verifier node '{self.name}' ({type(self).__name__}) received no candidates; "
                "check that the branches feeding it produced output"
            )
        verdicts = [v if v.verifier else replace(v, verifier=self.name) for v in await self._verify(items, question)]
        for verdict in verdicts:
            record_verdict(verdict, self.name)
        return verdicts

    async def _verify(self, candidates: list[Candidate], question: str | None) -> list[Verdict]:
        raise NotImplementedError

    async def __call__(self, candidates: Sequence[Candidate], *, question: str | None = None) -> list[Verdict]:
        return await self.verify(candidates, question=question)

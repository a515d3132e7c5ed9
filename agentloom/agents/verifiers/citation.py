"""``CitationVerifier``: every sentence with a citation marker must be supported by the
passages it cites (lexical support offline, or entailment by a model)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from agentloom.agents.candidates import Candidate, Verdict, coerce_passages
from agentloom.agents.verifiers._base import VerifierBase
from agentloom.agents.verifiers._calls import ask_judge, bounded, passage_payload, resolve
from agentloom.agents.verifiers.schemas import EntailmentJudgment
from agentloom.citations import Citation, cited_ids
from agentloom.models.types import Model
from agentloom.text.lexical import claim_support, split_sentences, strip_markers

__all__ = ["CitationVerifier"]


@dataclass
class _Claim:
    sentence: str
    ids: list[str]


class CitationVerifier(VerifierBase):
    """Every sentence with a citation marker must be supported by the passages it cites.

    Offline (no ``model``): lexical support — the share of the claim's content words found in
    the cited passages must reach ``threshold``, every number in it must appear there, or the
    claim must appear verbatim. With a ``model``: entailment, one structured ``verify`` call per
    claim. Score = supported claims / checked claims; passes only when all are supported. A
    candidate with no cited claim is unverified, or failed when ``require_citations``.
    """

    def __init__(
        self,
        model: str | Model | None = None,
        *,
        threshold: float = 0.6,
        require_citations: bool = False,
        passages: Any = None,
        max_concurrency: int = 8,
        name: str = "citations",
    ) -> None:
        self.model = resolve(model) if model is not None else None
        self.threshold = threshold
        self.require_citations = require_citations
        self.passages = coerce_passages(passages)
        self.max_concurrency = max_concurrency
        self.name = name

    async def _entailed(self, claim: str, passages: list[Citation], question: str | None) -> bool | None:
        payload = {"task": "entailment", "claim": claim, "passages": passage_payload(passages)}
        system = "Decide whether the passages entail the claim. Reply with JSON only."
        out = await ask_judge(self.model, system, payload, EntailmentJudgment, purpose="verify", question=question, node=self.name)
        return None if out is None else out.entailed

    async def _check(self, claim: _Claim, known: dict[str, Citation], question: str | None) -> tuple[bool | None, str]:
        unknown = [i for i in claim.ids if i not in known]
        if unknown:
            return False, f"cites unknown passage(s) {', '.join(unknown)}"
        cited = [known[i] for i in claim.ids]
        text = strip_markers(claim.sentence)
        if self.model is not None:
            entailed = await self._entailed(text, cited, question)
            return entailed, "" if entailed else ("not entailed" if entailed is False else "the entailment judge failed")
        support = claim_support(text, [p.text for p in cited])
        if support.supported(self.threshold):
            return True, ""
        why = f"only {support.fraction:.0%} of its content words are in the cited passage"
        if support.missing_numbers:
            why += f"; {', '.join(support.missing_numbers)} not found there"
        return False, why

    async def _one(self, candidate: Candidate, question: str | None) -> Verdict:
        known = {**self.passages, **candidate.passages}
        claims, uncited = [], []
        for sentence in split_sentences(candidate.content):
            ids = cited_ids(sentence)
            if ids:
                claims.append(_Claim(sentence, ids))
            elif len(strip_markers(sentence).split()) >= 3:
                uncited.append(sentence)
        if not claims and not (self.require_citations and uncited):
            return Verdict(candidate.id, 0.0, None, feedback="no cited claims to check", meta={"uncited": len(uncited)})
        checks = await bounded(self.max_concurrency, [partial(self._check, c, known, question) for c in claims])
        lines, supported, unverified = [], 0, 0
        for claim, (ok, why) in zip(claims, checks, strict=True):
            if ok:
                supported += 1
            elif ok is None:
                unverified += 1
                lines.append(f"unverified: {strip_markers(claim.sentence)} ({why})")
            else:
                lines.append(f"unsupported: {strip_markers(claim.sentence)} [{', '.join(claim.ids)}] ({why})")
        total = len(claims)
        if self.require_citations:
            total += len(uncited)
            lines += [f"uncited: {strip_markers(s)}" for s in uncited]
        failed = total - supported - unverified
        passed: bool | None = None if failed == 0 and unverified else failed == 0
        meta = {"claims": len(claims), "supported": supported, "unverified": unverified, "uncited": len(uncited)}
        return Verdict(candidate.id, supported / total if total else 0.0, passed, feedback="\n".join(lines), meta=meta)

    async def _verify(self, candidates: list[Candidate], question: str | None) -> list[Verdict]:
        return [await self._one(c, question) for c in candidates]

"""``MergeCrossover``: merge the top-k candidates into one with a model (purpose ``merge``),
keeping every citation id and flagging the disagreements it could not resolve."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pydantic import BaseModel, Field

from agentloom import tracing
from agentloom.agents._verify_text import payload_request
from agentloom.agents.candidates import Candidate
from agentloom.agents.crossover._base import (
    VerdictsArg,
    passage_list,
    prepare,
    spent,
    union_ids,
    union_passages,
)
from agentloom.agents.grounding import drop_ungrounded
from agentloom.citations import cited_ids
from agentloom.errors import ConfigError, ModelError
from agentloom.models.base import call_model
from agentloom.models.types import Model

__all__ = ["Disagreement", "MergeCrossover", "MergeOutput"]


class Disagreement(BaseModel):
    """A point the merge could not settle: the claim and the versions the candidates gave."""

    claim: str
    variants: list[str] = Field(default_factory=list)
    candidate_ids: list[str] = Field(default_factory=list)


class MergeOutput(BaseModel):
    """A merged answer, the disagreements left open, and claims left out as unsupported."""

    text: str = Field(description="the merged answer, keeping every [id] citation marker of the claims it keeps")
    unresolved: list[Disagreement] = Field(default_factory=list)
    dropped: list[str] = Field(default_factory=list, description="claims left out because no passage supports them")


class MergeCrossover:
    """Merge the top ``k`` candidates into one with a model (purpose ``merge``): reconcile
    conflicts, keep every citation id, flag what could not be resolved. Citation ids that the
    merged text no longer carries are kept on the candidate and listed in its meta."""

    def __init__(self, model: str | Model | None = None, k: int = 3, *, max_tokens: int = 2000, name: str = "merge") -> None:
        if k < 1:
            raise ConfigError(f"MergeCrossover k={k} must be 1 or more")
        from agentloom.models.resolve import resolve_model

        self.model = resolve_model(model)
        self.k = k
        self.max_tokens = max_tokens
        self.name = name

    async def combine(
        self,
        candidates: Sequence[Candidate],
        verdicts: VerdictsArg = None,
        *,
        question: str | None = None,
    ) -> Candidate:
        """The merged candidate (the single input itself, when there is only one)."""
        _, vm, ordered = prepare(candidates, verdicts, self.name, "MergeCrossover")
        top = ordered[: self.k]
        if len(top) == 1:
            only = top[0]
            return replace(only, parents=[only.id], meta={**only.meta, "merged": False})
        passages = union_passages(top)
        ids = union_ids(top)
        payload = {
            "task": "merge",
            "question": question,
            "candidates": [
                {
                    "id": c.id,
                    "text": c.content,
                    "score": vm[c.id].score if c.id in vm else None,
                    "feedback": vm[c.id].feedback if c.id in vm else "",
                }
                for c in top
            ],
            "passages": passage_list(passages, ids),
        }
        system = (
            "Merge the candidate answers into one answer. Keep claims the passages support, reconcile "
            "conflicts in favour of the better-supported claim, keep every [id] citation marker, never add "
            "facts that are in no candidate, and list each disagreement you could not resolve."
        )
        request = payload_request(
            system,
            payload,
            output_type=MergeOutput,
            purpose="merge",
            max_tokens=self.max_tokens,
            metadata={"question": question, "node": self.name},
        )
        try:
            completion = await call_model(self.model, request)
        except ModelError as exc:
            best = top[0]
            tracing.emit("crossover", self.name, status="error", error=str(exc), data={"parents": [c.id for c in top]})
            return replace(best, parents=[c.id for c in top], meta={**best.meta, "merged": False, "merge_error": str(exc)})
        out = completion.parsed
        assert isinstance(out, MergeOutput)
        grounded = drop_ungrounded(out.text, [question or "", *(c.content for c in top), *(p.text for p in passages.values())])
        if grounded.dropped:
            tracing.emit("grounding", self.name, status="error", data={"dropped": grounded.dropped,
                         "reason": "merged sentences held figures or names found in no candidate or passage"})
        if not grounded.text.strip():
            best = top[0]
            return replace(best, parents=[c.id for c in top], meta={**best.meta, "merged": False, "ungrounded_dropped": grounded.dropped})
        out = out.model_copy(update={"text": grounded.text})
        in_text = cited_ids(out.text)
        missing = [i for i in ids if i not in in_text]
        merged = Candidate(
            text=out.text,
            citations=in_text + missing,
            passages=passages,
            source=self.name,
            parents=[c.id for c in top],
            cost=spent(completion),
            meta={
                "merged": True,
                "unresolved": [d.model_dump() for d in out.unresolved],
                "dropped": list(out.dropped),
                "citations_not_in_text": missing,
                "ungrounded_dropped": grounded.dropped,
            },
        )
        tracing.emit(
            "crossover",
            self.name,
            data={"kind": "merge", "parents": merged.parents, "child": merged.id, "unresolved": len(out.unresolved), "citations": merged.citations},
        )
        return merged

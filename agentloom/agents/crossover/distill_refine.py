"""``DistillRefine`` (Parallel-Distill-Refine): distil candidates into a bounded
``Workspace``, then refine a draft from it with a model (purpose ``refine``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

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
from agentloom.citations import Citation, cited_ids
from agentloom.errors import ConfigError, ModelError
from agentloom.models.base import call_model
from agentloom.models.types import Model
from agentloom.text.lexical import near_duplicate, split_sentences, with_markers
from agentloom.tokens import count_tokens

__all__ = ["DistillRefine", "Workspace"]


@dataclass
class Workspace:
    """A bounded summary of many candidates: their best-agreed sentences (with citation
    markers) and the verifier's notes, within ``limit`` tokens."""

    sentences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    limit: int = 0
    dropped: int = 0
    sources: dict[str, list[str]] = field(default_factory=dict)

    @property
    def text(self) -> str:
        body = "\n".join(f"- {s}" for s in self.sentences)
        if self.notes:
            body += "\nIssues found:\n" + "\n".join(f"- {n}" for n in self.notes)
        return body

    @property
    def tokens(self) -> int:
        return count_tokens(self.text)


class DistillRefine:
    """Parallel-Distill-Refine: distil candidates into a workspace of at most
    ``workspace_tokens`` tokens (sentences ranked by how many candidates agree and how well
    those scored, plus the verifier's notes), then refine the best draft from it with a model
    (purpose ``refine``). Distilling is deterministic and costs no model call."""

    def __init__(
        self,
        model: str | Model | None = None,
        *,
        workspace_tokens: int = 512,
        k: int | None = None,
        max_tokens: int = 2000,
        name: str = "distill_refine",
    ) -> None:
        if workspace_tokens < 16:
            raise ConfigError(f"DistillRefine workspace_tokens={workspace_tokens} is too small; use 16 or more")
        from agentloom.models.resolve import resolve_model

        self.model = resolve_model(model)
        self.workspace_tokens = workspace_tokens
        self.k = k
        self.max_tokens = max_tokens
        self.name = name

    def distill(
        self,
        candidates: Sequence[Candidate],
        verdicts: VerdictsArg = None,
    ) -> Workspace:
        """The bounded workspace for ``candidates``."""
        _, vm, ordered = prepare(candidates, verdicts, self.name, "DistillRefine")
        if self.k:
            ordered = ordered[: self.k]
        groups: list[dict[str, Any]] = []
        for rank, c in enumerate(ordered):
            weight = vm[c.id].score if c.id in vm else 0.5
            if c.id in vm and vm[c.id].passed is False:
                weight *= 0.5
            for sentence in split_sentences(c.content):
                for g in groups:
                    if near_duplicate(g["text"], sentence):
                        if c.id not in g["from"]:
                            g["from"].append(c.id)
                            g["weight"] += weight
                        g["ids"].extend(i for i in cited_ids(sentence) if i not in g["ids"])
                        break
                else:
                    groups.append({"text": sentence, "from": [c.id], "weight": weight, "ids": cited_ids(sentence), "rank": rank})
        groups.sort(key=lambda g: (-len(g["from"]), -g["weight"], g["rank"]))
        workspace = Workspace(limit=self.workspace_tokens)
        used = 0
        for g in groups:
            sentence = with_markers(g["text"], g["ids"])
            cost = count_tokens(sentence) + 1
            if used + cost > self.workspace_tokens:
                workspace.dropped += 1
                continue
            used += cost
            workspace.sentences.append(sentence)
            workspace.sources[sentence] = list(g["from"])
        for c in ordered:
            v = vm.get(c.id)
            for line in (v.feedback.splitlines() if v else [])[:4]:
                line = line.strip()
                if not line or line in workspace.notes:
                    continue
                cost = count_tokens(line) + 1
                if used + cost > self.workspace_tokens:
                    break
                used += cost
                workspace.notes.append(line)
        return workspace

    async def refine(
        self,
        draft: Candidate | None,
        workspace: Workspace,
        *,
        question: str | None = None,
        feedback: str = "",
        passages: Mapping[str, Citation] | None = None,
        parents: Sequence[str] = (),
    ) -> Candidate:
        """One refinement of ``draft`` from ``workspace`` and ``feedback`` (purpose ``refine``)."""
        passages = dict(passages or (draft.passages if draft else {}))
        ids = union_ids([draft]) if draft else []
        ids += [i for s in workspace.sentences for i in cited_ids(s) if i not in ids]
        payload = {
            "task": "refine",
            "question": question,
            "draft": draft.content if draft else "",
            "workspace": workspace.sentences,
            "notes": workspace.notes,
            "feedback": feedback,
            "passages": passage_list(passages, ids) if passages else [],
        }
        system = (
            "Improve the draft answer using the workspace (points distilled from several attempts) and the "
            "feedback: fix what the feedback flags, add missing points from the workspace, keep [id] "
            "citation markers, never add unsupported facts. Reply with the improved answer only."
        )
        request = payload_request(
            system,
            payload,
            purpose="refine",
            max_tokens=self.max_tokens,
            metadata={"question": question, "node": self.name},
        )
        try:
            completion = await call_model(self.model, request)
        except ModelError as exc:
            if draft is None:
                raise
            tracing.emit("crossover", self.name, status="error", error=str(exc), data={"kind": "distill_refine"})
            return replace(draft, meta={**draft.meta, "refined": False, "refine_error": str(exc)})
        sources = [question or "", draft.content if draft else "", *workspace.sentences, *workspace.notes, feedback,
                   *(p.text for p in passages.values())]
        grounded = drop_ungrounded((completion.text or "").strip(), sources)
        if grounded.dropped:
            tracing.emit("grounding", self.name, status="error", data={"dropped": grounded.dropped,
                         "reason": "refined sentences held figures or names found in no input"})
        text = grounded.text.strip()
        if not text and draft is not None:
            return replace(draft, meta={**draft.meta, "refined": False, "ungrounded_dropped": grounded.dropped})
        refined = Candidate(
            text=text,
            passages=passages,
            source=self.name,
            parents=list(parents) or ([draft.id] if draft else []),
            cost=spent(completion),
            meta={"workspace_tokens": workspace.tokens, "workspace_dropped": workspace.dropped},
        )
        tracing.emit(
            "crossover",
            self.name,
            data={"kind": "distill_refine", "parents": refined.parents, "child": refined.id, "workspace_tokens": workspace.tokens},
        )
        return refined

    async def combine(
        self,
        candidates: Sequence[Candidate],
        verdicts: VerdictsArg = None,
        *,
        question: str | None = None,
    ) -> Candidate:
        """Distil ``candidates``, then refine the best of them from the workspace."""
        items, vm, ordered = prepare(candidates, verdicts, self.name, "DistillRefine")
        workspace = self.distill(items, vm)
        draft = ordered[0]
        feedback = vm[draft.id].feedback if draft.id in vm else ""
        return await self.refine(
            draft,
            workspace,
            question=question,
            feedback=feedback,
            passages=union_passages(items),
            parents=[c.id for c in items],
        )

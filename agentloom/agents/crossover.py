"""Crossover: combine candidates into a better one instead of only picking one.

``MergeCrossover`` merges the top-k candidates with a model (purpose ``merge``), keeping every
citation id and flagging disagreements it could not resolve. ``DistillRefine``
(Parallel-Distill-Refine) distils candidates into a bounded workspace, then refines a draft
from it (purpose ``refine``). ``FieldCrossover`` builds a structured answer field by field
from the candidates the verifier preferred for each field. ``Variation`` declares how the
candidates of a node differ (temperature, top_p/top_k, model, prompt style).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field, ValidationError

from agentloom import tracing
from agentloom.agents._verify_text import near_duplicate, render_payload, split_sentences, with_markers
from agentloom.agents.candidates import Candidate, Verdict, rank_key, verdict_map
from agentloom.budget import Cost
from agentloom.citations import Citation, cited_ids
from agentloom.errors import BudgetExceeded, ConfigError, ModelError, VerifierError
from agentloom.models._tokens import count_tokens
from agentloom.models.base import call_model
from agentloom.models.types import Message, ModelRequest

__all__ = [
    "STYLES",
    "Crossover",
    "Disagreement",
    "DistillRefine",
    "FieldCrossover",
    "MergeCrossover",
    "MergeOutput",
    "Variation",
    "Workspace",
]

#: Prompt styles a ``Variation`` may name; any other string is used as the instruction itself.
STYLES: dict[str, str] = {
    "direct": "Answer directly and concisely.",
    "stepwise": "Work step by step, then state the final answer on its own line.",
    "skeptical": "Doubt each claim; keep only what the sources support, and say what is uncertain.",
    "evidence_first": "For each claim, find the supporting passage first, then state the claim and cite it.",
    "alternative": "Consider a different interpretation or method from the obvious one before answering.",
}


# --------------------------------------------------------------------------- variety
@dataclass(frozen=True)
class Variation:
    """How one generated candidate differs from its siblings (Reflect-Evolve style): sampling
    parameters, the model, and a prompt style (a name from ``STYLES`` or an instruction)."""

    name: str = ""
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    model: Any = None
    style: str | None = None
    seed: int | None = None

    def instruction(self) -> str | None:
        """The style's instruction, if any."""
        if not self.style:
            return None
        return STYLES.get(self.style, self.style)

    def apply(self, request: ModelRequest) -> ModelRequest:
        """``request`` with this variation's sampling parameters and style instruction
        (``top_k`` travels in metadata: not every provider accepts it)."""
        messages = list(request.messages)
        note = self.instruction()
        if note:
            if messages and messages[0].role == "system":
                messages[0] = Message("system", f"{messages[0].content or ''}\n\n{note}".strip())
            else:
                messages.insert(0, Message.system(note))
        metadata = dict(request.metadata, variation=self.label())
        if self.top_k is not None:
            metadata["top_k"] = self.top_k
        return replace(
            request,
            messages=messages,
            temperature=self.temperature if self.temperature is not None else request.temperature,
            top_p=self.top_p if self.top_p is not None else request.top_p,
            seed=self.seed if self.seed is not None else request.seed,
            metadata=metadata,
        )

    def label(self) -> str:
        """A short name: ``name``, else the parameters that are set."""
        if self.name:
            return self.name
        parts = [f"{k}={v}" for k, v in self.params().items()]
        return ",".join(parts) or "default"

    def params(self) -> dict[str, Any]:
        """The parameters that are set (the model by name)."""
        out: dict[str, Any] = {}
        for key in ("temperature", "top_p", "top_k", "style", "seed"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.model is not None:
            out["model"] = self.model if isinstance(self.model, str) else getattr(self.model, "name", type(self.model).__name__)
        return out

    @classmethod
    def spread(
        cls,
        n: int,
        *,
        temperatures: Sequence[float] | None = None,
        top_ks: Sequence[int | None] | None = None,
        styles: Sequence[str | None] | None = None,
        models: Sequence[Any] | None = None,
    ) -> list[Variation]:
        """``n`` variations: temperatures spread over 0.2..1.0 unless given; top_k, styles and
        models cycled when given."""
        if n < 1:
            raise ConfigError(f"Variation.spread n={n} must be 1 or more")
        temps = list(temperatures) if temperatures else [round(0.2 + 0.8 * i / max(1, n - 1), 3) for i in range(n)]
        out = []
        for i in range(n):
            out.append(
                cls(
                    name=f"v{i}",
                    temperature=temps[i % len(temps)],
                    top_k=top_ks[i % len(top_ks)] if top_ks else None,
                    style=styles[i % len(styles)] if styles else None,
                    model=models[i % len(models)] if models else None,
                )
            )
        return out


# --------------------------------------------------------------------------- protocol
@runtime_checkable
class Crossover(Protocol):
    """Combines candidates (with their verdicts) into one new candidate."""

    name: str

    async def combine(
        self,
        candidates: Sequence[Candidate],
        verdicts: Sequence[Verdict] | Mapping[str, Verdict] | None = None,
        *,
        question: str | None = None,
    ) -> Candidate: ...


def _need(candidates: Sequence[Candidate], node: str, kind: str) -> list[Candidate]:
    items = list(candidates)
    if not items:
        raise VerifierError(
            f"crossover node '{node}' ({kind}) received no candidates; check that the branches feeding it produced output"
        )
    return items


def _ordered(candidates: list[Candidate], verdicts: dict[str, Verdict]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: rank_key(verdicts.get(c.id)), reverse=True)


def _union_passages(candidates: Sequence[Candidate]) -> dict[str, Citation]:
    out: dict[str, Citation] = {}
    for c in candidates:
        for pid, p in c.passages.items():
            out.setdefault(pid, p)
    return out


def _union_ids(candidates: Sequence[Candidate]) -> list[str]:
    seen: dict[str, None] = {}
    for c in candidates:
        for i in [*c.citations, *cited_ids(c.content)]:
            seen.setdefault(i, None)
    return list(seen)


def _passage_list(passages: Mapping[str, Citation], ids: Sequence[str]) -> list[dict[str, Any]]:
    chosen = [passages[i] for i in ids if i in passages] or list(passages.values())
    return [{"id": p.id, "text": p.text[:4000], **({"path": p.path} if p.path else {})} for p in chosen]


def _spent(completion: Any) -> Cost:
    u = completion.usage
    return Cost(usd=u.usd or 0.0, input_tokens=u.input_tokens, output_tokens=u.output_tokens, llm_calls=max(1, u.attempts))


# --------------------------------------------------------------------------- MergeCrossover
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

    def __init__(self, model: Any = None, k: int = 3, *, max_tokens: int = 2000, name: str = "merge") -> None:
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
        verdicts: Sequence[Verdict] | Mapping[str, Verdict] | None = None,
        *,
        question: str | None = None,
    ) -> Candidate:
        """The merged candidate (the single input itself, when there is only one)."""
        items = _need(candidates, self.name, "MergeCrossover")
        vm = verdict_map(verdicts)
        top = _ordered(items, vm)[: self.k]
        if len(top) == 1:
            only = top[0]
            return replace(only, parents=[only.id], meta={**only.meta, "merged": False})
        passages = _union_passages(top)
        ids = _union_ids(top)
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
            "passages": _passage_list(passages, ids),
        }
        request = ModelRequest(
            messages=[
                Message.system(
                    "Merge the candidate answers into one answer. Keep claims the passages support, reconcile "
                    "conflicts in favour of the better-supported claim, keep every [id] citation marker, never add "
                    "facts that are in no candidate, and list each disagreement you could not resolve."
                ),
                Message.user(render_payload(payload)),
            ],
            output_type=MergeOutput,
            temperature=0.0,
            max_tokens=self.max_tokens,
            purpose="merge",
            metadata={"question": question, "node": self.name},
        )
        try:
            completion = await call_model(self.model, request)
        except BudgetExceeded:
            raise
        except ModelError as exc:
            best = top[0]
            tracing.emit("crossover", self.name, status="error", error=str(exc), data={"parents": [c.id for c in top]})
            return replace(best, parents=[c.id for c in top], meta={**best.meta, "merged": False, "merge_error": str(exc)})
        out = completion.parsed
        assert isinstance(out, MergeOutput)
        in_text = cited_ids(out.text)
        missing = [i for i in ids if i not in in_text]
        merged = Candidate(
            text=out.text,
            citations=in_text + missing,
            passages=passages,
            source=self.name,
            parents=[c.id for c in top],
            cost=_spent(completion),
            meta={
                "merged": True,
                "unresolved": [d.model_dump() for d in out.unresolved],
                "dropped": list(out.dropped),
                "citations_not_in_text": missing,
            },
        )
        tracing.emit(
            "crossover",
            self.name,
            data={"kind": "merge", "parents": merged.parents, "child": merged.id, "unresolved": len(out.unresolved), "citations": merged.citations},
        )
        return merged


# --------------------------------------------------------------------------- DistillRefine
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
        model: Any = None,
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
        verdicts: Sequence[Verdict] | Mapping[str, Verdict] | None = None,
    ) -> Workspace:
        """The bounded workspace for ``candidates``."""
        items = _need(candidates, self.name, "DistillRefine")
        vm = verdict_map(verdicts)
        ordered = _ordered(items, vm)[: self.k] if self.k else _ordered(items, vm)
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
        ids = _union_ids([draft]) if draft else []
        ids += [i for s in workspace.sentences for i in cited_ids(s) if i not in ids]
        payload = {
            "task": "refine",
            "question": question,
            "draft": draft.content if draft else "",
            "workspace": workspace.sentences,
            "notes": workspace.notes,
            "feedback": feedback,
            "passages": _passage_list(passages, ids) if passages else [],
        }
        request = ModelRequest(
            messages=[
                Message.system(
                    "Improve the draft answer using the workspace (points distilled from several attempts) and the "
                    "feedback: fix what the feedback flags, add missing points from the workspace, keep [id] "
                    "citation markers, never add unsupported facts. Reply with the improved answer only."
                ),
                Message.user(render_payload(payload)),
            ],
            temperature=0.0,
            max_tokens=self.max_tokens,
            purpose="refine",
            metadata={"question": question, "node": self.name},
        )
        try:
            completion = await call_model(self.model, request)
        except BudgetExceeded:
            raise
        except ModelError as exc:
            if draft is None:
                raise
            tracing.emit("crossover", self.name, status="error", error=str(exc), data={"kind": "distill_refine"})
            return replace(draft, meta={**draft.meta, "refined": False, "refine_error": str(exc)})
        text = (completion.text or "").strip()
        refined = Candidate(
            text=text,
            passages=passages,
            source=self.name,
            parents=list(parents) or ([draft.id] if draft else []),
            cost=_spent(completion),
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
        verdicts: Sequence[Verdict] | Mapping[str, Verdict] | None = None,
        *,
        question: str | None = None,
    ) -> Candidate:
        """Distil ``candidates``, then refine the best of them from the workspace."""
        items = _need(candidates, self.name, "DistillRefine")
        vm = verdict_map(verdicts)
        workspace = self.distill(items, vm)
        draft = _ordered(items, vm)[0]
        feedback = vm[draft.id].feedback if draft.id in vm else ""
        return await self.refine(
            draft,
            workspace,
            question=question,
            feedback=feedback,
            passages=_union_passages(items),
            parents=[c.id for c in items],
        )


# --------------------------------------------------------------------------- FieldCrossover
class FieldCrossover:
    """For structured (pydantic) outputs: take each field from the candidate whose verdict
    scores that field highest (``Verdict.field_scores``; the overall score stands in when a
    field has no score). The result is validated against ``output_type`` (default: the best
    candidate's output type); if it does not validate, the best candidate is kept."""

    def __init__(self, output_type: type[BaseModel] | None = None, *, name: str = "fields") -> None:
        self.output_type = output_type
        self.name = name

    async def combine(
        self,
        candidates: Sequence[Candidate],
        verdicts: Sequence[Verdict] | Mapping[str, Verdict] | None = None,
        *,
        question: str | None = None,
    ) -> Candidate:
        """A candidate whose every field comes from the candidate preferred for that field."""
        items = _need(candidates, self.name, "FieldCrossover")
        vm = verdict_map(verdicts)
        ordered = _ordered(items, vm)
        structured = [(c, d) for c in ordered if (d := c.output_dict()) is not None]
        if not structured:
            raise VerifierError(
                f"crossover node '{self.name}' (FieldCrossover) needs structured outputs, but none of the "
                f"{len(items)} candidates has one; use MergeCrossover for text"
            )
        names: list[str] = []
        for _, data in structured:
            names.extend(k for k in data if k not in names)
        merged: dict[str, Any] = {}
        sources: dict[str, str] = {}
        chosen_scores: dict[str, float] = {}
        for fname in names:
            best_key: tuple[float, int, float] | None = None
            for c, data in structured:
                if fname not in data:
                    continue
                v = vm.get(c.id)
                score = v.field_scores.get(fname, v.score) if v else 0.0
                tier, overall = rank_key(v)
                key = (score, tier, overall)
                if best_key is None or key > best_key:  # strict: earlier (better-ranked) wins ties
                    best_key = key
                    merged[fname] = data[fname]
                    sources[fname] = c.id
                    chosen_scores[fname] = score
        best = structured[0][0]
        output_type = self.output_type or (type(best.output) if isinstance(best.output, BaseModel) else None)
        output: Any = merged
        error = None
        if output_type is not None:
            try:
                output = output_type.model_validate(merged)
            except ValidationError as exc:
                error = f"merged fields did not validate as {output_type.__name__}: {exc.errors()[:3]}"
                output = best.output
                sources = {k: best.id for k in names}
        parents = list(dict.fromkeys(sources.values()))
        used = [c for c in items if c.id in parents]
        child = Candidate(
            output=output,
            passages=_union_passages(used),
            source=self.name,
            parents=parents,
            meta={"field_sources": sources, "field_scores": chosen_scores, **({"error": error} if error else {})},
        )
        child.citations = cited_ids(json.dumps(child.output_dict() or {}, ensure_ascii=False))
        tracing.emit(
            "crossover",
            self.name,
            status="error" if error else "ok",
            error=error,
            data={"kind": "fields", "parents": parents, "child": child.id, "field_sources": sources},
        )
        return child

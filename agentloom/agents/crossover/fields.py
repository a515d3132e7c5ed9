"""``FieldCrossover``: build a structured answer field by field, each field from the
candidate the verifier preferred for it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ValidationError

from agentloom import tracing
from agentloom.agents.candidates import Candidate, rank_key
from agentloom.agents.crossover._base import VerdictsArg, prepare, union_passages
from agentloom.citations import cited_ids
from agentloom.errors import VerifierError

__all__ = ["FieldCrossover"]


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
        verdicts: VerdictsArg = None,
        *,
        question: str | None = None,
    ) -> Candidate:
        """A candidate whose every field comes from the candidate preferred for that field."""
        items, vm, ordered = prepare(candidates, verdicts, self.name, "FieldCrossover")
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
            passages=union_passages(used),
            source=self.name,
            parents=parents,
            meta={"field_sources": sources, "field_scores": chosen_scores, **({"error": error} if error else {})},
        )
        child = replace(child, citations=cited_ids(json.dumps(child.output_dict() or {}, ensure_ascii=False)))
        tracing.emit(
            "crossover",
            self.name,
            status="error" if error else "ok",
            error=error,
            data={"kind": "fields", "parents": parents, "child": child.id, "field_sources": sources},
        )
        return child

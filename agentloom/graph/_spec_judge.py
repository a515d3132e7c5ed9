"""Verifier, selection and crossover specs: the parts verifier, crossover, PDR and evolve
nodes are configured with (a bare type name is short for ``{type: name}``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, Tag, model_validator

from agentloom.graph._spec_types import ImportRef, PosInt, _Strict, _tag

__all__ = [
    "CitationVerifierSpec",
    "ConsensusVerifierSpec",
    "CrossoverSpec",
    "DistillRefineSpec",
    "FieldCrossoverSpec",
    "FunctionVerifierSpec",
    "JudgeVerifierSpec",
    "MergeCrossoverSpec",
    "SelectSpec",
    "VerifierSpec",
]


class _VerifierBase(_Strict):
    threshold: float | None = Field(None, ge=0, le=1, description="the score a candidate needs to pass")
    max_concurrency: int | None = Field(None, ge=1)


class JudgeVerifierSpec(_VerifierBase):
    """``JudgeVerifier(model, rubric)``: an LLM judge."""

    type: Literal["judge"]
    model: str | None = None
    rubric: str | None = None
    mode: Literal["pointwise", "pairwise"] = "pointwise"
    pairing: Literal["round_robin", "tournament"] = "round_robin"
    both_orders: bool = False
    max_tokens: int | None = Field(None, ge=1)


class FunctionVerifierSpec(_VerifierBase):
    """``FunctionVerifier(fn)``: ``fn(candidate)`` or ``fn(candidate, question)``."""

    type: Literal["function"]
    fn: ImportRef
    timeout: float | None = Field(None, gt=0)
    in_thread: bool = True


class ConsensusVerifierSpec(_Strict):
    """``ConsensusVerifier``: cluster normalised answers; the majority passes."""

    type: Literal["consensus"]
    judge: str | None = Field(None, description="a model name to merge differently worded answers")
    units: bool = True
    key: ImportRef | None = Field(None, description="'module:attr' of a function giving an answer's key")
    min_agreement: float = Field(0.0, ge=0, le=1)
    max_judge_pairs: int = Field(12, ge=0)


class CitationVerifierSpec(_VerifierBase):
    """``CitationVerifier``: every cited claim must be supported by its passage."""

    type: Literal["citation"]
    model: str | None = Field(None, description="check entailment with this model (default: lexical, offline)")
    require_citations: bool = False


def _verifier_short(data: Any) -> Any:
    return {"type": data} if isinstance(data, str) else data


VerifierSpec = Annotated[
    Annotated[JudgeVerifierSpec, Tag("judge")]
    | Annotated[FunctionVerifierSpec, Tag("function")]
    | Annotated[ConsensusVerifierSpec, Tag("consensus")]
    | Annotated[CitationVerifierSpec, Tag("citation")],
    _tag("type"),
]


class SelectSpec(_Strict):
    """Which verified candidates go on: ``top_k``, ``threshold``, ``quorum``, ``best_of_n`` or
    ``first_finish``."""

    policy: Literal["top_k", "threshold", "quorum", "best_of_n", "first_finish"] = "top_k"
    k: int | None = Field(None, ge=1, description="top_k / quorum size")
    n: int | None = Field(None, ge=1, description="best_of_n: how many candidates to consider")
    threshold: float | None = Field(None, ge=0, le=1, description="threshold: the score needed")

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return {"policy": data} if isinstance(data, str) else data



class MergeCrossoverSpec(_Strict):
    """``MergeCrossover(model, k)``: merge the top candidates, keeping every citation."""

    type: Literal["merge"]
    model: str | None = None
    k: PosInt = Field(3, description="merge the top k")
    max_tokens: PosInt = 2000


class DistillRefineSpec(_Strict):
    """``DistillRefine``: distil candidates into a bounded workspace, then refine."""

    type: Literal["distill_refine"]
    model: str | None = None
    workspace_tokens: int = Field(512, ge=16)
    k: PosInt | None = None
    max_tokens: PosInt = 2000


class FieldCrossoverSpec(_Strict):
    """``FieldCrossover``: each field from the candidate the verifier prefers for it."""

    type: Literal["field"]
    output_type: ImportRef | None = Field(None, description="'module:attr' of the pydantic model of the answer")


CrossoverSpec = Annotated[
    Annotated[MergeCrossoverSpec, Tag("merge")]
    | Annotated[DistillRefineSpec, Tag("distill_refine")]
    | Annotated[FieldCrossoverSpec, Tag("field")],
    _tag("type"),
]

"""The structured answers verifiers ask judge models for: a pointwise score, a pairwise
winner, answer equivalence and claim entailment."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["EntailmentJudgment", "EquivalenceJudgment", "JudgeScore", "PairwiseJudgment"]


class JudgeScore(BaseModel):
    """A pointwise judgement of one candidate."""

    score: float = Field(ge=0.0, le=1.0, description="overall quality from 0 (wrong) to 1 (fully correct)")
    passed: bool = Field(description="whether the candidate meets the rubric")
    feedback: str = Field("", description="what is wrong or missing, one issue per line")
    field_scores: dict[str, float] = Field(
        default_factory=dict, description="for structured answers: a 0..1 score per field"
    )


class PairwiseJudgment(BaseModel):
    """Which of two candidates (A or B) better meets the rubric."""

    winner: Literal["A", "B", "tie"]
    confidence: float = Field(0.5, ge=0.0, le=1.0)
    feedback: str = Field("", description="why the loser lost")


class EquivalenceJudgment(BaseModel):
    """Whether two (possibly partial) answers reach the same final answer."""

    equivalent: bool
    confidence: float = Field(0.5, ge=0.0, le=1.0)
    reason: str = ""


class EntailmentJudgment(BaseModel):
    """Whether the cited passages entail a claim."""

    entailed: bool
    confidence: float = Field(0.5, ge=0.0, le=1.0)
    reason: str = ""

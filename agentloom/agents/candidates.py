"""Value types passed between generators, verifiers, selection and crossover: a ``Candidate``
answer and the ``Verdict`` a verifier gives it (read by planners such as ``BudgetPlanner``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentloom.budget import Cost
from agentloom.citations import Citation, cited_ids

__all__ = [
    "Candidate",
    "Verdict",
    "coerce_passages",
    "mean_score",
    "pass_rate",
    "rank_key",
    "verdict_map",
]


def _new_id() -> str:
    return "c_" + uuid.uuid4().hex[:10]


def coerce_passages(value: Any) -> dict[str, Citation]:
    """Passages given as a dict by id, or a list of passage dicts / ``Citation``s, keyed by id."""
    if not value:
        return {}
    items: Iterable[Any] = value.values() if isinstance(value, Mapping) else value
    out: dict[str, Citation] = {}
    for item in items:
        if isinstance(item, Citation):
            out[item.id] = item
        elif isinstance(item, Mapping) and isinstance(item.get("id"), str):
            out[item["id"]] = Citation.from_dict(item)
        else:
            raise TypeError(f"a passage must be a dict with an 'id' or a Citation, not {type(item).__name__}")
    return out


@dataclass(frozen=True)
class Candidate:
    """One candidate answer from one branch (a frozen value: ``dataclasses.replace`` makes a
    changed copy)."""

    text: str | None = None
    """Free text, citing passages with ``[p_...]`` markers."""
    output: Any = None
    """A structured (pydantic or dict) answer."""
    id: str = field(default_factory=_new_id)
    """A unique id, used by verdicts and crossover parents."""
    answer: str | None = None
    """The short final answer used for agreement when the text is long."""
    citations: list[str] = field(default_factory=list)
    """The passage ids it relies on (taken from the text's markers when not given)."""
    passages: dict[str, Citation] = field(default_factory=dict)
    """The sources it may cite (a list of passage dicts is accepted)."""
    source: str = ""
    """The branch, model or variation that produced it."""
    params: dict[str, Any] = field(default_factory=dict)
    """The sampling parameters it was produced with."""
    trace: list[str] = field(default_factory=list)
    """Its (possibly partial) reasoning steps."""
    cost: Cost = field(default_factory=Cost)
    """What producing it spent."""
    parents: list[str] = field(default_factory=list)
    """The ids of the candidates a crossover made it from."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Extra facts (merged, grounded, generation ...)."""

    def __post_init__(self) -> None:
        # normalising the inputs once, at construction, is the only write a frozen value gets
        object.__setattr__(self, "passages", coerce_passages(self.passages))
        if not self.citations:
            object.__setattr__(self, "citations", cited_ids(self.text))

    @property
    def content(self) -> str:
        """What a judge reads: the text, else the structured output as JSON."""
        if self.text:
            return self.text
        data = self.output_dict()
        if data is not None:
            return json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)
        return "" if self.output is None else str(self.output)

    def final_answer(self) -> str:
        """The answer used for agreement: ``answer``, else the content."""
        return self.answer if self.answer is not None else self.content

    def output_dict(self) -> dict[str, Any] | None:
        """The structured output as a plain dict (pydantic models are dumped), or None."""
        if self.output is None:
            return None
        if hasattr(self.output, "model_dump"):
            dumped = self.output.model_dump(mode="json")
            return dumped if isinstance(dumped, dict) else None
        return dict(self.output) if isinstance(self.output, Mapping) else None

    def cited_passages(self) -> list[Citation]:
        """The passages this candidate cites that it also carries."""
        return [self.passages[i] for i in self.citations if i in self.passages]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (for events and judge payloads)."""
        return {
            "id": self.id,
            "text": self.text,
            "output": self.output_dict(),
            "answer": self.answer,
            "citations": list(self.citations),
            "source": self.source,
            "params": dict(self.params),
            "parents": list(self.parents),
            "cost": self.cost.to_dict(),
        }

    @classmethod
    def from_completion(cls, completion: Any, **fields: Any) -> Candidate:
        """A candidate from a model ``Completion``: its text, parsed output and cost."""
        usage = completion.usage
        cost = Cost(
            usd=usage.usd or 0.0,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            llm_calls=max(1, usage.attempts),
        )
        fields.setdefault("cost", cost)
        return cls(text=completion.text, output=completion.parsed, **fields)


@dataclass(frozen=True)
class Verdict:
    """A verifier's judgement of one candidate (a frozen value: ``dataclasses.replace`` makes a changed copy)."""

    candidate_id: str
    """The judged candidate's id."""
    score: float = 0.0
    """How good it is, clamped to 0..1 (NaN counts as 0)."""
    passed: bool | None = None
    """True or False, or None when it could not be verified (a judge whose output stayed
    malformed, a claim with nothing to check); an unverified candidate never counts as passing."""
    feedback: str = ""
    """Why, in words a model can act on (evolve and refinement feed it back)."""
    error: str | None = None
    """What went wrong while verifying, if anything (the verdict then does not pass)."""
    verifier: str = ""
    """The verifier's name."""
    field_scores: dict[str, float] = field(default_factory=dict)
    """Scores (0..1) of each field of a structured output; ``FieldCrossover`` reads them."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Anything else the verifier reports (claims checked, judge rationales...)."""

    def __post_init__(self) -> None:
        score = float(self.score)
        if score != score:  # NaN
            score = 0.0
        object.__setattr__(self, "score", min(1.0, max(0.0, score)))
        object.__setattr__(self, "field_scores", {k: min(1.0, max(0.0, float(v))) for k, v in self.field_scores.items()})

    @property
    def verified(self) -> bool:
        return self.passed is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidate_id": self.candidate_id,
            "score": round(self.score, 6),
            "passed": self.passed,
            "feedback": self.feedback,
            "error": self.error,
            "verifier": self.verifier,
            "field_scores": dict(self.field_scores),
            "meta": dict(self.meta),
        }


def rank_key(verdict: Verdict | None) -> tuple[int, float]:
    """Sort key, best first when reversed: passed > unverified > failed, then score."""
    if verdict is None:
        return (1, 0.0)
    tier = 2 if verdict.passed is True else 1 if verdict.passed is None else 0
    return (tier, verdict.score)


def verdict_map(verdicts: Sequence[Verdict] | Mapping[str, Verdict] | None) -> dict[str, Verdict]:
    """Verdicts keyed by candidate id (the last one wins when a candidate has several)."""
    if verdicts is None:
        return {}
    if isinstance(verdicts, Mapping):
        return dict(verdicts)
    return {v.candidate_id: v for v in verdicts}


def pass_rate(verdicts: Iterable[Verdict]) -> float | None:
    """The share of verified candidates that passed; None when none was verified."""
    verified = [v for v in verdicts if v.passed is not None]
    if not verified:
        return None
    return sum(1 for v in verified if v.passed) / len(verified)


def mean_score(verdicts: Iterable[Verdict]) -> float | None:
    """The mean score of verified verdicts; None when none was verified."""
    scores = [v.score for v in verdicts if v.passed is not None]
    return sum(scores) / len(scores) if scores else None

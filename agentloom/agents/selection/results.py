"""What a selection reports: the chosen candidates with every verdict, and the spend that
stopping early saved (``SavedEstimate``, always labelled an estimate)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentloom.agents.candidates import Candidate, Verdict
from agentloom.budget import Cost

__all__ = ["SavedEstimate", "SelectionResult"]


@dataclass
class SavedEstimate:
    """Spend avoided by stopping early. An estimate: each cancelled branch is assumed to have
    gone on to spend what the finished branches spent on average (minus what it had already
    spent); branches never started count in full."""

    input_tokens: float = 0.0
    output_tokens: float = 0.0
    llm_calls: float = 0.0
    tool_calls: float = 0.0
    usd: float = 0.0
    branches: int = 0
    estimate: bool = True
    method: str = "mean spend of finished branches minus each cancelled branch's partial spend"

    @property
    def tokens(self) -> float:
        return self.input_tokens + self.output_tokens

    def to_dict(self) -> dict[str, Any]:
        return {
            "tokens": round(self.tokens, 2),
            "input_tokens": round(self.input_tokens, 2),
            "output_tokens": round(self.output_tokens, 2),
            "llm_calls": round(self.llm_calls, 3),
            "tool_calls": round(self.tool_calls, 3),
            "usd": round(self.usd, 8),
            "branches": self.branches,
            "estimate": self.estimate,
            "method": self.method,
        }


@dataclass
class SelectionResult:
    """What a selection produced: the chosen candidates (best first), every finished candidate
    with its verdict, how many branches were cancelled and what that saved (an estimate), and
    the answer agreement among finished candidates."""

    chosen: list[Candidate]
    candidates: list[Candidate]
    verdicts: list[Verdict]
    policy: str
    satisfied: bool
    cancelled: int = 0
    not_started: int = 0
    saved: SavedEstimate = field(default_factory=SavedEstimate)
    released: Cost = field(default_factory=Cost)
    spent: Cost = field(default_factory=Cost)
    agreement: float = 0.0
    majority: str | None = None
    errors: list[str] = field(default_factory=list)
    budget_limited: bool = False
    stop_reason: str = "exhausted"

    @property
    def best(self) -> Candidate | None:
        return self.chosen[0] if self.chosen else None

    def verdict_for(self, candidate_id: str) -> Verdict | None:
        for v in self.verdicts:
            if v.candidate_id == candidate_id:
                return v
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": [c.id for c in self.chosen],
            "candidates": [c.id for c in self.candidates],
            "verdicts": [v.to_dict() for v in self.verdicts],
            "policy": self.policy,
            "satisfied": self.satisfied,
            "cancelled": self.cancelled,
            "not_started": self.not_started,
            "saved_estimate": self.saved.to_dict(),
            "released": self.released.to_dict(),
            "spent": self.spent.to_dict(),
            "agreement": round(self.agreement, 6),
            "majority": self.majority,
            "errors": self.errors,
            "budget_limited": self.budget_limited,
            "stop_reason": self.stop_reason,
        }

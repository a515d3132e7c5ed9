"""``Result``: what a run returns — the output, its usage, its citations and how it ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentloom.budget import Budget
from agentloom.citations import Citation

__all__ = ["Result", "UsageSummary"]


@dataclass
class UsageSummary:
    """Spend of a run. ``usd`` is None when some model's price was unknown."""

    usd: float | None = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    llm_calls: int = 0
    tool_calls: int = 0
    memory_hits: int = 0
    wall_s: float = 0.0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @classmethod
    def from_budget(cls, budget: Budget, *, memory_hits: int = 0, priced: bool = True) -> UsageSummary:
        spent = budget.spent
        return cls(
            usd=round(spent.usd, 8) if priced else None,
            input_tokens=spent.input_tokens,
            output_tokens=spent.output_tokens,
            llm_calls=spent.llm_calls,
            tool_calls=spent.tool_calls,
            memory_hits=memory_hits,
            wall_s=round(budget.elapsed(), 4),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "usd": self.usd,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "tokens": self.tokens,
            "llm_calls": self.llm_calls,
            "tool_calls": self.tool_calls,
            "memory_hits": self.memory_hits,
            "wall_s": self.wall_s,
        }


@dataclass
class Result:
    """The outcome of an agent, graph or research run."""

    output: Any
    usage: UsageSummary = field(default_factory=UsageSummary)
    citations: list[Citation] = field(default_factory=list)
    run_id: str = ""
    budget_limited: bool = False
    partial: bool = False
    stop_reason: str = "done"
    meta: dict[str, Any] = field(default_factory=dict)
    grounded: bool | None = None
    """With evidence tools: whether the answer cites a passage the run found (False: it stands on
    nothing the run looked up, and verifiers count it as failing). None without evidence tools."""

    def to_dict(self) -> dict[str, Any]:
        output = self.output
        if hasattr(output, "model_dump"):
            output = output.model_dump(mode="json")
        return {
            "output": output,
            "usage": self.usage.to_dict(),
            "citations": [c.to_dict() for c in self.citations],
            "run_id": self.run_id,
            "budget_limited": self.budget_limited,
            "partial": self.partial,
            "stop_reason": self.stop_reason,
            "meta": self.meta,
            "grounded": self.grounded,
        }

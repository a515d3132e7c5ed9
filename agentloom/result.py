"""``Result``: what a run returns — the output, its usage, its citations and how it ended."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from agentloom.budget import Budget
from agentloom.citations import Citation

__all__ = ["Result", "UsageSummary"]


@dataclass(frozen=True)
class UsageSummary:
    """Spend of a run (a frozen value)."""

    usd: float | None = 0.0
    """Dollars spent; None when some model's price was unknown."""
    input_tokens: int = 0
    """Prompt tokens, as the providers reported them (or estimated where they did not)."""
    output_tokens: int = 0
    """Completion tokens."""
    llm_calls: int = 0
    """Model calls made, retries included."""
    tool_calls: int = 0
    """Tool calls made (calls served from the memory bank are not counted)."""
    memory_hits: int = 0
    """Tool calls served from the memory bank instead of being run."""
    wall_s: float = 0.0
    """Wall time of the run in seconds."""

    @property
    def tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    @classmethod
    def from_budget(cls, budget: Budget, *, memory_hits: int = 0, priced: bool = True) -> UsageSummary:
        """What ``budget`` has spent so far (``priced=False``: some price was unknown, so no USD)."""
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
        """A JSON-ready dict, with ``tokens`` added."""
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


@dataclass(frozen=True)
class Result:
    """The outcome of an agent, graph or research run (a frozen value: ``with_`` or
    ``dataclasses.replace`` makes a changed copy)."""

    output: Any
    """The answer: text, a structured (pydantic) output, or a graph's outputs as a dict."""
    usage: UsageSummary = field(default_factory=UsageSummary)
    """What the run spent."""
    citations: list[Citation] = field(default_factory=list)
    """The passages the answer cites, in the order they are cited."""
    run_id: str = ""
    """The run's id in the run store (``loom runs show ID``)."""
    budget_limited: bool = False
    """Whether a budget limit stopped the run before it finished."""
    partial: bool = False
    """Whether the output was built from what finished before the run stopped."""
    stop_reason: str = "done"
    """Why the run ended, in a few words."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Extra facts of the run (decisions, branch failures, short answer, resumed ...)."""
    grounded: bool | None = None
    """With evidence tools: whether the answer cites a passage the run found (False: it stands on
    nothing the run looked up, and verifiers count it as failing). None without evidence tools."""

    async def resume(self, approve: bool = True, **kwargs: Any) -> Result:
        """Answer the approval gates this run waits at (``stop_reason == "waiting"``) and run on:
        ``await result.resume(approve=True)`` is ``approvals.get(result.run_id).resume(...)``
        (``reason=``, ``plan=``, ``model=``, ``budget=``, ``listeners=`` as there)."""
        from agentloom.approvals import get
        from agentloom.errors import ConfigError

        if not self.run_id:
            raise ConfigError("this result has no run id, so there is no recorded run to resume")
        return await get(self.run_id).resume(approve, **kwargs)

    def with_(self, **changes: Any) -> Result:
        """A copy with ``changes`` applied (``meta`` given here is merged into the current one)."""
        if "meta" in changes:
            changes["meta"] = {**self.meta, **changes["meta"]}
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
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

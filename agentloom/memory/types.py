"""Value types of the memory bank: entries, admission candidates and decisions, the embedder seam."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "KINDS",
    "EntryKind",
    "MemoryEntry",
    "AdmissionCandidate",
    "Decision",
    "Embedder",
    "cost_scalar",
]

EntryKind = Literal["tool_result", "finding", "answer"]
KINDS: tuple[str, ...] = ("tool_result", "finding", "answer")


def cost_scalar(seconds: float, tokens: int, usd: float, *, token_seconds: float = 0.001, usd_seconds: float = 100.0) -> float:
    """One number for "what producing this cost", in seconds-equivalent: by default 1,000
    tokens weigh like a second of waiting and a cent like a second."""
    return float(seconds) + float(tokens) * token_seconds + float(usd) * usd_seconds


@dataclass(slots=True)
class MemoryEntry:
    """One stored item. Teams see ``key`` (a short summary); ``value`` is read on demand."""

    id: str
    key: str
    value: str
    kind: str
    fingerprint: str | None = None
    team: str | None = None
    run: str | None = None
    step: int | None = None
    citations: list[str] = field(default_factory=list)
    cost_tokens: int = 0
    cost_usd: float = 0.0
    cost_seconds: float = 0.0
    created: float = 0.0
    uses: int = 0
    last_used: float | None = None
    verified: bool = False
    scope: str = "project"
    value_format: str = "text"
    tokens: int = 0
    expires: float | None = None
    score: float | None = None

    @property
    def cost(self) -> dict[str, float]:
        """What producing the entry cost: tokens, usd, seconds."""
        return {"tokens": self.cost_tokens, "usd": self.cost_usd, "seconds": self.cost_seconds}

    def data(self) -> Any:
        """The value decoded: JSON values as Python data, text as text."""
        if self.value_format == "json":
            try:
                return json.loads(self.value)
            except ValueError:
                return self.value
        return self.value

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("score", None)
        return out


@dataclass(slots=True)
class AdmissionCandidate:
    """A step offered for admission: a tool result, a finding or an answer, with its provenance."""

    kind: str
    key: str
    value: str
    task: str = ""
    team: str | None = None
    run: str | None = None
    fingerprint: str | None = None
    citations: list[str] = field(default_factory=list)
    cost_tokens: int = 0
    cost_usd: float = 0.0
    cost_seconds: float = 0.0
    value_format: str = "text"
    source: str = "step"  # "tool" (through the ToolCache) or "step" (admit_step / offer)


@dataclass(slots=True)
class Decision:
    """What an admission policy decided about one candidate, and why."""

    admit: bool
    score: float
    reason: str
    policy: str
    features: dict[str, float] = field(default_factory=dict)
    fallback: bool = False
    entry_id: str | None = None
    elapsed_s: float = 0.0


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors for optional semantic search. Must work offline: nothing is
    fetched from the network by agentloom, and the bank has no embedder unless given one."""

    def embed(self, texts: list[str]) -> list[list[float]]: ...

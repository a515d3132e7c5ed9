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
    """Deterministic id: the same content in the same scope always gets the same one."""
    key: str
    """The short summary teams see in their prompt."""
    value: str
    """The full value, read on demand (JSON text when ``value_format`` is ``json``)."""
    kind: str
    """``tool_result``, ``finding`` or ``answer``."""
    fingerprint: str | None = None
    """The tool call it answers (name and arguments), for tool results."""
    team: str | None = None
    """The team that produced it."""
    run: str | None = None
    """The run that produced it."""
    step: int | None = None
    """The producing team's admission step number in its run."""
    citations: list[str] = field(default_factory=list)
    """The passage ids its value cites."""
    cost_tokens: int = 0
    """Tokens spent producing it."""
    cost_usd: float = 0.0
    """USD spent producing it."""
    cost_seconds: float = 0.0
    """Seconds spent producing it."""
    created: float = 0.0
    """When it was stored (Unix time)."""
    uses: int = 0
    """How many times it was read or served."""
    last_used: float | None = None
    """When it was last read or served."""
    verified: bool = False
    """Whether a verifier accepted it."""
    scope: str = "project"
    """Its namespace: ``project`` or ``run:<id>``."""
    value_format: str = "text"
    """``text`` or ``json``."""
    tokens: int = 0
    """The value's size in tokens (estimated)."""
    expires: float | None = None
    """When it expires (Unix time), or None."""
    score: float | None = None
    """Its relevance, when it came from a search."""

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
    """``tool_result``, ``finding`` or ``answer``."""
    key: str
    """The short summary teams would see."""
    value: str
    """The full value, as text (JSON text when ``value_format`` is ``json``)."""
    task: str = ""
    """What relevance is judged against (filled from the run when empty)."""
    team: str | None = None
    """The team offering it."""
    run: str | None = None
    """The run offering it."""
    fingerprint: str | None = None
    """The tool call it answers, for tool results."""
    citations: list[str] = field(default_factory=list)
    """The passage ids its value cites."""
    cost_tokens: int = 0
    """Tokens spent producing it."""
    cost_usd: float = 0.0
    """USD spent producing it."""
    cost_seconds: float = 0.0
    """Seconds spent producing it."""
    value_format: str = "text"
    """``text`` or ``json``."""
    source: str = "step"
    """``tool`` (through the ToolCache) or ``step`` (``admit_step`` / ``offer``)."""
    ttl: float | None = None
    """Seconds the entry stays valid (a tool's ``CachePolicy``); the bank's own ttl still caps it."""


@dataclass(slots=True)
class Decision:
    """What an admission policy decided about one candidate, and why."""

    admit: bool
    """Whether it was stored (False also when a quota or a concurrent duplicate refused it)."""
    score: float
    """The policy's score."""
    reason: str
    """Why, in one line."""
    policy: str
    """The deciding policy's name."""
    features: dict[str, float] = field(default_factory=dict)
    """The features the policy saw."""
    fallback: bool = False
    """True when a learned policy fell back to the heuristic."""
    entry_id: str | None = None
    """The stored entry, when admitted."""
    elapsed_s: float = 0.0
    """How long the decision took."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors for optional semantic search. Must work offline: nothing is
    fetched from the network by agentloom, and the bank has no embedder unless given one."""

    def embed(self, texts: list[str]) -> list[list[float]]: ...

"""What a budget counts: ``Cost`` (spend along every metered unit), ``Price`` (USD per token),
and how spend is written down (``LedgerRow``) and shown (``BudgetReport``). The ``Budget`` tree
that checks limits with these is in ``agentloom.budget``, which re-exports them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["LIMIT_NAMES", "BudgetReport", "Cost", "LedgerRow", "Price", "cost_of", "nonzero"]

LIMIT_NAMES = ("usd", "input_tokens", "output_tokens", "tokens", "llm_calls", "tool_calls", "seconds")


@dataclass(slots=True)
class Cost:
    """An amount of spend along every metered dimension."""

    usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    llm_calls: int = 0
    tool_calls: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.usd + other.usd,
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.llm_calls + other.llm_calls,
            self.tool_calls + other.tool_calls,
        )

    def __sub__(self, other: Cost) -> Cost:
        return Cost(
            self.usd - other.usd,
            self.input_tokens - other.input_tokens,
            self.output_tokens - other.output_tokens,
            self.llm_calls - other.llm_calls,
            self.tool_calls - other.tool_calls,
        )

    def get(self, name: str) -> float:
        """The amount for a limit name (``tokens`` is input plus output)."""
        if name == "tokens":
            return self.tokens
        return float(getattr(self, name))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"tokens": self.tokens}


@dataclass(frozen=True, slots=True)
class Price:
    """USD per token; ``cached_input`` defaults to the input price."""

    input: float
    output: float
    cached_input: float | None = None

    def cost(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float:
        cached_price = self.input if self.cached_input is None else self.cached_input
        uncached = max(0, input_tokens - cached_tokens)
        return uncached * self.input + cached_tokens * cached_price + output_tokens * self.output


def nonzero(cost: Cost) -> dict[str, Any]:
    """The units of ``cost`` that are not zero (how events and ledgers show an amount)."""
    return {k: v for k, v in cost.to_dict().items() if v}


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One charge or release, as written to the run store's ledger."""

    budget: str
    """The name of the budget node charged."""
    action: str
    """``settle`` (a call's actual cost) or ``release`` (a cancelled call's reservation)."""
    what: str
    """What the charge was for, e.g. ``model gpt-4o-mini (act)``."""
    amount: dict[str, Any]
    """The cost by unit (usd, input/output tokens, calls)."""
    at: float
    """When, as a Unix timestamp."""


@dataclass
class BudgetReport:
    """Spend per branch, as a tree."""

    name: str
    limits: dict[str, float | None]
    spent: dict[str, Any]
    reserved: dict[str, Any]
    elapsed_s: float
    children: list[BudgetReport] = field(default_factory=list)
    overshoot: dict[str, float] = field(default_factory=dict)
    shared: dict[str, Any] | None = None
    """For a shared budget: its name and what every process together has spent."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "limits": self.limits,
            "spent": self.spent,
            "reserved": self.reserved,
            "elapsed_s": round(self.elapsed_s, 3),
            "children": [c.to_dict() for c in self.children],
            "overshoot": self.overshoot,
        } | ({"shared": self.shared} if self.shared is not None else {})

    def render(self, indent: int = 0) -> str:
        """A plain-text tree: one line per budget with its spend against its limits."""
        parts = []
        for name in LIMIT_NAMES:
            if name == "seconds":
                continue
            value = self.spent.get(name, 0)
            limit = self.limits.get(name)
            if not value and limit is None:
                continue
            shown = f"{value:.4f}" if name == "usd" else str(value)
            parts.append(f"{name}={shown}" + (f"/{limit:g}" if limit is not None else ""))
        over = ", ".join(f"{k} +{v:g}" for k, v in self.overshoot.items())
        line = "  " * indent + f"{self.name}: " + (", ".join(parts) or "nothing spent") + (
            f" (over its limit, as the provider reported: {over})" if over else "")
        if self.shared is not None:
            together = ", ".join(f"{k}={v:g}" for k, v in self.shared["spent"].items() if v)
            line += f"\n{'  ' * (indent + 1)}shared '{self.shared['name']}', all processes: {together or 'nothing spent'}"
        return "\n".join([line, *(c.render(indent + 1) for c in self.children)])


def cost_of(limit: str, amount: float) -> Cost:
    """``amount`` of one limit as a ``Cost`` (``tokens`` is counted as input tokens)."""
    if limit == "usd":
        return Cost(usd=amount)
    return Cost(**{("input_tokens" if limit == "tokens" else limit): int(math.ceil(amount))})

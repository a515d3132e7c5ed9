"""``Variation``: how the candidates of a node differ (sampling parameters, model, prompt
style), and the prompt ``STYLES`` a variation may name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from agentloom.errors import ConfigError
from agentloom.models.types import Message, ModelRequest

__all__ = ["STYLES", "Variation"]

#: Prompt styles a ``Variation`` may name; any other string is used as the instruction itself.
STYLES: dict[str, str] = {
    "direct": "Answer directly and concisely.",
    "stepwise": "Work step by step, then state the final answer on its own line.",
    "skeptical": "Doubt each claim; keep only what the sources support, and say what is uncertain.",
    "evidence_first": "For each claim, find the supporting passage first, then state the claim and cite it.",
    "alternative": "Consider a different interpretation or method from the obvious one before answering.",
}


@dataclass(frozen=True)
class Variation:
    """How one generated candidate differs from its siblings (Reflect-Evolve style): sampling
    parameters, the model, and a prompt style (a name from ``STYLES`` or an instruction)."""

    name: str = ""
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    model: Any = None
    style: str | None = None
    seed: int | None = None

    def instruction(self) -> str | None:
        """The style's instruction, if any."""
        if not self.style:
            return None
        return STYLES.get(self.style, self.style)

    def apply(self, request: ModelRequest) -> ModelRequest:
        """``request`` with this variation's sampling parameters and style instruction
        (``top_k`` travels in metadata: not every provider accepts it)."""
        messages = list(request.messages)
        note = self.instruction()
        if note:
            if messages and messages[0].role == "system":
                messages[0] = Message("system", f"{messages[0].content or ''}\n\n{note}".strip())
            else:
                messages.insert(0, Message.system(note))
        metadata = dict(request.metadata, variation=self.label())
        if self.top_k is not None:
            metadata["top_k"] = self.top_k
        return replace(
            request,
            messages=messages,
            temperature=self.temperature if self.temperature is not None else request.temperature,
            top_p=self.top_p if self.top_p is not None else request.top_p,
            seed=self.seed if self.seed is not None else request.seed,
            metadata=metadata,
        )

    def label(self) -> str:
        """A short name: ``name``, else the parameters that are set."""
        if self.name:
            return self.name
        parts = [f"{k}={v}" for k, v in self.params().items()]
        return ",".join(parts) or "default"

    def params(self) -> dict[str, Any]:
        """The parameters that are set (the model by name)."""
        out: dict[str, Any] = {}
        for key in ("temperature", "top_p", "top_k", "style", "seed"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.model is not None:
            out["model"] = self.model if isinstance(self.model, str) else getattr(self.model, "name", type(self.model).__name__)
        return out

    @classmethod
    def spread(
        cls,
        n: int,
        *,
        temperatures: Sequence[float] | None = None,
        top_ks: Sequence[int | None] | None = None,
        styles: Sequence[str | None] | None = None,
        models: Sequence[Any] | None = None,
    ) -> list[Variation]:
        """``n`` variations: temperatures spread over 0.2..1.0 unless given; top_k, styles and
        models cycled when given."""
        if n < 1:
            raise ConfigError(f"Variation.spread n={n} must be 1 or more")
        temps = list(temperatures) if temperatures else [round(0.2 + 0.8 * i / max(1, n - 1), 3) for i in range(n)]
        out = []
        for i in range(n):
            out.append(
                cls(
                    name=f"v{i}",
                    temperature=temps[i % len(temps)],
                    top_k=top_ks[i % len(top_ks)] if top_ks else None,
                    style=styles[i % len(styles)] if styles else None,
                    model=models[i % len(models)] if models else None,
                )
            )
        return out

"""The ``approve:`` section of a graph spec: which approval gates pause a run for a person.

Short forms: ``approve: plan``, ``approve: [plan, {spend_over: 0.50}]``; the long form is a
mapping ``{plan: true, spend_over: 0.50, tools: [http_fetch]}``. ``spend_over`` is USD as a
number (``0.50`` or ``"$0.50"``) or tokens as ``"20000 tokens"``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from agentloom.graph._spec_types import _Strict

__all__ = ["ApproveSpec", "SpendOver", "approve_data"]

_AMOUNT = re.compile(r"^\s*(\$)?\s*(\d+(?:\.\d+)?)\s*(usd|tokens?)?\s*$", re.IGNORECASE)


class SpendOver(_Strict):
    """A spend threshold: pause before the step that takes the run past ``amount`` ``unit``."""

    amount: float = Field(gt=0, allow_inf_nan=False)
    unit: Literal["usd", "tokens"] = "usd"

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        if isinstance(data, bool):
            raise ValueError("spend_over takes an amount: 0.50 (USD) or '20000 tokens'")
        if isinstance(data, int | float):
            return {"amount": data, "unit": "usd"}
        if isinstance(data, str):
            found = _AMOUNT.match(data)
            if found is None:
                raise ValueError(f"spend_over {data!r} is not an amount; write 0.50 (USD), '$0.50' or '20000 tokens'")
            unit = "tokens" if (found.group(3) or "").lower().startswith("token") else "usd"
            return {"amount": float(found.group(2)), "unit": unit}
        return data

    def describe(self) -> str:
        return f"${self.amount:g}" if self.unit == "usd" else f"{self.amount:g} tokens"


class ApproveSpec(_Strict):
    """Approval gates: the run pauses (LangGraph ``interrupt()``, recorded as ``waiting``) until
    ``loom runs approve`` / ``deny`` or ``await run.resume(...)`` answers."""

    plan: bool = Field(False, description="show each planner's sub-questions, width, depth and projected cost before it fans out")
    spend_over: SpendOver | None = Field(
        None, description="pause before the step that takes the run past this spend: 0.50 (USD) or '20000 tokens'"
    )
    tools: list[str] = Field(default_factory=list, description="tools whose every call waits for a person (e.g. http_fetch)")

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return approve_data(data)

    @field_validator("tools")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.match(r"^[A-Za-z_][\w.-]*$", name):
                raise ValueError(f"tool name {name!r} is not a name; list tools such as [http_fetch, web_search]")
        return value

    @property
    def any(self) -> bool:
        return self.plan or self.spend_over is not None or bool(self.tools)


def approve_data(data: Any) -> Any:
    """Any accepted form (a gate name, a list of names and mappings, a mapping) as one mapping."""
    if data is None or isinstance(data, ApproveSpec):
        return data.model_dump(exclude_defaults=True) if isinstance(data, ApproveSpec) else {}
    if isinstance(data, str):
        data = [data]
    if isinstance(data, Mapping):
        return dict(data)
    if isinstance(data, Sequence) and not isinstance(data, bytes):
        merged: dict[str, Any] = {}
        for item in data:
            if item == "plan":
                merged["plan"] = True
            elif isinstance(item, Mapping):
                merged.update(item)
            else:
                raise ValueError(f"approve entry {item!r} is not a gate; use plan, {{spend_over: 0.50}} or {{tools: [http_fetch]}}")
        return merged
    raise ValueError("approve takes plan, {spend_over: AMOUNT}, {tools: [NAMES]} or a list of them")

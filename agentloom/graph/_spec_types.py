"""Shared pieces of the graph spec models: the strict base model, name patterns, built-in tool
groups, whole-number/placeholder field types, and the retry, timeout and budget sections."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)

__all__ = [
    "BUILTIN_TOOLS",
    "NAME_PATTERN",
    "NODE_KINDS",
    "REF_PATTERN",
    "TOOL_GROUPS",
    "BudgetSpec",
    "ImportRef",
    "NonNegInt",
    "PosInt",
    "PosIntOrAuto",
    "RetrySpec",
    "StatePath",
    "Timeout",
    "TimeoutSpec",
    "Width",
]

NODE_KINDS = ("agent", "planner", "map", "verifier", "crossover", "evolve", "writer", "function")
#: Built-in tool entries and the tool names each one provides.
TOOL_GROUPS: dict[str, tuple[str, ...]] = {
    "calculator": ("calculator",),
    "corpus": ("corpus_search", "read_passage"),
    "web": ("web_search", "http_fetch"),
    "web_search": ("web_search",),
    "http_fetch": ("http_fetch",),
}
BUILTIN_TOOLS = tuple(TOOL_GROUPS)

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
REF_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"
_PLACEHOLDER_ONLY = re.compile(r"^\s*\{[A-Za-z_][\w-]*(?:\.[\w-]+)*\}\s*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=False)


# --------------------------------------------------------------------------- small value types
def _int_or_ref(minimum: int, *words: str) -> Any:
    def check(value: Any) -> int | str:
        if isinstance(value, bool):
            raise ValueError("expected a whole number, not true/false")
        if isinstance(value, int):
            if value < minimum:
                raise ValueError(f"must be at least {minimum}")
            return value
        if isinstance(value, float) and value.is_integer() and value >= minimum:
            return int(value)
        if isinstance(value, str) and (_PLACEHOLDER_ONLY.match(value) or value.strip() in words):
            return value.strip()
        also = "".join(f", '{w}'" for w in words)
        raise ValueError(f"expected a whole number (at least {minimum}){also} or a placeholder like '{{width}}'")

    return Annotated[
        int | str,
        PlainValidator(check),
        PlainSerializer(lambda v: v),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "integer", "minimum": minimum},
                    {"type": "string", "pattern": _PLACEHOLDER_ONLY.pattern},
                    *({"const": w} for w in words),
                ]
            }
        ),
    ]


if TYPE_CHECKING:
    PosInt: TypeAlias = int | str
    NonNegInt: TypeAlias = int | str
    PosIntOrAuto: TypeAlias = int | str
else:
    PosInt = _int_or_ref(1)
    NonNegInt = _int_or_ref(0)
    PosIntOrAuto = _int_or_ref(1, "auto")


def _check_width(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("width must be a number, a schedule name or a mapping of turns to widths")
    if isinstance(value, int):
        if value < 1:
            raise ValueError("width must be at least 1")
        return value
    if isinstance(value, str):
        text = value.strip()
        if _PLACEHOLDER_ONLY.match(text) or text.isdigit() or text in ("constant", "descending", "ascending", "auto"):
            return text
        raise ValueError(f"width '{value}' must be a number, 'constant', 'descending', 'ascending' or a placeholder")
    if isinstance(value, dict):
        out: dict[str, int] = {}
        for k, v in value.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"width for turns {k} must be a whole number of at least 1")
            out[str(k)] = v
        return out
    raise ValueError("width must be a number, a schedule name or a mapping of turns to widths")


Width = Annotated[
    int | str | dict[str, int] | None,
    PlainValidator(_check_width),
    PlainSerializer(lambda v: v),
    WithJsonSchema(
        {
            "description": "tool calls per turn: a number, 'constant', 'descending' (default), 'ascending', "
            "a placeholder, or turn ranges to widths like {'1-2': 8, '3+': 2}",
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string"},
                {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1}},
                {"type": "null"},
            ],
        }
    ),
]

ImportRef = Annotated[
    str,
    Field(pattern=REF_PATTERN, description="a Python object as 'module:attr' (the spec's folder is importable)"),
]
StatePath = Annotated[
    str,
    Field(
        description="where the data comes from: an input or node name, optionally with fields "
        "('plan.sub_tasks'); braces are optional"
    ),
]


class RetrySpec(_Strict):
    """LangGraph ``RetryPolicy`` for a node (or, under ``config``, for every node)."""

    max_attempts: int = Field(3, ge=1, description="attempts in all, including the first")
    initial_interval: float = Field(0.5, ge=0, description="seconds before the first retry")
    backoff_factor: float = Field(2.0, ge=1, description="interval multiplier per retry")
    max_interval: float = Field(128.0, gt=0, description="longest wait between retries, in seconds")
    jitter: bool = Field(True, description="add random jitter to the wait")


class TimeoutSpec(_Strict):
    """LangGraph ``TimeoutPolicy``: ``run`` caps an attempt, ``idle`` caps time without progress."""

    run: float | None = Field(None, gt=0, description="hard wall-clock cap per attempt, in seconds")
    idle: float | None = Field(None, gt=0, description="longest time without progress, in seconds")

    @model_validator(mode="after")
    def _one(self) -> TimeoutSpec:
        if self.run is None and self.idle is None:
            raise ValueError("give run, idle or both (seconds)")
        return self


Timeout = Annotated[
    float | TimeoutSpec,
    Field(description="seconds per node attempt, or {run: seconds, idle: seconds}"),
]


class BudgetSpec(_Strict):
    """Hard limits, as ``agentloom.Budget``; every call reserves before it is made."""

    usd: float | None = Field(None, ge=0, description="dollars")
    input_tokens: int | None = Field(None, ge=0)
    output_tokens: int | None = Field(None, ge=0)
    tokens: int | None = Field(None, ge=0, description="input plus output tokens")
    llm_calls: int | None = Field(None, ge=0)
    tool_calls: int | None = Field(None, ge=0)
    seconds: float | None = Field(None, ge=0, description="wall-clock seconds")
    shared: str | None = Field(None, min_length=1, description="share these limits with every process that names "
                               "the same budget (kept in the database; seconds stays per run)")

    def limits(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}



def _tag(field: str, default: str | None = None) -> Any:
    def pick(value: Any) -> str | None:
        found = value.get(field, default) if isinstance(value, dict) else getattr(value, field, default)
        return found if isinstance(found, str) else None

    return Discriminator(pick)


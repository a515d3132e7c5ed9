"""Value types of the model seam: requests, messages, tool calls, completions and usage."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

__all__ = [
    "PURPOSES",
    "Completion",
    "Message",
    "Model",
    "ModelRequest",
    "Role",
    "ToolCall",
    "Usage",
    "canonical_args",
]

Role = Literal["system", "user", "assistant", "tool"]

#: What a request is for. Real models ignore it; ``OfflineModel`` dispatches on it.
PURPOSES = ("act", "plan", "dag", "join", "verify", "merge", "refine", "write", "summarize", "equivalence")


def _normalize_args(value: Any) -> Any:
    """Tool arguments in one normal form, so identical calls compare equal."""
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _normalize_args(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_normalize_args(v) for v in value]
    if isinstance(value, BaseModel):
        return _normalize_args(value.model_dump())
    return value


def canonical_args(args: dict[str, Any]) -> str:
    """Arguments as canonical JSON: sorted keys, collapsed whitespace, 1.0 written as 1."""
    return json.dumps(_normalize_args(args), sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A model's request to call a tool."""

    id: str
    """The call's id (a tool message answers it by ``tool_call_id``)."""
    name: str
    """The tool's name."""
    arguments: str = "{}"
    """The arguments as the JSON text the model produced (``args()`` parses them)."""

    def args(self) -> dict[str, Any]:
        """The arguments parsed; raises ``ValueError`` when they are not a JSON object."""
        value = json.loads(self.arguments or "{}")
        if not isinstance(value, dict):
            raise ValueError("tool arguments must be a JSON object")
        return value

    def to_openai(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message in OpenAI's shape."""

    role: Role
    """``system``, ``user``, ``assistant`` or ``tool``."""
    content: str | None = None
    """The text (None for an assistant turn that only calls tools)."""
    tool_calls: list[ToolCall] = field(default_factory=list)
    """The tools an assistant turn calls."""
    tool_call_id: str | None = None
    """For a ``tool`` message: the call it answers."""
    name: str | None = None
    """For a ``tool`` message: the tool's name."""

    def to_openai(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [c.to_openai() for c in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None and self.role == "tool":
            out["name"] = self.name
        return out

    @classmethod
    def system(cls, content: str) -> Message:
        return cls("system", content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls("user", content)


@dataclass(slots=True)
class ModelRequest:
    """Everything a model needs for one completion.

    ``tools`` are OpenAI function schemas (``{"type": "function", "function": {...}}``).
    ``metadata`` is for tracing only (e.g. the team, the round); no model reads it, the offline
    one included, so everything a model needs is in the messages, tools and response schema.
    """

    messages: list[Message]
    tools: list[dict[str, Any]] = field(default_factory=list)
    output_type: type[BaseModel] | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    purpose: str = "act"
    metadata: dict[str, Any] = field(default_factory=dict)
    stream: bool = False

    def with_messages(self, messages: list[Message]) -> ModelRequest:
        return replace(self, messages=messages)

    def last_user_text(self) -> str:
        for message in reversed(self.messages):
            if message.role == "user" and message.content:
                return message.content
        return ""


@dataclass(slots=True)
class Usage:
    """What a completion cost. ``usd`` is None when the model's price is unknown."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    usd: float | None = 0.0
    latency_s: float = 0.0
    attempts: int = 1

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        usd = None if self.usd is None or other.usd is None else self.usd + other.usd
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_tokens + other.cached_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            usd,
            self.latency_s + other.latency_s,
            self.attempts + other.attempts,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "usd": self.usd,
            "latency_s": round(self.latency_s, 6),
            "attempts": self.attempts,
        }


@dataclass(slots=True)
class Completion:
    """A model's answer: text and/or tool calls, the parsed structured output, and its usage."""

    text: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    parsed: Any = None
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    finish_reason: str | None = None

    def message(self) -> Message:
        """The assistant message to append to the conversation."""
        return Message("assistant", self.text, list(self.tool_calls))


@runtime_checkable
class Model(Protocol):
    """Anything that can complete a request. Subclass ``ModelBase`` to get budget, retries,
    recording and structured output for free; a bare implementation is wrapped by the caller."""

    name: str

    def complete(self, request: ModelRequest) -> Awaitable[Completion]: ...

"""The tool calls and results in a conversation, and the passages those results hold."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from agentloom.citations import Citation, collect_passages
from agentloom.models.types import Message, ToolCall, canonical_args

__all__ = [
    "Exchange",
    "calls_made",
    "exchanges",
    "passages_in",
]


@dataclass(slots=True)
class Exchange:
    """One tool call and its result as the conversation shows them."""

    call: ToolCall
    args: dict[str, Any]
    value: Any
    ok: bool


def _args_of(call: ToolCall) -> dict[str, Any]:
    try:
        return call.args()
    except ValueError:
        return {}


def calls_made(messages: Sequence[Message]) -> set[tuple[str, str]]:
    """Every tool call already requested, as ``(name, canonical arguments)``."""
    return {(c.name, canonical_args(_args_of(c))) for m in messages if m.role == "assistant" for c in m.tool_calls}


def _parse(content: str | None) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content


def exchanges(messages: Sequence[Message]) -> list[Exchange]:
    """The tool results in the conversation, each paired with the call that asked for it."""
    calls = {c.id: c for m in messages if m.role == "assistant" for c in m.tool_calls}
    out: list[Exchange] = []
    for message in messages:
        if message.role != "tool":
            continue
        call = calls.get(message.tool_call_id or "") or ToolCall(message.tool_call_id or "", message.name or "")
        value = _parse(message.content)
        failed = isinstance(value, dict) and "error" in value and set(value) <= {"error", "type"}
        out.append(Exchange(call, _args_of(call), value, not failed))
    return out


def passages_in(found: Iterable[Exchange]) -> tuple[dict[str, Citation], dict[str, int]]:
    """Every passage the tool results hold (the longest text seen for each id) and the order in
    which each id first appeared (search rank within call order)."""
    passages: dict[str, Citation] = {}
    order: dict[str, int] = {}
    for exchange in found:
        if not exchange.ok:
            continue
        fresh = collect_passages(exchange.value)
        for pid in fresh:
            order.setdefault(pid, len(order))
        collect_passages(exchange.value, passages)
    return passages, order

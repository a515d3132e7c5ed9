"""``FunctionModel``: a model whose answer is a function of the request, for tests and benchmarks.

Because the response depends only on the request's content (never on call order), it stays
deterministic when parallel branches call it in any order.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from agentloom.budget import Price
from agentloom.models.base import ModelBase
from agentloom.models.types import Completion, ModelRequest, ToolCall, Usage
from agentloom.tokens import count_request_tokens, count_tokens

__all__ = ["FunctionModel"]

Responder = Callable[[ModelRequest], "Completion | str | dict[str, Any] | Awaitable[Completion | str | dict[str, Any]]"]


class FunctionModel(ModelBase):
    """Answer with ``fn(request)``: a ``Completion``, a string (text), or a dict with ``text``
    and/or ``tool_calls`` (each ``{"name": ..., "arguments": {...}}``). ``latency`` seconds
    (a number, or a function of the request) are slept before answering, to simulate a remote model."""

    def __init__(
        self,
        fn: Responder,
        *,
        latency: float | Callable[[ModelRequest], float] = 0.0,
        name: str = "function",
        price: Price | None = None,
        max_retries: int = 0,
    ) -> None:
        super().__init__(max_retries=max_retries, price=price or Price(0.0, 0.0))
        self.fn = fn
        self.latency = latency
        self.name = name

    async def _attempt(self, request: ModelRequest) -> Completion:
        delay = self.latency(request) if callable(self.latency) else self.latency
        if delay:
            await asyncio.sleep(delay)
        result = self.fn(request)
        if inspect.isawaitable(result):
            result = await result
        completion = _coerce(result)
        if completion.usage.input_tokens == 0 and completion.usage.output_tokens == 0:
            args_text = "".join(c.arguments for c in completion.tool_calls)
            completion.usage = Usage(
                input_tokens=count_request_tokens(request),
                output_tokens=count_tokens(completion.text) + count_tokens(args_text),
            )
        return completion


def _coerce(result: Any) -> Completion:
    import json

    if isinstance(result, Completion):
        return result
    if isinstance(result, str):
        return Completion(text=result, finish_reason="stop")
    if isinstance(result, dict):
        calls = []
        for i, raw in enumerate(result.get("tool_calls") or []):
            if isinstance(raw, ToolCall):
                calls.append(raw)
                continue
            args = raw.get("arguments", {})
            calls.append(
                ToolCall(
                    id=raw.get("id") or f"call_{i}_{uuid.uuid4().hex[:8]}",
                    name=raw["name"],
                    arguments=args if isinstance(args, str) else json.dumps(args),
                )
            )
        return Completion(
            text=result.get("text"),
            tool_calls=calls,
            finish_reason="tool_calls" if calls else "stop",
        )
    raise TypeError(f"FunctionModel function returned {type(result).__name__}; expected Completion, str or dict")

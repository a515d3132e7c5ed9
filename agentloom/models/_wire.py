"""The OpenAI chat-completions wire shape, shared by the openai-SDK and litellm transports.

Builds the request keywords from a ``ModelRequest`` and reads a response (or a stream of
chunks) back into a ``Completion``. Responses are read by attribute or key, so the openai SDK's
objects, litellm's ``ModelResponse`` and plain dicts all work.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from pydantic import BaseModel

from agentloom.models.types import Completion, ModelRequest, ToolCall, Usage

__all__ = ["EmptyResponse", "StreamAccumulator", "parse_response", "read_usage", "request_kwargs", "response_format"]


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def response_format(output_type: type[BaseModel]) -> dict[str, Any]:
    """A ``json_schema`` response format for a pydantic type (non-strict: pydantic schemas
    rarely meet strict mode's rules, and the output is validated afterwards anyway)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", output_type.__name__)[:64] or "output"
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": output_type.model_json_schema(), "strict": False},
    }


def request_kwargs(request: ModelRequest) -> dict[str, Any]:
    """The chat-completions keywords for ``request`` (messages, tools, sampling, response format)."""
    kwargs: dict[str, Any] = {"messages": [m.to_openai() for m in request.messages]}
    if request.tools:
        kwargs["tools"] = request.tools
    for key in ("temperature", "top_p", "max_tokens", "seed"):
        value = getattr(request, key)
        if value is not None:
            kwargs[key] = value
    if request.output_type is not None:
        kwargs["response_format"] = response_format(request.output_type)
    return kwargs


def read_usage(raw: Any) -> Usage:
    """Tokens from an OpenAI-shaped usage block, including cached and reasoning tokens."""
    prompt_details = _get(raw, "prompt_tokens_details")
    completion_details = _get(raw, "completion_tokens_details")
    cached = _int(_get(prompt_details, "cached_tokens")) or _int(_get(raw, "cache_read_input_tokens"))
    return Usage(
        input_tokens=_int(_get(raw, "prompt_tokens")),
        output_tokens=_int(_get(raw, "completion_tokens")),
        cached_tokens=cached,
        reasoning_tokens=_int(_get(completion_details, "reasoning_tokens")),
    )


def _arguments(value: Any) -> str:
    if value is None or value == "":
        return "{}"
    return value if isinstance(value, str) else json.dumps(value)


def _tool_calls(raw: Any) -> list[ToolCall]:
    calls: list[ToolCall] = []
    for i, item in enumerate(raw or []):
        function = _get(item, "function")
        name = _get(function, "name")
        if not name:
            continue
        calls.append(
            ToolCall(
                id=_get(item, "id") or f"call_{i}_{uuid.uuid4().hex[:8]}",
                name=str(name),
                arguments=_arguments(_get(function, "arguments")),
            )
        )
    return calls


class EmptyResponse(Exception):
    """A 200 response that holds no answer (no choices, a null message, or no JSON at all)."""


def parse_response(response: Any, model: str) -> Completion:
    """A ``Completion`` (text, tool calls, usage, finish reason) from a chat-completions response.
    A response without an answer raises ``EmptyResponse``: it is never an empty success."""
    if isinstance(response, str | bytes) or response is None:
        raise EmptyResponse("the body is not a chat completion (not JSON)")
    choices = _get(response, "choices") or []
    first = choices[0] if choices else None
    if first is None:
        raise EmptyResponse("the response has no choices")
    message = _get(first, "message")
    if message is None:
        raise EmptyResponse("the response's message is null")
    return Completion(
        text=_get(message, "content"),
        tool_calls=_tool_calls(_get(message, "tool_calls")),
        usage=read_usage(_get(response, "usage")),
        model=str(_get(response, "model") or model),
        finish_reason=_get(first, "finish_reason"),
    )


class StreamAccumulator:
    """Folds streamed chunks into one ``Completion``: text deltas, tool-call fragments by
    index, the finish reason and the final usage chunk."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.parts: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.usage = Usage()
        self.finish_reason: str | None = None
        self.chunks = 0

    def add(self, chunk: Any) -> str:
        """Take one chunk; return its text delta ('' when it has none)."""
        self.chunks += 1
        usage = _get(chunk, "usage")
        if usage is not None:
            self.usage = read_usage(usage)
        self.model = str(_get(chunk, "model") or self.model)
        delta_text = ""
        for choice in _get(chunk, "choices") or []:
            if _get(choice, "finish_reason"):
                self.finish_reason = _get(choice, "finish_reason")
            delta = _get(choice, "delta")
            content = _get(delta, "content")
            if content:
                delta_text += content
            for position, fragment in enumerate(_get(delta, "tool_calls") or []):
                index = _get(fragment, "index")
                slot = self.calls.setdefault(index if isinstance(index, int) else position, {"id": None, "name": "", "args": []})
                if _get(fragment, "id"):
                    slot["id"] = _get(fragment, "id")
                function = _get(fragment, "function")
                if _get(function, "name"):
                    slot["name"] += _get(function, "name")
                if _get(function, "arguments"):
                    slot["args"].append(_arguments(_get(function, "arguments")))
        if delta_text:
            self.parts.append(delta_text)
        return delta_text

    def completion(self) -> Completion:
        calls = [
            ToolCall(id=slot["id"] or f"call_{i}_{uuid.uuid4().hex[:8]}", name=slot["name"], arguments="".join(slot["args"]) or "{}")
            for i, slot in sorted(self.calls.items())
            if slot["name"]
        ]
        return Completion(
            text="".join(self.parts) if self.parts or not calls else None,
            tool_calls=calls,
            usage=self.usage,
            model=self.model,
            finish_reason=self.finish_reason,
        )

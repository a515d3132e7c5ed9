"""``TestModel``: a small schema-driven model for framework tests, in the spirit of pydantic-ai's.

It knows nothing of any corpus or question wording. On a turn with tools and no tool results
yet, it calls each tool once with arguments built from the tool's JSON schema; once results
are in, it answers from them: plain text quoting the results, or, when the request has a
response schema, an object built from that schema with its text fields taken from the results.
Every choice is a function of the request, so parallel callers see the same answers in any order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from agentloom.budget import Price
from agentloom.models.base import ModelBase
from agentloom.models.types import Completion, Message, ModelRequest, ToolCall, Usage
from agentloom.text.sections import question_in_messages
from agentloom.tokens import count_request_tokens, count_tokens

__all__ = ["TestModel", "value_for_schema"]

_QUERY_NAMES = ("query", "q", "question", "search", "text", "prompt", "topic", "task")


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return _resolve(node, root) if isinstance(node, dict) else {}
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list):
            usable = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
            if usable:
                return _resolve(usable[0], root)
    return schema


def value_for_schema(
    schema: dict[str, Any], *, text: str = "a", name: str = "", root: dict[str, Any] | None = None, query_only: bool = False
) -> Any:
    """A valid value for a JSON schema: its default or first enum value when it has one, else
    ``text`` for strings (with ``query_only``, only for query-like names such as ``query``;
    ``"a"`` for the rest), the minimum (or 0) for numbers, ``False``, ``[]`` (or ``minItems``
    copies), and objects with every required property filled the same way."""
    root = root if root is not None else schema
    schema = _resolve(schema, root)
    if "default" in schema:
        return schema["default"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "integer":
        return int(schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1))
    if kind == "number":
        return float(schema.get("minimum", 0.0))
    if kind == "boolean":
        return False
    if kind == "array":
        raw = schema.get("items")
        item: dict[str, Any] = raw if isinstance(raw, dict) else {}
        return [value_for_schema(item, text=text, name=name, root=root, query_only=query_only) for _ in range(int(schema.get("minItems", 0)))]
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        required = schema.get("required") or []
        return {key: value_for_schema(props.get(key) or {}, text=text, name=key, root=root, query_only=query_only) for key in required if key in props}
    value = text if not query_only or name.lower() in _QUERY_NAMES else "a"
    limit = schema.get("maxLength")
    return value[: int(limit)] if isinstance(limit, int) else value


def _call_id(name: str, args: str, turn: int) -> str:
    return "call_" + hashlib.sha256(f"{turn}:{name}:{args}".encode()).hexdigest()[:12]


class TestModel(ModelBase):
    """Calls tools from their schemas, then answers from their results (see the module docs).

    ``call_tools`` limits which tools it calls (default: all it is offered); ``output_text``
    replaces the text answer. ``seen`` keeps every request, for assertions."""

    __test__ = False  # not a pytest test class

    def __init__(self, *, call_tools: Sequence[str] | None = None, output_text: str | None = None, name: str = "test") -> None:
        super().__init__(max_retries=0, price=Price(0.0, 0.0))
        self.call_tools = list(call_tools) if call_tools is not None else None
        self.output_text = output_text
        self.name = name
        self.seen: list[ModelRequest] = []

    def _question(self, request: ModelRequest) -> str:
        users = [m.content or "" for m in request.messages if m.role == "user"]
        return question_in_messages(users) or (" ".join(users[-1].split()) if users else "a")

    def _tool_calls(self, request: ModelRequest) -> list[ToolCall]:
        question = self._question(request)
        turn = sum(1 for m in request.messages if m.role == "assistant" and m.tool_calls)
        calls = []
        for tool in request.tools:
            fn = tool.get("function") or {}
            name = str(fn.get("name") or "")
            if not name or (self.call_tools is not None and name not in self.call_tools):
                continue
            params = fn.get("parameters") or {"type": "object"}
            args = value_for_schema(params, text=question, query_only=True)
            text = json.dumps(args if isinstance(args, dict) else {}, sort_keys=True)
            calls.append(ToolCall(id=_call_id(name, text, turn), name=name, arguments=text))
        return calls

    @staticmethod
    def _results(messages: Sequence[Message]) -> list[str]:
        return [m.content or "" for m in messages if m.role == "tool"]

    def _answer(self, request: ModelRequest) -> str:
        results = self._results(request.messages)
        summary = self.output_text if self.output_text is not None else (
            "; ".join(" ".join(r.split())[:200] for r in results) if results else "no tool results"
        )
        if request.output_type is None:
            return summary
        schema = request.output_type.model_json_schema()
        return json.dumps(value_for_schema(schema, text=summary))

    async def _attempt(self, request: ModelRequest) -> Completion:
        self.seen.append(request)
        pending = not self._results(request.messages)
        calls = self._tool_calls(request) if request.tools and pending and request.output_type is None else []
        if calls:
            completion = Completion(text=None, tool_calls=calls, finish_reason="tool_calls")
        else:
            completion = Completion(text=self._answer(request), finish_reason="stop")
        args_text = "".join(c.arguments for c in completion.tool_calls)
        completion.usage = Usage(
            input_tokens=count_request_tokens(request),
            output_tokens=count_tokens(completion.text) + count_tokens(args_text),
        )
        return completion

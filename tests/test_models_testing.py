"""TestModel: the schema-driven test double calls tools from their schemas and answers from
their results, with no knowledge of any corpus or question wording."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel

from agentloom import Agent, tool
from agentloom.models import TestModel
from agentloom.models.testing import value_for_schema
from agentloom.models.types import Message, Model, ModelRequest
from agentloom.text.sections import question_block


def test_values_follow_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "query": {"type": "string"},
            "limit": {"type": "integer", "minimum": 2},
            "mode": {"type": "string", "enum": ["fast", "slow"]},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "optional": {"type": "string"},
            "deep": {"$ref": "#/$defs/Deep"},
        },
        "required": ["query", "limit", "mode", "tags", "deep"],
        "$defs": {"Deep": {"type": "object", "properties": {"flag": {"type": "boolean"}}, "required": ["flag"]}},
    }
    value = value_for_schema(schema, text="seals", query_only=True)
    assert value == {"query": "seals", "limit": 2, "mode": "fast", "tags": ["a"], "deep": {"flag": False}}


async def test_it_calls_each_tool_from_its_schema_then_answers_from_the_results() -> None:
    ran: list[tuple[str, int]] = []

    @tool
    def lookup(query: str, limit: int = 3) -> str:
        """Look something up."""
        ran.append((query, limit))
        return f"{query}: 42 items"

    model = TestModel()
    assert isinstance(model, Model)
    result = await Agent(model, [lookup], max_turns=3).run("How many items are there?")
    assert ran == [("How many items are there?", 3)]
    assert "42 items" in str(result.output)
    first = model.seen[0]
    assert [t["function"]["name"] for t in first.tools] == ["lookup"]


class Verdict(BaseModel):
    label: Literal["yes", "no"]
    reason: str
    score: float


async def test_a_response_schema_gets_a_valid_object_built_from_the_tool_results() -> None:
    model = TestModel()
    request = ModelRequest(
        messages=[Message.user(question_block("Is it open?")), Message("tool", "open daily", tool_call_id="c1", name="lookup")],
        output_type=Verdict,
    )
    completion = await model.complete(request)
    verdict = Verdict.model_validate(json.loads(completion.text or ""))
    assert verdict.label == "yes" and verdict.reason == "open daily" and verdict.score == 0.0


async def test_answers_depend_on_the_request_only() -> None:
    tools: list[dict[str, Any]] = [{"type": "function", "function": {"name": "search", "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}]
    request = ModelRequest(messages=[Message.user("Where is it?")], tools=tools)
    one, two = await TestModel().complete(request), await TestModel().complete(request)
    assert [(c.id, c.arguments) for c in one.tool_calls] == [(c.id, c.arguments) for c in two.tool_calls]
    assert json.loads(one.tool_calls[0].arguments) == {"q": "Where is it?"}
    assert (one.usage.input_tokens, one.usage.output_tokens) == (two.usage.input_tokens, two.usage.output_tokens)

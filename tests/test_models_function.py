"""FunctionModel: answers as a function of the request, deterministic under parallel fan-out."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import BaseModel

from agentloom.budget import Price
from agentloom.models.function import FunctionModel
from agentloom.models.types import Completion, Message, Model, ModelRequest, ToolCall, Usage
from agentloom.tokens import count_request_tokens, count_tokens


def ask(text: str, **kw: Any) -> ModelRequest:
    return ModelRequest([Message.user(text)], **kw)


async def test_string_answer_and_counted_usage() -> None:
    model = FunctionModel(lambda r: f"you said {r.last_user_text()}")
    assert isinstance(model, Model)
    request = ask("hello there")
    completion = await model.complete(request)
    assert completion.text == "you said hello there"
    assert completion.finish_reason == "stop"
    assert completion.usage.input_tokens == count_request_tokens(request)
    assert completion.usage.output_tokens == count_tokens("you said hello there")
    assert completion.usage.usd == 0.0  # free unless priced
    assert completion.model == "function"


async def test_dict_answer_with_tool_calls() -> None:
    def fn(request: ModelRequest) -> dict[str, Any]:
        return {
            "tool_calls": [
                {"name": "search", "arguments": {"q": request.last_user_text()}},
                {"name": "read", "arguments": '{"id": "p_1"}', "id": "fixed"},
                ToolCall("given", "calc", '{"expr": "1+1"}'),
            ]
        }

    completion = await FunctionModel(fn).complete(ask("cats"))
    calls = completion.tool_calls
    assert [(c.name, c.args()) for c in calls] == [("search", {"q": "cats"}), ("read", {"id": "p_1"}), ("calc", {"expr": "1+1"})]
    assert calls[1].id == "fixed" and calls[2].id == "given"
    assert calls[0].id.startswith("call_0_")
    assert completion.finish_reason == "tool_calls"
    assert completion.text is None
    assert completion.usage.output_tokens == count_tokens("".join(c.arguments for c in calls))


async def test_completion_answer_keeps_its_usage() -> None:
    given = Completion(text="x", usage=Usage(input_tokens=100, output_tokens=50))
    completion = await FunctionModel(lambda r: given).complete(ask("q"))
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (100, 50)


async def test_async_function_and_price() -> None:
    async def fn(request: ModelRequest) -> str:
        await asyncio.sleep(0)
        return "async answer"

    model = FunctionModel(fn, price=Price(input=1e-3, output=1e-3), name="priced")
    completion = await model.complete(ask("q"))
    assert completion.text == "async answer"
    assert completion.usage.usd == pytest.approx((completion.usage.input_tokens + completion.usage.output_tokens) * 1e-3)
    assert completion.model == "priced"


async def test_bad_return_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="expected Completion, str or dict"):
        await FunctionModel(lambda r: 42).complete(ask("q"))  # type: ignore[arg-type, return-value]


async def test_parallel_calls_stay_deterministic_whatever_the_order() -> None:
    """Latency depends on the content, so calls finish in a different order than they start;
    each answer still belongs to its own request."""

    def latency(request: ModelRequest) -> float:
        return (sum(map(ord, request.last_user_text())) % 7) * 0.003

    model = FunctionModel(lambda r: r.last_user_text().upper(), latency=latency)
    questions = [f"question {i}" for i in range(100)]
    results = await asyncio.gather(*(model.complete(ask(q)) for q in questions))
    assert [r.text for r in results] == [q.upper() for q in questions]


async def test_structured_output_with_repair() -> None:
    class Verdict(BaseModel):
        ok: bool
        reason: str

    def fn(request: ModelRequest) -> str:
        if request.last_user_text().startswith("That output does not match"):
            return json.dumps({"ok": True, "reason": "fixed"})
        return json.dumps({"ok": "maybe"})

    completion = await FunctionModel(fn).complete(ask("judge", output_type=Verdict))
    assert completion.parsed == Verdict(ok=True, reason="fixed")
    assert completion.usage.attempts == 2


async def test_latency_is_slept() -> None:
    model = FunctionModel(lambda r: "x", latency=0.05)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.gather(*(model.complete(ask(str(i))) for i in range(10)))
    assert loop.time() - start >= 0.05

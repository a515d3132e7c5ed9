"""``@tool``: schema from signature and docstring, sync and async, options, validation."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from agentloom.errors import ConfigError
from agentloom.models.types import ToolCall
from agentloom.tools import (
    CachePolicy,
    Tool,
    ToolArgumentError,
    ToolExecutor,
    ToolResult,
    canonical_args,
    fingerprint,
    tool,
)


class Window(BaseModel):
    start: int
    end: int


@tool
def search_docs(query: str, k: int = 5, tags: list[str] | None = None, mode: Literal["fast", "exact"] = "fast") -> list[str]:
    """Search the documentation for passages.

    Longer explanation that is still part of the summary.

    Args:
        query: Words to look for.
        k (int): How many results
            to return at most.
        tags: Only passages with these tags.

    Returns:
        The matching passages.
    """
    return [query] * k


def test_schema_comes_from_signature_and_docstring() -> None:
    schema = search_docs.schema()
    assert schema["type"] == "function"
    fn = schema["function"]
    assert fn["name"] == "search_docs"
    assert fn["description"].startswith("Search the documentation for passages.")
    assert "Longer explanation" in fn["description"] and "Returns" not in fn["description"]
    params = fn["parameters"]
    assert params["type"] == "object"
    assert params["required"] == ["query"]
    props = params["properties"]
    assert props["query"] == {"type": "string", "description": "Words to look for."}
    assert props["k"]["type"] == "integer" and props["k"]["default"] == 5
    assert props["k"]["description"] == "How many results to return at most."
    assert props["tags"]["description"] == "Only passages with these tags."
    assert {"type": "array", "items": {"type": "string"}} in props["tags"]["anyOf"]
    assert props["mode"]["enum"] == ["fast", "exact"]
    assert "description" not in props["mode"]
    assert params.get("additionalProperties") is False
    json.dumps(schema)  # it must be sendable as is


def test_name_and_description_overrides_and_options() -> None:
    @tool(name="lookup", description="Look something up.", timeout=2.5, max_concurrency=3, retries=2, cache=CachePolicy(ttl=60))
    async def anything(x: int) -> int:
        """Ignored summary."""
        return x

    assert isinstance(anything, Tool)
    assert anything.name == "lookup" and anything.schema()["function"]["name"] == "lookup"
    assert anything.description == "Look something up."
    assert (anything.timeout, anything.max_concurrency, anything.retries, anything.cache) == (2.5, 3, 2, CachePolicy(ttl=60))
    assert anything.is_async

    @tool
    def bare(x: int) -> int:
        return x

    assert bare.description == "bare"  # no docstring: the name
    assert (bare.timeout, bare.max_concurrency, bare.retries, bare.cache) == (None, None, 0, None)
    assert not bare.is_async


@pytest.mark.parametrize("options", [{"max_concurrency": 0}, {"retries": -1}, {"timeout": 0}, {"timeout": -1.0}])
def test_bad_options_are_config_errors(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        tool(**options)(lambda: None)


def test_pydantic_model_arguments() -> None:
    @tool
    def span_length(window: Window, scale: float = 1.0) -> float:
        """Length of a window.

        Args:
            window: The window.
        """
        return (window.end - window.start) * scale

    props = span_length.schema()["function"]["parameters"]
    assert "window" in props["required"]
    kwargs = span_length.validate({"window": {"start": 2, "end": 7}})
    assert isinstance(kwargs["window"], Window) and kwargs["scale"] == 1.0
    with pytest.raises(ToolArgumentError, match="window"):
        span_length.validate({"window": {"start": "two"}})


def test_validate_coerces_and_reports_every_problem() -> None:
    assert search_docs.validate({"query": "q", "k": "3"}) == {"query": "q", "k": 3, "tags": None, "mode": "fast"}
    with pytest.raises(ToolArgumentError) as info:
        search_docs.validate({"k": "lots", "surprise": 1})
    message = str(info.value)
    assert message.startswith("invalid arguments for search_docs:")
    for part in ("query", "k", "surprise"):
        assert part in message
    with pytest.raises(ToolArgumentError, match="mode"):
        search_docs.validate({"query": "q", "mode": "slow"})


async def test_direct_call_sync_and_async() -> None:
    @tool
    def double(x: int) -> int:
        return 2 * x

    @tool
    async def triple(x: int) -> int:
        await asyncio.sleep(0)
        return 3 * x

    assert await double(x="4") == 8
    assert await triple(x=4) == 12
    with pytest.raises(ToolArgumentError):
        await double(y=1)


async def test_invalid_args_from_a_model_come_back_as_an_error_result() -> None:
    executor = ToolExecutor([search_docs])
    [result] = await executor.run_batch([ToolCall("c1", "search_docs", json.dumps({"k": -1.5, "extra": True}))])
    assert isinstance(result, ToolResult)
    assert not result.ok and result.error_type == "ToolArgumentError"
    payload = json.loads(result.content())
    assert payload["type"] == "ToolArgumentError" and "query" in payload["error"]


async def test_options_are_honoured_by_the_executor() -> None:
    peak = now = 0
    calls: dict[int, int] = {}

    @tool(max_concurrency=1, retries=1, timeout=0.2)
    async def guarded(i: int) -> int:
        nonlocal peak, now
        calls[i] = calls.get(i, 0) + 1
        now += 1
        peak = max(peak, now)
        try:
            if i == 0 and calls[i] == 1:
                raise OSError("first try fails")
            if i == 1:
                await asyncio.sleep(1)  # always times out, retried once
            return i
        finally:
            now -= 1

    started = time.perf_counter()
    results = await ToolExecutor([guarded]).run_batch([ToolCall(str(i), "guarded", json.dumps({"i": i})) for i in range(3)])
    assert time.perf_counter() - started < 2.0
    assert peak == 1
    assert results[0].ok and results[0].attempts == 2
    assert results[1].error_type == "TimeoutError" and results[1].attempts == 2
    assert results[2].ok and results[2].attempts == 1
    assert calls == {0: 2, 1: 2, 2: 1}


def test_result_content() -> None:
    ok = ToolResult("1", "t", value={"a": [1, Window(start=1, end=2)]})
    assert json.loads(ok.content()) == {"a": [1, {"start": 1, "end": 2}]}
    assert ToolResult("2", "t", value="plain text").content() == "plain text"
    bad = ToolResult("3", "t", ok=False, error="boom", error_type="RuntimeError")
    assert json.loads(bad.content()) == {"error": "boom", "type": "RuntimeError"}
    assert ToolResult("4", "t", started=1.0, ended=3.5).duration == 2.5


def test_fingerprint_normalises_arguments() -> None:
    a = fingerprint("search", {"query": "budget  limits ", "k": 5.0})
    b = fingerprint("search", {"k": 5, "query": "budget limits"})
    assert a == b
    assert a != fingerprint("search", {"query": "budget limits", "k": 6})
    assert a != fingerprint("other", {"query": "budget limits", "k": 5})
    assert canonical_args({"b": [1.0, " x  y "], "a": {"z": 1, "y": 2}}) == '{"a":{"y":2,"z":1},"b":[1,"x y"]}'

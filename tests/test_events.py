"""The typed event stream: agent/graph/research ``stream()``, token deltas, and a bounded
buffer that drops only token deltas for a slow consumer (and says how many)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agentloom import Agent, tool
from agentloom._runtime import run_scope
from agentloom.events import (
    BranchFinished,
    BranchStarted,
    BudgetChanged,
    Event,
    EventStream,
    ModelCall,
    Note,
    PlanMade,
    RunFinished,
    RunStarted,
    TokenDelta,
    TokensDropped,
    ToolCall,
    ToolResult,
    stream_run,
)
from agentloom.models.base import ModelBase
from agentloom.models.function import FunctionModel
from agentloom.models.types import Completion, Message, ModelRequest, Usage
from agentloom.research.run import research
from agentloom.runstore import RunStore


@tool
def lookup(entity: str) -> str:
    """Look up a fact about an entity."""
    return f"{entity} is fine"


def one_lookup_model() -> FunctionModel:
    """Looks up the entity named in the task once, then answers with what it found."""

    def respond(request: ModelRequest) -> dict[str, Any] | str:
        done = [m for m in request.messages if m.role == "tool"]
        if done or request.metadata.get("final"):
            return "answer: " + " ".join(m.content or "" for m in done)
        entity = request.last_user_text().split()[-1]
        return {"tool_calls": [{"name": "lookup", "arguments": {"entity": entity}}]}

    return FunctionModel(respond)


async def test_agent_stream_yields_typed_frozen_events_of_one_run() -> None:
    agent = Agent(model=one_lookup_model(), tools=[lookup], name="asker")
    stream = agent.stream("tell me about Zed")
    seen = [event async for event in stream]
    assert stream.result is not None and "Zed is fine" in str(stream.result.output)
    assert isinstance(seen[0], RunStarted) and isinstance(seen[-1], RunFinished)
    assert seen[-1].status == "ok"
    assert all(isinstance(e, Event) and e.run_id == stream.result.run_id and e.span_id for e in seen)
    kinds = {type(e) for e in seen}
    assert {ModelCall, ToolCall, ToolResult, BudgetChanged} <= kinds
    call = next(e for e in seen if isinstance(e, ToolCall))
    done = next(e for e in seen if isinstance(e, ToolResult))
    assert call.call_id and call.call_id == done.call_id and done.status == "ok"
    assert seen.index(call) < seen.index(done)
    with pytest.raises(dataclasses.FrozenInstanceError):
        done.status = "error"  # type: ignore[misc]
    # the run store consumed the same stream (the kinds it keeps)
    rows = RunStore().events(stream.result.run_id)
    assert {r["kind"] for r in rows} >= {"model_call", "tool_call", "budget"}
    assert not any(r["kind"] in ("run_started", "tool_start") for r in rows)


class Chatty(ModelBase):
    """Streams its answer word by word (the answer repeats the request's last text)."""

    name = "chatty"

    async def _attempt(self, request: ModelRequest) -> Completion:
        return Completion(text=request.last_user_text(), usage=Usage(input_tokens=3, output_tokens=3))

    async def _stream_attempt(self, request: ModelRequest) -> AsyncIterator[str | Completion]:
        words = request.last_user_text().split()
        for word in words:
            yield word + " "
        yield Completion(text=" ".join(words), usage=Usage(input_tokens=3, output_tokens=len(words)))


async def test_token_deltas_stream_when_the_model_streams() -> None:
    async def run(listener: Any) -> str:
        async with run_scope("ask", "ask", {}, listeners=[listener]):
            return "".join([d async for d in Chatty().stream(ModelRequest([Message.user("one two three four")]))])

    stream = stream_run(run)
    seen = [e async for e in stream]
    deltas = [e for e in seen if isinstance(e, TokenDelta)]
    assert [d.text for d in deltas] == ["one ", "two ", "three ", "four "]
    call = next(e for e in seen if isinstance(e, ModelCall))
    assert call.output_tokens == 4 and seen.index(deltas[-1]) < seen.index(call)
    assert stream.result == "one two three four "


async def test_a_full_buffer_drops_only_token_deltas_and_says_how_many() -> None:
    gate = asyncio.Event()

    async def run(listener: Any) -> int:
        def note(i: int) -> Note:
            return Note(kind="step", name=f"n{i}", run_id="r", span_id=f"s{i}")

        listener(RunStarted(kind="run_started", name="r", run_id="r", span_id="root"))
        for i in range(50):  # the consumer has not read anything yet: a slow consumer
            listener(note(i))
            listener(TokenDelta(kind="token", name="m", run_id="r", span_id=f"t{i}", text=str(i)))
        listener(RunFinished(kind="run_finished", name="r", run_id="r", span_id="root"))
        gate.set()
        return 50

    stream: EventStream[int] = stream_run(run, maxsize=10)
    await asyncio.sleep(0)
    await gate.wait()
    seen = [e async for e in stream]
    notes = [e for e in seen if isinstance(e, Note)]
    deltas = [e for e in seen if isinstance(e, TokenDelta)]
    assert [n.name for n in notes] == [f"n{i}" for i in range(50)]  # nothing but deltas is dropped
    reported = sum(e.count for e in seen if isinstance(e, TokensDropped))
    assert len(deltas) + reported == 50 and reported == stream.dropped > 0
    assert isinstance(seen[-1], RunFinished) and seen[-1].dropped_deltas == stream.dropped
    assert stream.result == 50


async def test_leaving_the_loop_early_cancels_the_run() -> None:
    cancelled = asyncio.Event()

    async def run(listener: Any) -> None:
        try:
            listener(RunStarted(kind="run_started", name="r", run_id="r", span_id="root"))
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    stream: EventStream[None] = stream_run(run)
    async for _event in stream:
        break
    await asyncio.wait_for(cancelled.wait(), 5)


async def test_a_failed_run_raises_from_the_stream_after_its_events() -> None:
    agent = Agent(model=FunctionModel(lambda request: {"tool_calls": [{"name": "nope", "arguments": {}}]}), tools=[lookup],
                  name="bad", max_turns=1)
    seen: list[Event] = []
    stream = agent.stream("go")
    try:
        async for event in stream:
            seen.append(event)
    except Exception:
        pass
    assert isinstance(seen[-1], RunFinished)


async def test_research_stream_has_a_plan_branches_and_a_span_tree() -> None:
    stream = research.stream("How is Marrowick supplied with water?", model="offline", width=3, depth=1)  # type: ignore[attr-defined]
    seen: list[Event] = [e async for e in stream]
    assert stream.result is not None and stream.result.output
    run_ids = {e.run_id for e in seen}
    assert run_ids == {stream.result.run_id}
    assert any(isinstance(e, PlanMade) and e.width and e.depth for e in seen)
    started = [e for e in seen if isinstance(e, BranchStarted)]
    finished = {e.span_id for e in seen if isinstance(e, BranchFinished)}
    assert started and {e.span_id for e in started} <= finished
    spans = {e.span_id for e in seen}
    assert all(e.parent_id is None or e.parent_id in spans for e in seen), "every parent is a span of the run"
    json.dumps([e.to_row() for e in seen], default=str)

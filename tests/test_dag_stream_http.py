"""DAGPlanner over a real OpenAI-compatible HTTP stream: tasks start while the plan is still
arriving as server-sent events, and the joiner's structured output goes through the same path."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from agentloom import tool
from agentloom.models.openai_model import OpenAIModel
from agentloom.planners import DAGPlanner
from agentloom.runstore import RunStore
from tests.fakeserver import FakeOpenAIServer, Reply

PLAN = [
    {"id": 1, "tool": "lookup", "args": {"entity": "Harrow"}},
    {"id": 2, "tool": "lookup", "args": {"entity": "Brandt"}},
    {"id": 3, "tool": "lookup", "args": {"entity": "Keller"}},
]


def responder(body: dict[str, Any]) -> Reply:
    system = body["messages"][0]["content"]
    if "You are the joiner" in system:
        lines = [json.loads(line[len("result: "):]) for line in body["messages"][1]["content"].splitlines() if line.startswith("result: ")]
        return Reply(text=json.dumps({"action": "finish", "answer": ", ".join(f"{r['args']['entity']}={r['result']}" for r in lines)}))
    assert body.get("stream") is True
    return Reply(stream_chunks=[json.dumps(t) + "\n" for t in PLAN], stream_delay=0.08)


async def test_tasks_start_while_the_plan_streams() -> None:
    started: dict[str, float] = {}

    @tool
    async def lookup(entity: str) -> int:
        """Capacity of a plant."""
        started[entity] = time.perf_counter()
        await asyncio.sleep(0.01)
        return len(entity)

    with FakeOpenAIServer(responder) as server:
        model = OpenAIModel("fake-model", base_url=server.base_url, api_key="k", max_retries=0)
        store = RunStore()
        t0 = time.perf_counter()
        run = await DAGPlanner().run("capacities", model=model, tools=[lookup], store=store)
        await model.aclose()
    assert run.streamed and run.answer == "Harrow=6, Brandt=6, Keller=6"
    plan_done = run.meta["plan_done_s"][0]
    # chunks arrive 80 ms apart: the first lookup starts well before the last line arrives
    assert started["Harrow"] - t0 < plan_done - 0.1
    assert started["Harrow"] < started["Brandt"] < started["Keller"]
    events = store.events(run.run_id)
    calls = [e for e in events if e["kind"] == "model_call"]
    assert calls[0]["data"]["stream"] is True and calls[0]["data"]["purpose"] == "dag"
    first_tool = min(e["start"] for e in events if e["kind"] == "tool_call")
    assert first_tool < calls[0]["end"]  # the first tool call began before the plan's stream ended

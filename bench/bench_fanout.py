"""Fan-out overhead: 10, 100 and 1,000 branches through agentloom's fan-out against raw LangGraph
``Send`` and a bare ``asyncio.gather``, side by side in one process.

Two workloads:

- ``noop``: each branch is an empty coroutine. Peers: ``asyncio.gather``; a LangGraph graph whose
  router ``Send``s one ``work`` node per branch (results gathered by an ``operator.add``
  reducer); ``map_process_reduce`` outside a run (plain asyncio) and inside a recorded run
  (each branch a span with its own child budget, written to the run store).
- ``chat``: each branch makes one chat call to the loopback OpenAI-compatible server (no
  injected latency), at most 16 at a time. Peers: ``gather`` of raw openai-SDK calls; ``Send``
  nodes making the same raw calls; an agent's ``spawn`` tool (``Agent(threads=16)``) running one
  child agent per branch, each under its own child budget, recorded (plus the parent's own two
  calls).

``per_branch_us`` is the wall time per branch; ``ratio`` compares with ``asyncio.gather`` of the
same work, ``vs_send`` with LangGraph ``Send``.
"""

from __future__ import annotations

import asyncio
import operator
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._home import scratch_home  # noqa: E402
from tests.fakeserver import FakeOpenAIServer, Reply  # noqa: E402

CHAT_CONCURRENCY = 16


class State(TypedDict):
    """The fan-out graph's state: how many branches, and their results (concatenated)."""

    n: int
    results: Annotated[list[Any], operator.add]


class Item(TypedDict):
    """What one ``Send`` carries to its branch."""

    i: int


async def _noop(i: int) -> int:
    return i


def _send_graph(work: Callable[[int], Awaitable[Any]], concurrency: int | None = None) -> Callable[[int], Awaitable[Any]]:
    """A LangGraph graph fanning out ``n`` ``work`` nodes with ``Send``."""
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import Send

    async def node(item: Item) -> dict[str, Any]:
        return {"results": [await work(item["i"])]}

    def route(state: State) -> list[Any]:
        return [Send("work", {"i": i}) for i in range(state["n"])]

    builder = StateGraph(State)
    builder.add_node("work", node)  # type: ignore[call-overload]
    builder.add_conditional_edges(START, route, ["work"])
    builder.add_edge("work", END)
    graph = builder.compile()
    config: dict[str, Any] = {"recursion_limit": 10_000}
    if concurrency is not None:
        config["max_concurrency"] = concurrency

    async def run(n: int) -> Any:
        state = await graph.ainvoke({"n": n, "results": []}, config)  # type: ignore[arg-type]
        assert len(state["results"]) == n
        return state["results"]

    return run


async def _time(fn: Callable[[int], Awaitable[Any]], n: int, repeats: int) -> float:
    await fn(n)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        await fn(n)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def _noop_rows(sizes: tuple[int, ...], repeats: int) -> list[dict[str, Any]]:
    from agentloom import Budget
    from agentloom._runtime import run_scope
    from agentloom.agents.mapreduce import map_process_reduce
    from agentloom.runstore import RunStore

    store = RunStore()

    async def gather(n: int) -> Any:
        return await asyncio.gather(*(_noop(i) for i in range(n)))

    async def mapreduce(n: int) -> Any:
        return await map_process_reduce(range(n), _noop, concurrency=n)

    async def mapreduce_in_run(n: int) -> Any:
        async with run_scope("bench", "fanout", {"n": n}, budget=Budget(), store=store):
            return await map_process_reduce(range(n), _noop, concurrency=n)

    send = _send_graph(_noop)
    peers = {"asyncio.gather": gather, "langgraph Send": send, "map_process_reduce": mapreduce, "map_process_reduce (recorded run)": mapreduce_in_run}
    rows = []
    for n in sizes:
        walls = {name: await _time(fn, n, repeats) for name, fn in peers.items()}
        for name, wall in walls.items():
            rows.append({"workload": "noop", "branches": n, "method": name, "wall_ms": round(wall * 1000, 3),
                         "per_branch_us": round(wall / n * 1e6, 2), "ratio": round(wall / walls["asyncio.gather"], 2),
                         "vs_send": round(wall / walls["langgraph Send"], 3)})
    store.close()
    return rows


async def _chat_rows(sizes: tuple[int, ...], repeats: int) -> list[dict[str, Any]]:
    from openai import AsyncOpenAI

    from agentloom import Agent, Budget
    from agentloom.models.openai_model import OpenAIModel
    from agentloom.runstore import RunStore

    def responder(body: dict[str, Any]) -> Reply:
        tools = [t["function"]["name"] for t in body.get("tools") or []]
        messages = body["messages"]
        if "spawn" in tools and not any(m.get("role") == "tool" for m in messages):
            n = int(str(messages[-1]["content"]).split()[-1])
            return Reply(tool_calls=[{"name": "spawn", "arguments": {"tasks": [f"branch {i}" for i in range(n)]}}])
        return Reply(text="done")

    with FakeOpenAIServer(responder, record=False) as server:
        client = AsyncOpenAI(api_key="k", base_url=server.base_url, max_retries=0)
        gate = asyncio.Semaphore(CHAT_CONCURRENCY)

        async def call(i: int) -> str:
            async with gate:
                response = await client.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": f"branch {i}"}])
            return response.choices[0].message.content or ""

        async def gather(n: int) -> Any:
            return await asyncio.gather(*(call(i) for i in range(n)))

        send = _send_graph(call, concurrency=CHAT_CONCURRENCY)
        model = OpenAIModel("fake-model", base_url=server.base_url, api_key="k", max_retries=0)
        model.tool_mode = "native"  # the responder answers OpenAI tool calls (auto would pick json for a local server)
        store = RunStore()
        agent = Agent(model, [], name="fan", threads=CHAT_CONCURRENCY, max_spawn_tasks=max(sizes))

        async def spawn(n: int) -> Any:
            result = await agent.run(f"fan out to {n}", budget=Budget(), store=store)
            return result

        peers = {"asyncio.gather": gather, "langgraph Send": send, "Agent spawn (threads=16)": spawn}
        rows = []
        for n in sizes:
            walls = {name: await _time(fn, n, repeats) for name, fn in peers.items()}
            for name, wall in walls.items():
                rows.append({"workload": "chat", "branches": n, "method": name, "wall_ms": round(wall * 1000, 3),
                             "per_branch_us": round(wall / n * 1e6, 2), "ratio": round(wall / walls["asyncio.gather"], 2),
                             "vs_send": round(wall / walls["langgraph Send"], 3)})
        await client.close()
        await model.aclose()
        store.close()
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Rows per (workload, branches, method); ``ratio`` is wall time over ``asyncio.gather``."""
    with scratch_home("bench-fanout-"):
        noop_sizes = (10, 100) if quick else (10, 100, 1000)
        chat_sizes = (10,) if quick else (10, 100, 1000)

        async def both() -> list[dict[str, Any]]:
            return [*await _noop_rows(noop_sizes, 3 if quick else 7), *await _chat_rows(chat_sizes, 1 if quick else 3)]

        return asyncio.run(both())

if __name__ == "__main__":
    from bench.run import format_table

    print(format_table(run(quick="--quick" in sys.argv)))

"""Parallel tool calls: tasks needing B independent lookups, then one dependent step, against a
loopback OpenAI-compatible server with injected model latency and tool latency.

Side by side in one process, on the same server and the same tools:

- ``react_sequential``: LangGraph's prebuilt ``create_react_agent``, the model calling one tool
  per turn (classic ReAct);
- ``langgraph_parallel``: ``create_react_agent`` with parallel tool calls;
- ``agent_width``: ``agentloom.Agent`` (default width schedule, all lookups in one turn);
- ``dag_planner``: ``Agent(planner=DAGPlanner())``, the plan streamed as JSON Lines and each task
  dispatched as its line arrives, then one joiner call.

The scripted model (``tests.fakeserver.FakeOpenAIServer``) answers from the request's content
only. Lookups sleep ``TOOL_LATENCY``; the dependent step is a local calculator (no injected
latency). ``critical_s`` is the sum of injected latencies on each method's own dependency chain;
``critical_rtt_s`` replaces each model latency by the measured round trip of a bare openai-SDK
call to the same server (transport and server included), so ``wall/critical`` is what the
orchestration itself adds. ``lower_bound_s`` is the task's floor (one planning call, one lookup,
one answering call, at the measured round trip). ``idle_ms`` (agentloom runs, from the run
store's timeline) is the wall time when no model or tool call was in flight: the orchestration's
own cost, whatever the transport. LangGraph's model is a minimal
``BaseChatModel`` over the openai SDK (the ``langchain-openai`` package is not a dependency).
agentloom runs share one ``RunStore`` (every event is still recorded).
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench._home import scratch_home

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakeserver import FakeOpenAIServer, Reply  # noqa: E402

MODEL_LATENCY = 0.05
TOOL_LATENCY = 0.10
SEQUENTIAL_MARK = "Call exactly one tool per turn."
_ENTITY = re.compile(r"\bE\d+\b")
_WIDTH = re.compile(r"Tool-call width this turn: (\d+)")


def _value(entity: str) -> int:
    return 100 * int(entity[1:]) + 7


def question(b: int) -> str:
    names = [f"E{i}" for i in range(1, b + 1)]
    return f"What is the total of the values of {', '.join(names[:-1])} and {names[-1]}?"


# --------------------------------------------------------------------------- the scripted model
def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content or "")


def responder(body: dict[str, Any]) -> Reply:
    """Plans, joins and ReAct turns, all decided from the request's content."""
    messages = body["messages"]
    system = _text(messages[0]) if messages and messages[0].get("role") == "system" else ""
    users = "\n".join(_text(m) for m in messages if m.get("role") == "user")
    entities = list(dict.fromkeys(_ENTITY.findall(users.split("\n")[0] if "Question: " in users else users)))
    if "You plan tool calls as a dependency graph" in system:
        if "Executed tasks" in users:
            return Reply(text="")
        tasks = [{"id": i, "tool": "lookup", "args": {"entity": e}} for i, e in enumerate(entities, start=1)]
        tasks.append({"id": len(entities) + 1, "tool": "calculator",
                      "args": {"expression": " + ".join(f"${i}" for i in range(1, len(entities) + 1))}})
        lines = [json.dumps(t) + "\n" for t in tasks]
        if body.get("stream"):
            return Reply(stream_chunks=lines)
        return Reply(text=json.dumps({"tasks": tasks}))
    if "You are the joiner" in system:
        value = None
        for line in users.splitlines():
            if line.startswith("result: "):
                entry = json.loads(line[len("result: "):])
                if entry["tool"] == "calculator" and entry.get("status") == "ok":
                    value = entry["result"]["value"]
        return Reply(text=json.dumps({"action": "finish", "answer": f"The total is {value}."}))
    # a ReAct turn: look up what is missing, then compute, then answer
    names: dict[str, str] = {}
    looked: dict[str, str] = {}
    computed = None
    for m in messages:
        for call in m.get("tool_calls") or []:
            names[call["id"]] = call["function"]["name"] + " " + call["function"]["arguments"]
        if m.get("role") == "tool":
            call = names.get(m.get("tool_call_id", ""), "")
            if call.startswith("lookup"):
                looked[json.loads(call.split(" ", 1)[1])["entity"]] = _text(m)
            elif call.startswith("calculator"):
                computed = _text(m)
    missing = [e for e in entities if e not in looked]
    if missing:
        if SEQUENTIAL_MARK in system:
            width = 1
        else:
            found = _WIDTH.findall(system)
            width = int(found[-1]) if found else len(missing)
        return Reply(tool_calls=[{"name": "lookup", "arguments": {"entity": e}} for e in missing[:width]])
    if computed is None:
        values = [str(json.loads(looked[e])) if looked[e].strip().startswith(("{", "[")) else looked[e] for e in entities]
        return Reply(tool_calls=[{"name": "calculator", "arguments": {"expression": " + ".join(values)}}])
    match = re.search(r"-?\d+(?:\.\d+)?", computed.split("value")[-1])
    return Reply(text=f"The total is {match.group(0) if match else computed}.")


# --------------------------------------------------------------------------- tools
async def _lookup(entity: str) -> float:
    await asyncio.sleep(TOOL_LATENCY)
    return float(_value(entity))


# --------------------------------------------------------------------------- LangGraph peers
Closer = Callable[[], Awaitable[None]]


def _langgraph_agent(base_url: str, sequential: bool, closers: list[Closer]) -> Callable[[str], Awaitable[dict[str, Any]]]:
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage, convert_to_openai_messages
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_core.tools import tool as lc_tool
    from langchain_core.utils.function_calling import convert_to_openai_tool
    from langgraph.prebuilt import create_react_agent
    from openai import AsyncOpenAI

    from agentloom.tools.calculator import evaluate

    client = AsyncOpenAI(api_key="k", base_url=base_url, max_retries=0)
    closers.append(client.close)

    class OpenAIChat(BaseChatModel):
        """The smallest tool-calling chat model over the openai SDK."""

        @property
        def _llm_type(self) -> str:
            return "openai-minimal"

        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return self.bind(tools=[convert_to_openai_tool(t) for t in tools], parallel_tool_calls=not sequential, **kwargs)

        def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
            raise NotImplementedError("async only")

        async def _agenerate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
            response = await client.chat.completions.create(model="fake-model", messages=convert_to_openai_messages(messages), **kwargs)
            msg = response.choices[0].message
            calls = [{"name": c.function.name, "args": json.loads(c.function.arguments or "{}"), "id": c.id, "type": "tool_call"}
                     for c in msg.tool_calls or []]
            usage = response.usage
            meta = {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens, "total_tokens": usage.total_tokens} if usage else None
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=msg.content or "", tool_calls=calls, usage_metadata=meta))])

    @lc_tool
    async def lookup(entity: str) -> float:
        """Look up the value of an entity."""
        return await _lookup(entity)

    @lc_tool
    def calculator(expression: str) -> float:
        """Evaluate an arithmetic expression."""
        return float(evaluate(expression))

    prompt = ("Use the tools. " + (SEQUENTIAL_MARK if sequential else "Issue independent tool calls in parallel in one turn."))
    graph = create_react_agent(OpenAIChat(), [lookup, calculator], prompt=prompt)

    async def run(q: str) -> dict[str, Any]:
        state = await graph.ainvoke({"messages": [("user", q)]}, {"recursion_limit": 64})
        ai = [m for m in state["messages"] if isinstance(m, AIMessage)]
        tokens = sum((m.usage_metadata or {}).get("total_tokens", 0) for m in ai)
        return {"output": ai[-1].content, "model_calls": len(ai), "tokens": tokens}

    return run


# --------------------------------------------------------------------------- agentloom
def _covered(intervals: list[tuple[float, float]]) -> float:
    """Seconds covered by the union of ``intervals``."""
    total, end = 0.0, float("-inf")
    for lo, hi in sorted(intervals):
        if hi <= end:
            continue
        total += hi - max(lo, end)
        end = hi
    return total



def _agentloom_agent(base_url: str, planner: bool, closers: list[Closer]) -> Callable[[str], Awaitable[dict[str, Any]]]:
    from agentloom import Agent, tool
    from agentloom.models.openai_model import OpenAIModel
    from agentloom.planners import DAGPlanner
    from agentloom.runstore import RunStore
    from agentloom.tools.calculator import calculator

    store = RunStore()  # one store for the process, as a long-running service keeps it
    model = OpenAIModel("fake-model", base_url=base_url, api_key="k", max_retries=0)
    closers.append(model.aclose)
    closers.append(_async(store.close))

    @tool
    async def lookup(entity: str) -> float:
        """Look up the value of an entity."""
        return await _lookup(entity)

    agent = Agent(model, [lookup, calculator], planner=DAGPlanner() if planner else None)

    async def run(q: str) -> dict[str, Any]:
        start = time.time()
        result = await agent.run(q, store=store)
        wall = time.time() - start
        busy = _covered([(e["start"], e["end"]) for e in store.events(result.run_id) if e["kind"] in ("model_call", "tool_call")])
        return {"output": str(result.output), "model_calls": result.usage.llm_calls, "tokens": result.usage.tokens,
                "idle_ms": round((wall - busy) * 1000, 2)}

    return run


def _async(fn: Callable[[], None]) -> Closer:
    async def close() -> None:
        fn()

    return close


METHODS = ("react_sequential", "langgraph_parallel", "agent_width", "dag_planner")


def chain(method: str, b: int) -> tuple[int, int]:
    """(model calls, lookup layers) on the method's dependency chain (the calculator adds none)."""
    return {
        "react_sequential": (b + 2, b),  # one lookup per turn, then compute, then answer
        "langgraph_parallel": (3, 1),  # all lookups, compute, answer
        "agent_width": (3, 1),
        "dag_planner": (2, 1),  # plan (streamed, dispatching as it goes), join
    }[method]


async def _sdk_round_trip(base_url: str, n: int) -> float:
    """Median wall time of a bare openai-SDK chat call to the server."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="k", base_url=base_url, max_retries=0)
    times = []
    for i in range(n + 1):
        start = time.perf_counter()
        await client.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": f"ping {i}"}])
        if i:
            times.append(time.perf_counter() - start)
    await client.close()
    return statistics.median(times)


async def _measure(quick: bool) -> list[dict[str, Any]]:
    sizes = (2, 4) if quick else (2, 4, 8)
    repeats = 1 if quick else 3
    rows: list[dict[str, Any]] = []
    closers: list[Closer] = []
    with FakeOpenAIServer(responder, latency=MODEL_LATENCY, record=False) as server:
        runners = {
            "react_sequential": _langgraph_agent(server.base_url, True, closers),
            "langgraph_parallel": _langgraph_agent(server.base_url, False, closers),
            "agent_width": _agentloom_agent(server.base_url, False, closers),
            "dag_planner": _agentloom_agent(server.base_url, True, closers),
        }
        for name in METHODS:  # warm-up: connections, imports, first-call setup
            await runners[name](question(2))
        for b in sizes:
            q = question(b)
            expected = f"The total is {sum(_value(f'E{i}') for i in range(1, b + 1))}"
            walls: dict[str, list[float]] = {name: [] for name in METHODS}
            rtts: list[float] = []
            info: dict[str, dict[str, Any]] = {}
            idle: dict[str, list[float]] = {name: [] for name in METHODS}
            for _ in range(repeats):
                rtts.append(await _sdk_round_trip(server.base_url, 4 if quick else 8))
                for name in METHODS:
                    start = time.perf_counter()
                    out = await runners[name](q)
                    walls[name].append(time.perf_counter() - start)
                    if not str(out["output"]).replace(".0.", ".").startswith(expected):
                        raise AssertionError(f"{name} answered {out['output']!r}, expected {expected!r}")
                    info[name] = out
                    if "idle_ms" in out:
                        idle[name].append(out["idle_ms"])
            wall = {name: statistics.median(v) for name, v in walls.items()}
            rtt = statistics.median(rtts)
            for name in METHODS:
                calls, layers = chain(name, b)
                crit = calls * MODEL_LATENCY + layers * TOOL_LATENCY
                crit_rtt = calls * rtt + layers * TOOL_LATENCY
                rows.append({
                    "B": b,
                    "method": name,
                    "wall_s": round(wall[name], 4),
                    "model_calls": info[name]["model_calls"],
                    "tokens": info[name]["tokens"],
                    "critical_s": round(crit, 3),
                    "critical_rtt_s": round(crit_rtt, 3),
                    "wall/critical": round(wall[name] / crit_rtt, 3),
                    "idle_ms": round(statistics.median(idle[name]), 2) if idle[name] else None,
                    "lower_bound_s": round(2 * rtt + TOOL_LATENCY, 3),
                    "speedup_vs_sequential": round(wall["react_sequential"] / wall[name], 2),
                    "ratio": round(wall[name] / wall["langgraph_parallel"], 3),
                })
        for close in closers:
            await close()
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Rows per (B, method); ``ratio`` is wall time over LangGraph's parallel create_react_agent."""
    import warnings

    warnings.filterwarnings("ignore", message=".*create_react_agent has been moved.*")
    with scratch_home("bench-parallel-"):
        return asyncio.run(_measure(quick))

if __name__ == "__main__":
    from bench.run import format_table

    print(format_table(run(quick="--quick" in sys.argv)))

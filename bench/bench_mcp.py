"""MCP tools: per-call overhead of a tool on a real MCP server (stdio and streamable HTTP, one
long-lived session) beside the same function as a direct in-process tool, both through the
ToolExecutor; and the time for 5 stdio servers to start and list their tools, in parallel (as a
run opens them) beside one after another."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["run"]

SERVER = Path(__file__).resolve().parent.parent / "tests" / "mcp_servers" / "arith.py"


async def _per_call(tools: list[Any], calls: int) -> float:
    """Median seconds per sequential ``add`` call through a ToolExecutor."""
    from agentloom.tools import ToolExecutor

    executor = ToolExecutor(tools)
    for i in range(5):  # warm up
        await executor.run("add", {"a": i, "b": 1})
    times = []
    for i in range(calls):
        started = time.perf_counter()
        result = await executor.run("add", {"a": i, "b": 1})
        times.append(time.perf_counter() - started)
        assert result.ok and result.value == i + 1, result
    return statistics.median(times)


async def _overhead(calls: int) -> list[dict[str, Any]]:
    from agentloom.tools import mcp_tools, tool
    from tests.mcp_servers.loopback import serve_http

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    direct = await _per_call([add], calls)
    rows = []
    async with mcp_tools(command=[sys.executable, str(SERVER)], allow=["add"], timeout=60) as listed:
        stdio = await _per_call(listed, calls)
    rows.append({"case": f"add over MCP stdio ({calls} calls)", "ms_per_call": stdio * 1e3,
                 "peer": "direct in-process tool", "peer_ms_per_call": direct * 1e3, "ratio": round(stdio / direct, 1)})
    with serve_http("arith.py", wait=60) as url:
        async with mcp_tools(url=url, allow=["add"], timeout=60) as listed:
            http = await _per_call(listed, calls)
    rows.append({"case": f"add over MCP streamable HTTP ({calls} calls)", "ms_per_call": http * 1e3,
                 "peer": "direct in-process tool", "peer_ms_per_call": direct * 1e3, "ratio": round(http / direct, 1)})
    return rows


async def _start(servers: int, parallel: bool) -> float:
    from agentloom.tools import mcp_tools

    sets = [mcp_tools(command=[sys.executable, str(SERVER)], timeout=60) for _ in range(servers)]
    started = time.perf_counter()
    try:
        if parallel:
            listed = await asyncio.gather(*(s.__aenter__() for s in sets))
        else:
            listed = [await s.__aenter__() for s in sets]
        elapsed = time.perf_counter() - started
        assert all(len(t) == 5 for t in listed), [s.error for s in sets]
    finally:
        await asyncio.gather(*(s.__aexit__(None, None, None) for s in sets))
    return elapsed


async def _starts(servers: int, repeats: int) -> list[dict[str, Any]]:
    par, ser = [], []
    for _ in range(repeats):
        ser.append(await _start(servers, parallel=False))
        par.append(await _start(servers, parallel=True))
    p, s = statistics.median(par), statistics.median(ser)
    return [{"case": f"{servers} stdio servers start, in parallel", "s": p,
             "peer": "one after another", "peer_s": s, "ratio": round(s / p, 2)}]


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Rows: per-call overhead (stdio, HTTP) and parallel against serial start of 5 servers."""
    sys.path.insert(0, str(SERVER.parent.parent.parent))  # for tests.mcp_servers.loopback
    calls, repeats = (30, 1) if quick else (300, 3)

    async def go() -> list[dict[str, Any]]:
        return [*await _overhead(calls), *await _starts(5, repeats)]

    return asyncio.run(go())

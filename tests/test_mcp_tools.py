"""mcp_tools against real MCP servers (the ``mcp`` package) over stdio and streamable HTTP."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.mcp_servers.loopback import require_mcp, serve_http

require_mcp()

from agentloom import Agent, Budget  # noqa: E402
from agentloom.models.function import FunctionModel  # noqa: E402
from agentloom.models.types import ModelRequest  # noqa: E402
from agentloom.runstore import RunStore  # noqa: E402
from agentloom.tools import ToolExecutor, mcp_tools  # noqa: E402
from agentloom.tools.mcp import open_toolsets  # noqa: E402

pytestmark = pytest.mark.mcp

HERE = Path(__file__).parent / "mcp_servers"
ARITH = [sys.executable, str(HERE / "arith.py")]
HANG = [sys.executable, str(HERE / "hang.py")]


async def test_stdio_tools_are_listed_filtered_and_called() -> None:
    async with mcp_tools(command=ARITH, deny=["crash", "tally", "greeting"], timeout=20) as tools:
        names = sorted(t.name for t in tools)
        assert names == ["add", "shout"]
        add = next(t for t in tools if t.name == "add")
        assert add.schema()["function"]["parameters"]["required"] == ["a", "b"]
        assert not add.cacheable
        assert await add(a=2, b=40) == 42
        shout = next(t for t in tools if t.name == "shout")
        assert await shout(text="loom") == "LOOM"


async def test_allow_keeps_only_the_named_tools_and_env_reaches_the_server() -> None:
    async with mcp_tools(command=ARITH, allow=["greeting"], env={"GREETING": "hello from env"}, timeout=20) as tools:
        assert [t.name for t in tools] == ["greeting"]
        assert await tools[0]() == "hello from env"


async def test_one_session_serves_every_call() -> None:
    async with mcp_tools(command=ARITH, allow=["tally"], timeout=20) as tools:
        first, second, third = [await tools[0]() for _ in range(3)]
    pids = {first.split()[-1], second.split()[-1], third.split()[-1]}
    assert [first.split()[0], second.split()[0], third.split()[0]] == ["1", "2", "3"] and len(pids) == 1


async def test_streamable_http_server_on_loopback() -> None:
    with serve_http("arith.py") as url:
        async with mcp_tools(url=url, deny=["crash"], timeout=20) as tools:
            by_name = {t.name: t for t in tools}
            assert sorted(by_name) == ["add", "greeting", "shout", "tally"]
            assert await by_name["add"](a=20, b=22) == 42
            results = await asyncio.gather(*(by_name["shout"](text=f"w{i}") for i in range(5)))
            assert results == [f"W{i}" for i in range(5)]


async def test_a_server_that_fails_to_start_gives_one_clear_error() -> None:
    toolset = mcp_tools(command=[sys.executable, "-c", "import sys; sys.exit(5)"], timeout=5)
    async with toolset as tools:
        assert tools == []
    assert toolset.error and "unavailable" in toolset.error


async def test_a_url_nobody_listens_on_gives_one_clear_error() -> None:
    from tests.mcp_servers.loopback import free_port

    toolset = mcp_tools(url=f"http://127.0.0.1:{free_port()}/mcp", timeout=5)
    async with toolset as tools:
        assert tools == []
    assert toolset.error and toolset.error.startswith("MCP server 'http://127.0.0.1:")


async def test_a_server_hanging_on_list_tools_is_bounded_by_the_timeout() -> None:
    started = time.monotonic()
    toolset = mcp_tools(command=HANG, timeout=3)
    async with toolset as tools:
        assert tools == []
    assert toolset.error and "did not list its tools within 3s" in toolset.error
    assert time.monotonic() - started < 15


async def test_a_server_crashing_mid_run_makes_its_calls_fail_clearly() -> None:
    async with mcp_tools(command=ARITH, timeout=5) as tools:
        by_name = {t.name: t for t in tools}
        with pytest.raises(RuntimeError):
            await by_name["crash"]()
        for _ in range(2):
            with pytest.raises(RuntimeError, match="arith.py"):
                await by_name["add"](a=1, b=2)


def _caller(plan: dict[str, list[dict[str, Any]]]) -> FunctionModel:
    """Turn 1 issues the calls in ``plan['first']``, turn 2 those in ``plan['second']``; then it
    answers with every tool result it was shown (decided from the request's messages)."""

    def respond(request: ModelRequest) -> Any:
        shown = [m.content for m in request.messages if m.role == "tool"]
        turns = sum(1 for m in request.messages if m.role == "assistant" and m.tool_calls)
        if request.metadata.get("final") or turns >= 2:
            return "results: " + " | ".join(str(s) for s in shown)
        return {"tool_calls": plan["first" if turns == 0 else "second"]}

    return FunctionModel(respond)


async def test_a_run_owns_its_servers_and_one_crash_fails_only_that_server() -> None:
    plan = {
        "first": [{"name": "crash", "arguments": {}}, {"name": "shout", "arguments": {"text": "alive"}}],
        "second": [{"name": "crash", "arguments": {}}, {"name": "shout", "arguments": {"text": "still"}}],
    }
    dying = mcp_tools(command=ARITH, allow=["crash"], timeout=10)
    healthy = mcp_tools(command=ARITH, allow=["shout"], timeout=10)
    agent = Agent(_caller(plan), [dying, healthy], max_turns=3, width=4)
    budget = Budget(tool_calls=10)
    result = await agent.run("call the tools", budget=budget)
    assert "ALIVE" in str(result.output) and "STILL" in str(result.output)
    calls = [e for e in RunStore().events(result.run_id) if e["kind"] == "tool_call"]
    assert [(e["name"], e["status"]) for e in calls if e["name"] == "shout"] == [("shout", "ok")] * 2
    crashes = [e for e in calls if e["name"] == "crash"]
    assert [e["status"] for e in crashes] == ["error", "error"]
    assert "arith.py" in (crashes[1]["error"] or "") and "unavailable" in (crashes[1]["error"] or "")
    assert budget.spent.tool_calls == 4  # every MCP call reserved its tool call
    assert dying.server.session is None and healthy.server.session is None  # the run's copies were opened


async def test_mcp_calls_obey_the_budget_and_per_tool_limits() -> None:
    from agentloom._runtime import run_scope

    async with mcp_tools(command=ARITH, allow=["shout"], timeout=20) as tools:
        shout = tools[0]
        shout.max_concurrency = 1
        executor = ToolExecutor(tools)
        budget = Budget(tool_calls=2)
        async with run_scope("agent", "t", {"task": "x"}, budget=budget) as scope:
            results = await asyncio.gather(*(executor.run("shout", {"text": f"x{i}"}) for i in range(3)))
            scope.status = "ok"
        assert sorted(r.ok for r in results) == [False, True, True]
        assert [r.error_type for r in results if not r.ok] == ["BudgetExceeded"]
        first, second = sorted((r for r in results if r.ok), key=lambda r: r.started)
        assert first.ended <= second.started  # max_concurrency=1: the second call waited for the first
        events = [e for e in RunStore().events(scope.run_id) if e["kind"] == "tool_call"]
        assert len(events) == 3 and json.loads(events[0]["data"]["args"])["text"].startswith("x")


def _running(pids: list[str]) -> int:
    """How many of these processes are alive (not exited, not a zombie)."""
    alive = 0
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        alive += state != "Z"
    return alive


async def test_servers_start_in_parallel(tmp_path: Path) -> None:
    toolsets = [mcp_tools(command=HANG, env={"HANG_DIR": str(tmp_path)}, timeout=3) for _ in range(3)]
    most = 0

    async def watch() -> None:
        nonlocal most
        while True:
            most = max(most, _running([p.name for p in tmp_path.iterdir()]))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    try:
        async with open_toolsets(toolsets) as tools:
            assert tools == []
    finally:
        watcher.cancel()
    # one after another, a hung server is stopped before the next starts: never 3 up at once
    assert most == 3 and len(list(tmp_path.iterdir())) == 3

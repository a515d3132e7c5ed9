"""mcp_tools against real MCP servers (the ``mcp`` package) over stdio."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from agentloom.tools.mcp import mcp_tools  # noqa: E402

SERVER = str(Path(__file__).parent / "mcp_servers" / "arith.py")


async def test_stdio_tools_are_listed_filtered_and_called() -> None:
    async with mcp_tools(command=[sys.executable, SERVER], deny=["crash"], timeout=20) as tools:
        names = sorted(t.name for t in tools)
        assert names == ["add", "shout"]
        add = next(t for t in tools if t.name == "add")
        assert add.schema()["function"]["parameters"]["required"] == ["a", "b"]
        assert not add.cacheable
        assert await add(a=2, b=40) == 42
        shout = next(t for t in tools if t.name == "shout")
        assert await shout(text="loom") == "LOOM"


async def test_a_server_that_fails_to_start_gives_one_clear_error() -> None:
    toolset = mcp_tools(command=[sys.executable, "-c", "import sys; sys.exit(5)"], timeout=5)
    async with toolset as tools:
        assert tools == []
    assert toolset.error and "unavailable" in toolset.error


async def test_a_server_crashing_mid_run_makes_its_calls_fail_clearly() -> None:
    async with mcp_tools(command=[sys.executable, SERVER], timeout=5) as tools:
        by_name = {t.name: t for t in tools}
        with pytest.raises(RuntimeError):
            await by_name["crash"]()
        with pytest.raises(RuntimeError, match="arith.py"):
            await by_name["add"](a=1, b=2)

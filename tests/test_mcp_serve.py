"""``loom mcp serve`` over stdio and HTTP, called with the real mcp client, on the offline
engine and the shipped corpus."""

from __future__ import annotations

import sys
from typing import Any

from tests.mcp_servers.loopback import require_mcp, serve_command

require_mcp()

import pytest  # noqa: E402

from agentloom.runstore import RunStore  # noqa: E402
from agentloom.tools import mcp_tools  # noqa: E402

pytestmark = pytest.mark.mcp

LOOM = [sys.executable, "-m", "agentloom.cli", "mcp", "serve"]
OFFLINE = {"AGENTLOOM_MODEL": "offline"}


def _check_cited(out: dict[str, Any]) -> None:
    assert out["answer"].strip() and out["run_id"]
    assert out["citations"] and all(c["id"] for c in out["citations"])
    assert out["usage"]["tool_calls"] >= 1 and not out["budget_limited"]


async def test_serve_over_stdio_offers_research_and_ask() -> None:
    async with mcp_tools(command=LOOM, env=OFFLINE, timeout=120) as tools:
        by_name = {t.name: t for t in tools}
        assert sorted(by_name) == ["ask", "research"]
        assert by_name["research"].input_schema["required"] == ["question"]
        out = await by_name["ask"](question="What powers the tram network?")
        _check_cited(out)
        assert out["grounded"] is True
        report = await by_name["research"](question="How is the city supplied with water?")
        _check_cited(report)
        assert report["report"].lstrip().startswith("#") and len(report["report"]) > len(report["answer"])
    # both calls were recorded as runs in the server's run store (the same loom home)
    store = RunStore()
    try:
        assert store.get_run(out["run_id"]) is not None and store.get_run(report["run_id"]) is not None
    finally:
        store.close()


async def test_serve_over_http_caps_each_call_at_the_server_budget() -> None:
    with serve_command(LOOM, "--budget-tokens", "60") as url:
        async with mcp_tools(url=url, allow=["ask"], timeout=120) as tools:
            out = await tools[0](question="What powers the tram network?", budget_tokens=1_000_000)
    assert out["budget_limited"] is True  # the caller asked for more than the server allows
    assert out["usage"]["tokens"] <= 60 * 2

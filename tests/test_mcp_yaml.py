"""YAML ``tools: {NAME: {mcp: ...}}``: a graph run owns its MCP servers' sessions; a bad mcp
block is one located line."""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.mcp_servers.loopback import require_mcp, serve_http

require_mcp()

from agentloom import load_graph  # noqa: E402
from agentloom.errors import SpecError  # noqa: E402
from agentloom.models.function import FunctionModel  # noqa: E402
from agentloom.models.types import ModelRequest  # noqa: E402
from agentloom.runstore import RunStore  # noqa: E402

pytestmark = pytest.mark.mcp

ARITH = str(Path(__file__).parent / "mcp_servers" / "arith.py")


def graph_text(tools: str) -> str:
    return textwrap.dedent("""\
        version: 1
        name: mcpdemo
        inputs:
          question: {default: "add them"}
        tools:
        %s
        nodes:
          solve:
            kind: agent
            tools: [arith, web]
            task: "{question}"
        """) % textwrap.indent(textwrap.dedent(tools), "  ")


def adder() -> FunctionModel:
    """Calls add(2, 40) and shout('mcp'), then answers with what the tools returned."""

    def respond(request: ModelRequest) -> Any:
        shown = [str(m.content) for m in request.messages if m.role == "tool"]
        if shown or request.metadata.get("final"):
            return "tools said: " + " / ".join(shown)
        names = sorted(t["function"]["name"] for t in request.tools or [])
        assert names == ["add", "shout"], names
        return {"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 40}},
                               {"name": "shout", "arguments": {"text": "mcp"}}]}

    return FunctionModel(respond)


async def test_a_graph_run_uses_stdio_and_http_mcp_servers(tmp_path: Path) -> None:
    with serve_http("arith.py") as url:
        tools = f"""\
            arith:
              mcp:
                command: [{json.dumps(sys.executable)}, {json.dumps(ARITH)}]
                allow: [add]
                timeout: 20
            web:
              mcp: {{url: "{url}", allow: [shout], timeout: 20}}
              max_concurrency: 1
            """
        path = tmp_path / "g.yaml"
        path.write_text(graph_text(tools))
        graph = load_graph(path)
        result = await graph.run({}, model=adder())
    text = json.dumps(result.output)
    assert "42" in text and "MCP" in text
    calls = [e for e in RunStore().events(result.run_id) if e["kind"] == "tool_call"]
    assert sorted((e["name"], e["status"]) for e in calls) == [("add", "ok"), ("shout", "ok")]


async def test_an_mcp_server_that_cannot_start_does_not_fail_the_graph(tmp_path: Path) -> None:
    tools = f"""\
        arith:
          mcp: {{command: [{json.dumps(sys.executable)}, -c, "raise SystemExit(4)"], timeout: 10}}
        web:
          mcp: {{command: [{json.dumps(sys.executable)}, {json.dumps(ARITH)}], allow: [shout], timeout: 20}}
        """
    path = tmp_path / "g.yaml"
    path.write_text(graph_text(tools))

    def respond(request: ModelRequest) -> Any:
        names = sorted(t["function"]["name"] for t in request.tools or [])
        return "tools offered: " + ",".join(names)

    result = await load_graph(path).run({}, model=FunctionModel(respond))
    assert "tools offered: shout" in json.dumps(result.output)
    events = RunStore().events(result.run_id)
    assert any("unavailable" in json.dumps(e.get("data")) for e in events if e["kind"] == "decision")


BAD = {
    "both_transports": ("arith:\n  mcp: {command: [srv], url: 'http://127.0.0.1:1/mcp'}\nweb: {mcp: {url: 'http://x/mcp'}}\n",
                        "exactly one"),
    "no_transport": ("arith:\n  mcp: {allow: [add]}\nweb: {mcp: {url: 'http://x/mcp'}}\n", "exactly one"),
    "bad_url": ("arith:\n  mcp: {url: 'ftp://host/mcp'}\nweb: {mcp: {url: 'http://x/mcp'}}\n", "http://"),
    "typo": ("arith:\n  mcp: {comand: [srv]}\nweb: {mcp: {url: 'http://x/mcp'}}\n", "comand"),
    "with_ref": ("arith:\n  ref: 'json:dumps'\n  mcp: {command: [srv]}\nweb: {mcp: {url: 'http://x/mcp'}}\n", "only one"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_mcp_block_is_one_located_line(case: str, tmp_path: Path) -> None:
    tools, fix = BAD[case]
    path = tmp_path / "graph.yaml"
    path.write_text(graph_text(tools))
    with pytest.raises(SpecError) as info:
        load_graph(path)
    problems = info.value.problems
    assert len(problems) == 1, problems
    match = re.match(rf"^{re.escape(str(path))}:(\d+):\d+: ", problems[0])
    assert match and 7 <= int(match.group(1)) <= 9, problems[0]
    assert fix in problems[0] and "\n" not in problems[0]

"""A small real MCP server (stdio by default, ``--http PORT`` for streamable HTTP) for the tests."""

from __future__ import annotations

import os
import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("arith", log_level="WARNING")
_calls = {"n": 0}


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()


@server.tool()
def tally() -> str:
    """How many times tally was called in this server process, and the process id."""
    _calls["n"] += 1
    return f"{_calls['n']} in {os.getpid()}"


@server.tool()
def greeting() -> str:
    """The value of the GREETING environment variable the server was started with."""
    return os.environ.get("GREETING", "unset")


@server.tool()
def crash() -> str:
    """End the server process at once (a server dying mid-run)."""
    os._exit(3)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()

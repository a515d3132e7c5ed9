"""A real MCP server that answers initialize but never answers list_tools (a hung server)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer


class Hanging(MCPServer):
    """Lists its tools never."""

    async def list_tools(self) -> list[Any]:
        await anyio.sleep(3600)
        return []


server = Hanging("hang", log_level="WARNING")


@server.tool()
def never() -> str:
    """Never listed."""
    return "unreachable"


if __name__ == "__main__":
    if os.environ.get("HANG_DIR"):  # say "I am up" so a test can see which servers run at once
        Path(os.environ["HANG_DIR"], str(os.getpid())).touch()
    server.run()

"""Tools from MCP servers: ``mcp_tools(command=[...] | url=...)`` opens one long-lived session
per server (as an async context manager, or owned by the run that uses it); servers start in
parallel and a failed server only fails its own tools. The ``mcp`` package is imported lazily."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from agentloom import tracing
from agentloom.errors import ConfigError, ToolArgumentError
from agentloom.tools.base import Tool
from agentloom.tools.mcp_session import McpServer

__all__ = ["McpServer", "McpTool", "mcp_tools", "open_each", "open_toolsets"]

_log = logging.getLogger("agentloom.mcp")


class McpTool(Tool):
    """A tool listed by an MCP server: its schema is the server's, calls go over the session.
    Never cached: an MCP tool may have side effects, so every call reaches the server."""

    def __init__(self, server: McpServer, name: str, description: str, input_schema: dict[str, Any]) -> None:
        async def call(**kwargs: Any) -> Any:
            return await server.call(name, kwargs)

        super().__init__(call, name=name, description=description or name, cache=False)
        self.server = server
        self.input_schema = dict(input_schema or {"type": "object", "properties": {}})

    def schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.input_schema},
        }

    def validate(self, args: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(args, dict):
            raise ToolArgumentError(f"invalid arguments for {self.name}: expected an object")
        props = self.input_schema.get("properties") or {}
        missing = [k for k in self.input_schema.get("required") or [] if k not in args]
        if missing:
            raise ToolArgumentError(f"invalid arguments for {self.name}: missing {', '.join(missing)}")
        if self.input_schema.get("additionalProperties") is False:
            extra = [k for k in args if k not in props]
            if extra:
                raise ToolArgumentError(f"invalid arguments for {self.name}: unexpected {', '.join(extra)}")
        return dict(args)


class mcp_tools:  # noqa: N801 - used like a function: ``async with mcp_tools(command=[...]) as tools``
    """Tools from one MCP server (``command=[...]`` for stdio or ``url=`` for streamable HTTP),
    filtered by ``allow``/``deny``. ``async with`` it for a session you own, or hand it to an
    ``Agent`` in ``tools=[...]`` and each run opens (and closes) its own session."""

    def __init__(
        self,
        *,
        command: Sequence[str] | None = None,
        url: str | None = None,
        allow: Sequence[str] | None = None,
        deny: Sequence[str] | None = None,
        timeout: float = 30.0,
        env: dict[str, str] | None = None,
    ) -> None:
        for key, names in (("allow", allow), ("deny", deny)):
            if isinstance(names, str):
                raise ConfigError(f"mcp_tools: {key} must be a list of tool names, not the string {names!r}")
        self._config: dict[str, Any] = {
            "command": command, "url": url, "allow": allow, "deny": deny, "timeout": timeout, "env": env,
        }
        self.server = McpServer(command=command, url=url, env=env, timeout=timeout)
        self.allow = set(allow) if allow is not None else None
        self.deny = set(deny or ())
        self.tools: list[Tool] = []

    @property
    def label(self) -> str:
        """The server's command line or URL."""
        return self.server.label

    @property
    def error(self) -> str | None:
        """Why this server's tools are unavailable, or None."""
        return self.server.error

    def fresh(self) -> mcp_tools:
        """A new, unopened toolset for the same server (one session per run)."""
        return mcp_tools(**self._config)

    async def __aenter__(self) -> list[Tool]:
        await self.server.start()
        self.tools = [
            McpTool(self.server, t.name, t.description or "", t.input_schema)
            for t in self.server.listed
            if (self.allow is None or t.name in self.allow) and t.name not in self.deny
        ]
        if self.error is not None:
            _log.warning("%s", self.error)
            tracing.emit("decision", "mcp", status="error", data={"action": "mcp_unavailable", "reason": self.error})
        return self.tools

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop()


@contextlib.asynccontextmanager
async def open_each(toolsets: Mapping[str, mcp_tools]) -> AsyncIterator[dict[str, list[Tool]]]:
    """Open a fresh session of each toolset, all servers starting in parallel; yield each one's
    tools by key (a failed server has none; its error is logged and recorded); close all after."""
    opened = {key: ts.fresh() for key, ts in toolsets.items()}
    if not opened:
        yield {}
        return
    try:
        lists = await asyncio.gather(*(ts.__aenter__() for ts in opened.values()))
        yield dict(zip(opened, lists, strict=True))
    finally:
        await asyncio.gather(*(ts.__aexit__(None, None, None) for ts in opened.values()), return_exceptions=True)


@contextlib.asynccontextmanager
async def open_toolsets(toolsets: Iterable[mcp_tools]) -> AsyncIterator[list[Tool]]:
    """``open_each`` for a list: yield all the tools of the servers that started."""
    async with open_each({str(i): ts for i, ts in enumerate(toolsets)}) as opened:
        yield [t for tools in opened.values() for t in tools]

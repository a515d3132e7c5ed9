"""Tools from MCP servers: one long-lived session per server, started in parallel, each server's
failure kept to its own tools (a dead or hung server answers every call with one clear error)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from typing import Any

from agentloom.errors import ConfigError, ToolArgumentError
from agentloom.tools.base import Tool

__all__ = ["McpServer", "McpTool", "mcp_tools"]


class McpServer:
    """One MCP server's session, owned by a background task so its anyio scopes open and close
    in the same task; ``error`` says why its tools are unavailable."""

    def __init__(
        self,
        *,
        command: Sequence[str] | None = None,
        url: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        if (command is None) == (url is None):
            raise ConfigError("mcp_tools: give exactly one of command=[...] or url='http://.../mcp'")
        if command is not None and not list(command):
            raise ConfigError("mcp_tools: command must name a program to run")
        self.command = list(command) if command is not None else None
        self.url = url
        self.env = env
        self.timeout = timeout
        self.label = " ".join(self.command) if self.command else str(url)
        self.session: Any = None
        self.listed: list[Any] = []
        self.error: str | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _transport(self, stack: contextlib.AsyncExitStack) -> tuple[Any, Any]:
        if self.command is not None:
            from mcp import StdioServerParameters
            from mcp.client.stdio import stdio_client

            params = StdioServerParameters(
                command=self.command[0], args=self.command[1:], env={**os.environ, **(self.env or {})}
            )
            read, write = await stack.enter_async_context(stdio_client(params))
            return read, write
        from mcp.client.streamable_http import streamable_http_client

        read, write = await stack.enter_async_context(streamable_http_client(str(self.url)))
        return read, write

    async def _run(self) -> None:
        from mcp import ClientSession

        try:
            async with contextlib.AsyncExitStack() as stack:
                read, write = await self._transport(stack)
                session = await stack.enter_async_context(ClientSession(read, write))
                await asyncio.wait_for(session.initialize(), self.timeout)
                listed = await asyncio.wait_for(session.list_tools(), self.timeout)
                self.session, self.listed = session, list(listed.tools)
                self._ready.set()
                await self._stop.wait()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - a server's failure stays with its tools
            if self.error is None:
                self.error = _describe(exc, self)
        finally:
            self.session = None
            if self.error is None and not self._stop.is_set():
                self.error = f"MCP server {self.label!r} stopped"
            self._ready.set()

    async def start(self) -> None:
        """Start the session and wait until its tools are listed, it failed, or ``timeout`` passed."""
        self._task = asyncio.create_task(self._run())
        try:
            await asyncio.wait_for(self._ready.wait(), self.timeout + 1.0)
        except TimeoutError:
            self.error = f"MCP server {self.label!r} did not list its tools within {self.timeout:g}s"
            await self.stop()

    async def stop(self) -> None:
        """End the session (and the server process, for stdio)."""
        self._stop.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), 5.0)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        except BaseException:  # noqa: BLE001 - already recorded in self.error
            pass

    async def call(self, name: str, args: dict[str, Any]) -> Any:
        """Call one tool on this server's session; a dead server raises one clear error."""
        session = self.session
        if session is None or self.error is not None:
            raise RuntimeError(self.error or f"MCP server {self.label!r} is not running")
        try:
            result = await asyncio.wait_for(session.call_tool(name, args), self.timeout)
        except TimeoutError:
            raise RuntimeError(f"MCP tool {name!r} on {self.label!r} timed out after {self.timeout:g}s") from None
        except Exception as exc:
            if self.error is None and (self._task is None or self._task.done()):
                self.error = _describe(exc, self)
            raise RuntimeError(self.error or f"MCP tool {name!r} on {self.label!r} failed: {exc}") from None
        text = "\n".join(getattr(block, "text", "") for block in result.content if getattr(block, "text", None))
        if result.is_error:
            raise RuntimeError(f"MCP tool {name!r} failed: {text or 'no message'}")
        structured = result.structured_content
        if isinstance(structured, dict) and set(structured) == {"result"}:
            return structured["result"]
        return structured if structured is not None and not text else text


def _describe(exc: BaseException, server: McpServer) -> str:
    """One line for why a server's tools are unavailable (exception groups unwrapped)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    message = str(exc) or type(exc).__name__
    return f"MCP server {server.label!r} is unavailable: {message}"


class McpTool(Tool):
    """A tool listed by an MCP server: its schema is the server's, calls go over the session."""

    def __init__(self, server: McpServer, name: str, description: str, input_schema: dict[str, Any]) -> None:
        async def call(**kwargs: Any) -> Any:
            return await server.call(name, kwargs)

        super().__init__(call, name=name, description=description or name, cacheable=False)
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
    filtered by ``allow``/``deny``; an async context manager owning the session's lifetime."""

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
        self.server = McpServer(command=command, url=url, env=env, timeout=timeout)
        self.allow = set(allow) if allow is not None else None
        self.deny = set(deny or ())
        self.tools: list[Tool] = []

    @property
    def error(self) -> str | None:
        """Why this server's tools are unavailable, or None."""
        return self.server.error

    async def __aenter__(self) -> list[Tool]:
        await self.server.start()
        self.tools = [
            McpTool(self.server, t.name, t.description or "", t.input_schema)
            for t in self.server.listed
            if (self.allow is None or t.name in self.allow) and t.name not in self.deny
        ]
        return self.tools

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop()

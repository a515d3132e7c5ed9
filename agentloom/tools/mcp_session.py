"""One MCP server's long-lived client session (stdio or streamable HTTP), owned by a background
task; its failure (cannot start, hangs, dies) is kept as one clear line for its tools' calls."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from typing import Any

from agentloom.errors import ConfigError

__all__ = ["McpServer"]


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
        if isinstance(command, str):
            raise ConfigError(f"mcp_tools: command must be a list of words, e.g. [{command!r}, ...], not a string")
        if command is not None and not list(command):
            raise ConfigError("mcp_tools: command must name a program to run")
        if url is not None and not str(url).startswith(("http://", "https://")):
            raise ConfigError(f"mcp_tools: url {url!r} must start with http:// or https://")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigError(f"mcp_tools: timeout={timeout!r} must be a positive number of seconds")
        self.command = [str(c) for c in command] if command is not None else None
        self.url = url
        self.env = dict(env or {})
        self.timeout = float(timeout)
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
                command=self.command[0], args=self.command[1:], env={**os.environ, **self.env}
            )
            read, write = await stack.enter_async_context(stdio_client(params))
            return read, write
        from mcp.client.streamable_http import streamable_http_client

        read, write = await stack.enter_async_context(streamable_http_client(str(self.url)))
        return read, write

    async def _step(self, what: str, coro: Any) -> Any:
        try:
            return await asyncio.wait_for(coro, self.timeout)
        except TimeoutError:
            self.error = f"MCP server {self.label!r} did not {what} within {self.timeout:g}s"
            raise

    async def _run(self) -> None:
        from mcp import ClientSession

        try:
            async with contextlib.AsyncExitStack() as stack:
                read, write = await self._transport(stack)
                session = await stack.enter_async_context(ClientSession(read, write))
                await self._step("answer initialize", session.initialize())
                listed = await self._step("list its tools", session.list_tools())
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
        """Start the session and wait until its tools are listed, it failed, or the timeouts passed."""
        self._task = asyncio.create_task(self._run())
        try:
            await asyncio.wait_for(self._ready.wait(), 2 * self.timeout + 1.0)
        except TimeoutError:
            self.error = self.error or f"MCP server {self.label!r} did not list its tools within {self.timeout:g}s"
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
            if not _connection_lost(exc):  # the server answered with an error: it is still up
                raise RuntimeError(f"MCP tool {name!r} on {self.label!r} failed: {exc}") from None
            if self.error is None:
                self.error = _describe(exc, self)
            self._stop.set()  # the transport is gone: end the session task, keep the error
            raise RuntimeError(self.error) from None
        text = "\n".join(getattr(block, "text", "") for block in result.content if getattr(block, "text", None))
        if result.is_error:
            raise RuntimeError(f"MCP tool {name!r} failed: {text or 'no message'}")
        structured = result.structured_content
        if isinstance(structured, dict) and set(structured) == {"result"}:
            return structured["result"]
        return structured if structured is not None else text


def _connection_lost(exc: Exception) -> bool:
    """Whether a failed call means the server is gone (closed connection, transport error),
    rather than an error the server answered with."""
    from mcp.shared.exceptions import MCPError
    from mcp_types import CONNECTION_CLOSED

    return not isinstance(exc, MCPError) or exc.code == CONNECTION_CLOSED


def _describe(exc: BaseException, server: McpServer) -> str:
    """One line for why a server's tools are unavailable (exception groups unwrapped)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    message = str(exc) or type(exc).__name__
    return f"MCP server {server.label!r} is unavailable: {message}"

"""The hook an approval gate puts in front of tool calls: ``ToolExecutor`` calls the current
gate (a context variable, set by the graph run or an ``Agent(approve=...)``) with each call's
tool name and arguments before it runs; the gate returns to let the call run, or raises to pause
or refuse it. A gate may be a coroutine function: a bare Agent's gate waits for the answer."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["ToolGate", "active", "check", "use_gate"]

ToolGate = Callable[[str, dict[str, Any]], "None | Awaitable[None]"]
_gate: ContextVar[ToolGate | None] = ContextVar("agentloom_tool_gate", default=None)


async def check(name: str, args: dict[str, Any]) -> None:
    """Ask the current gate, if any, about a call of ``name`` with ``args`` (and wait for it)."""
    gate = _gate.get()
    if gate is not None:
        answer = gate(name, args)
        if inspect.isawaitable(answer):
            await answer


def active() -> bool:
    """Whether a tool gate is in force here (work under it must not leave this process)."""
    return _gate.get() is not None


@contextmanager
def use_gate(gate: ToolGate | None) -> Iterator[None]:
    """Make ``gate`` the tool gate for the body (and every task started inside it)."""
    token = _gate.set(gate)
    try:
        yield
    finally:
        _gate.reset(token)

"""The hook an approval gate puts in front of tool calls: ``ToolExecutor`` calls the current
gate (set by the graph run or an ``Agent(approve=...)``) with each call's tool name and
arguments before it runs; the gate returns to let the call run, or raises to pause or refuse
it. A gate may be a coroutine function: a bare Agent's gate waits for the answer."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from agentloom._context_gate import GateSlot

__all__ = ["ToolGate", "active", "check", "use_gate"]

ToolGate = Callable[[str, dict[str, Any]], "None | Awaitable[None]"]
_slot: GateSlot[ToolGate] = GateSlot("agentloom_tool_gate")

#: Whether a tool gate is in force here; ``use_gate(gate)`` sets one for a block.
active = _slot.active
use_gate = _slot.use


async def check(name: str, args: dict[str, Any]) -> None:
    """Ask the current gate, if any, about a call of ``name`` with ``args`` (and wait for it)."""
    gate = _slot.current()
    if gate is not None:
        answer = gate(name, args)
        if inspect.isawaitable(answer):
            await answer

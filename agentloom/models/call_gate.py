"""The hook an approval gate puts in front of model calls: ``call_model``, ``ModelBase.complete``
and ``ModelBase.stream`` await the current gate (set by an ``Agent(approve={'spend_over': ...})``
run) once per logical call, before anything is reserved or sent. The gate returns to let the
call go on, or raises (``ApprovalDenied``) to refuse it; so a spend gate holds on every path
that spends, not only the agent's own tool loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from agentloom._context_gate import GateSlot
from agentloom.models.types import ModelRequest

__all__ = ["CallGate", "active", "check_call", "use_call_gate"]

CallGate = Callable[[ModelRequest], Awaitable[None]]
_slot: GateSlot[CallGate] = GateSlot("agentloom_model_call_gate")

#: Whether a model-call gate is in force here; ``use_call_gate(gate)`` sets one for a block.
active = _slot.active
use_call_gate = _slot.use


async def check_call(request: ModelRequest) -> None:
    """Ask the current gate, if any, about ``request`` (and wait for its answer)."""
    gate = _slot.current()
    if gate is not None:
        await gate(request)

"""The hook an approval gate puts in front of model calls: ``call_model``, ``ModelBase.complete``
and ``ModelBase.stream`` await the current gate (a context variable, set by an
``Agent(approve={'spend_over': ...})`` run) once per logical call, before anything is reserved or
sent. The gate returns to let the call go on, or raises (``ApprovalDenied``) to refuse it; so a
spend gate holds on every path that spends, not only the agent's own tool loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from agentloom.models.types import ModelRequest

__all__ = ["CallGate", "active", "check_call", "use_call_gate"]

CallGate = Callable[[ModelRequest], Awaitable[None]]
_gate: ContextVar[CallGate | None] = ContextVar("agentloom_model_call_gate", default=None)


async def check_call(request: ModelRequest) -> None:
    """Ask the current gate, if any, about ``request`` (and wait for its answer)."""
    gate = _gate.get()
    if gate is not None:
        await gate(request)


def active() -> bool:
    """Whether a model-call gate is in force here (work under it must not leave this process)."""
    return _gate.get() is not None


@contextmanager
def use_call_gate(gate: CallGate | None) -> Iterator[None]:
    """Make ``gate`` the model-call gate for the body (and every task started inside it)."""
    token = _gate.set(gate)
    try:
        yield
    finally:
        _gate.reset(token)

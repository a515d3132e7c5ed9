"""A gate slot: the hook an approval gate puts in front of one kind of step (tool calls, model
calls). Code that takes such a step asks the slot's current gate, a context variable, so a
gate set around a run holds in every task the run starts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Generic, TypeVar

__all__ = ["GateSlot"]

G = TypeVar("G", bound=Callable[..., object])


class GateSlot(Generic[G]):
    """One context variable holding the current gate of one kind (or None)."""

    def __init__(self, name: str) -> None:
        self._var: ContextVar[G | None] = ContextVar(name, default=None)

    def current(self) -> G | None:
        """The gate in force here, if any."""
        return self._var.get()

    def active(self) -> bool:
        """Whether a gate is in force here (work under it must not leave this process)."""
        return self._var.get() is not None

    @contextmanager
    def use(self, gate: G | None) -> Iterator[None]:
        """Make ``gate`` the gate for the body (and every task started inside it)."""
        token = self._var.set(gate)
        try:
            yield
        finally:
            self._var.reset(token)

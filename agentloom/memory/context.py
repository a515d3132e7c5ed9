"""The task the running code works for, as admission sees it (relevance is measured against it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["use_task", "current_task"]

_task: ContextVar[str | None] = ContextVar("agentloom_memory_task", default=None)


def current_task() -> str | None:
    """The task set by the innermost ``use_task`` around the running code, if any."""
    return _task.get()


@contextmanager
def use_task(task: str | None) -> Iterator[None]:
    """Admission decisions made inside the body judge relevance against ``task`` (the run's
    overall task, not a team's sub-question)."""
    token = _task.set(task)
    try:
        yield
    finally:
        _task.reset(token)

"""Which executor a run uses: ``AGENTLOOM_EXECUTOR`` (``--executor``) first, then the graph's
``executor:`` block, else the local one. The choice is held in a context variable, so every
branch and tool call of a run (asyncio tasks copy it) sees the same executor."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from agentloom.errors import ConfigError
from agentloom.executors.base import Executor, LocalExecutor

__all__ = ["KINDS", "current", "executor_for", "select", "use"]

KINDS = ("local", "ray")
ENV = "AGENTLOOM_EXECUTOR"

_current: ContextVar[Executor | None] = ContextVar("agentloom_executor", default=None)
_LOCAL = LocalExecutor()
_made: dict[tuple[Any, ...], Executor] = {}


def executor_for(kind: str | None = None, *, address: str | None = None, num_cpus: float | None = None,
                 max_retries: int | None = None, hosts: int | None = None, where: str = "executor") -> Executor:
    """The executor named ``kind`` (default: ``$AGENTLOOM_EXECUTOR``, else local); one instance per
    setting, so a process connects to Ray once. ``where`` names the setting in errors."""
    chosen = (kind or os.environ.get(ENV) or "local").strip().lower()
    if chosen not in KINDS:
        source = where if kind else ENV
        raise ConfigError(f"{source}: {chosen!r} is not an executor; use one of: {', '.join(KINDS)}")
    if chosen == "local":
        return _LOCAL
    key = (chosen, address, num_cpus, max_retries, hosts)
    found = _made.get(key)
    if found is None:
        from agentloom.executors._ray import RayExecutor

        found = _made[key] = RayExecutor(address, num_cpus=1.0 if num_cpus is None else num_cpus,
                                         max_retries=3 if max_retries is None else max_retries, hosts=hosts)
    return found


def select(given: str | Executor | None, *, kind: str | None = None, address: str | None = None,
           num_cpus: float | None = None, max_retries: int | None = None, hosts: int | None = None) -> Executor:
    """A run's executor: ``given`` (an argument) first, then ``$AGENTLOOM_EXECUTOR``, then the
    spec's ``kind``; with none of them, the caller's current executor. The spec's address,
    CPUs, retries and hosts apply whichever way Ray was chosen."""
    if given is not None and not isinstance(given, str):
        return given
    if given is None and kind is None and address is None:
        return current()
    return executor_for(given or os.environ.get(ENV) or kind, address=address, num_cpus=num_cpus,
                        max_retries=max_retries, hosts=hosts, where="executor" if given is None else "--executor")


def current() -> Executor:
    """The executor of the running code: the one in ``use``, else the one the environment names."""
    found = _current.get()
    if found is not None:
        return found
    return _LOCAL if not os.environ.get(ENV) else executor_for()


@contextmanager
def use(executor: Executor) -> Iterator[Executor]:
    """Run the enclosed code (and the tasks it starts) on ``executor``."""
    token = _current.set(executor)
    try:
        yield executor
    finally:
        _current.reset(token)

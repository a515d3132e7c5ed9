"""The executor seam: an ``Executor`` runs one callable somewhere (this process, or a Ray
worker) and says where it ran. Model calls, the budget and the run store stay with the caller;
only the callable's work moves."""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["Executor", "LocalExecutor", "Placement"]


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one call ran: the executor, the node and worker ids it reports, and the process."""

    executor: str
    node_id: str
    worker_id: str
    pid: int

    def as_data(self) -> dict[str, Any]:
        """A plain dict for event data (the run store keeps it)."""
        return asdict(self)


@runtime_checkable
class Executor(Protocol):
    """Runs ``fn(*args, **kwargs)`` (asking for ``num_cpus``; a lost worker is retried up to
    ``max_retries`` times) and returns ``(value, placement)``. ``remote`` says whether
    the work leaves this process (the local executor is never asked to run anything)."""

    name: str
    remote: bool

    async def call(self, fn: Callable[..., Any], /, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, *,
                   num_cpus: float | None = None, max_retries: int | None = None) -> tuple[Any, Placement]: ...

    def here(self) -> Placement:
        """This process (the driver) as a placement: for branches whose turns stay here."""
        ...

    async def call_async(self, fn: Callable[..., Any], /, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None,
                         *, relay_to: Callable[[Any], None] | None = None) -> tuple[Any, Placement]:
        """Await ``fn(*args, **kwargs)`` (a coroutine function that mostly waits, such as an agent
        branch awaiting model calls) on a long-lived async worker that runs many at once. With
        ``relay_to``, ``fn`` also gets ``send=``: what it sends reaches ``relay_to`` here while it
        runs, and all of it before this returns."""
        ...


class LocalExecutor:
    """The default: everything runs in this process (sync callables in a thread), exactly as
    without an executor. Callers skip it altogether on their hot paths (``remote`` is False)."""

    name = "local"
    remote = False

    async def call(self, fn: Callable[..., Any], /, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, *,
                   num_cpus: float | None = None, max_retries: int | None = None) -> tuple[Any, Placement]:
        if inspect.iscoroutinefunction(fn):
            value = await fn(*args, **(kwargs or {}))
        else:
            value = await asyncio.to_thread(fn, *args, **(kwargs or {}))
            if inspect.isawaitable(value):
                value = await value
        return value, Placement("local", socket.gethostname(), f"thread-{threading.get_ident()}", os.getpid())

    def here(self) -> Placement:
        return Placement("local", socket.gethostname(), f"thread-{threading.get_ident()}", os.getpid())

    async def call_async(self, fn: Callable[..., Any], /, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None,
                         *, relay_to: Callable[[Any], None] | None = None) -> tuple[Any, Placement]:
        extra = {"send": relay_to} if relay_to is not None else {}
        value = fn(*args, **(kwargs or {}), **extra)
        if inspect.isawaitable(value):
            value = await value
        return value, self.here()

    def __repr__(self) -> str:
        return "LocalExecutor()"

"""Long-lived Ray async actors that run coroutines which mostly wait (an agent branch awaiting
model calls), many at once per actor, and a mailbox actor that carries their events back to the
driver while they run. Only ``_ray`` imports this, after Ray is up."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["HostPool", "Relay"]

#: Seconds a worker gathers events before sending them to the driver in one batch.
SEND_EVERY_S = 0.05
#: Seconds the driver's pump waits on the mailbox for the first event of a batch.
TAKE_WAIT_S = 0.2


class _Sender:
    """The worker's end of the relay: a sync callable (an event listener) that batches what it
    is given and puts the batches in the driver's mailbox, in order."""

    def __init__(self, mailbox: Any, route: str) -> None:
        self.mailbox = mailbox
        self.route = route
        self._buffer: list[Any] = []
        self._timer: asyncio.TimerHandle | None = None
        self._last: asyncio.Future[Any] | None = None

    def __call__(self, item: Any) -> None:
        self._buffer.append(item)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(SEND_EVERY_S, self._flush)

    def _flush(self) -> None:
        self._timer = None
        batch, self._buffer = self._buffer, []
        if batch:
            previous = self._last
            self._last = asyncio.ensure_future(self._put(previous, batch))

    async def _put(self, previous: asyncio.Future[Any] | None, batch: list[Any]) -> None:
        if previous is not None:  # batches reach the mailbox in the order they were made
            await asyncio.shield(previous)
        await self.mailbox.put.remote(self.route, batch)

    async def close(self) -> None:
        """Send what is buffered and wait until every batch is in the mailbox."""
        if self._timer is not None:
            self._timer.cancel()
        self._flush()
        if self._last is not None:
            await self._last


class _Host:
    """An async actor: each ``run`` awaits one coroutine function; many run at once."""

    async def run(self, fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any], mailbox: Any,
                  route: str | None) -> tuple[Any, tuple[str, str, int]]:
        import ray

        send = _Sender(mailbox, route) if mailbox is not None and route is not None else None
        try:
            value = fn(*args, **kwargs, **({"send": send} if send is not None else {}))
            if inspect.isawaitable(value):
                value = await value
        finally:
            if send is not None:
                await send.close()
        context = ray.get_runtime_context()
        return value, (context.get_node_id(), context.get_worker_id(), os.getpid())


class _Mailbox:
    """An async actor holding relayed items until the driver takes them. A take names the routes
    it serves, so a take left over from a finished event loop never takes another call's items;
    items nobody took within ``KEEP_S`` (their driver died) are dropped."""

    KEEP_S = 600.0

    def __init__(self) -> None:
        self._items: list[tuple[float, str, list[Any]]] = []
        self._ready = asyncio.Event()

    async def put(self, route: str, batch: list[Any]) -> None:
        self._items.append((time.monotonic(), route, batch))
        self._ready.set()

    def _mine(self, routes: frozenset[str]) -> list[tuple[str, list[Any]]]:
        stale = time.monotonic() - self.KEEP_S
        mine = [(route, batch) for _, route, batch in self._items if route in routes]
        self._items = [item for item in self._items if item[1] not in routes and item[0] > stale]
        return mine

    async def take(self, routes: frozenset[str], wait: float) -> list[tuple[str, list[Any]]]:
        deadline = time.monotonic() + wait
        mine = self._mine(routes)
        while not mine and time.monotonic() < deadline:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                break
            mine = self._mine(routes)
        return mine


class HostPool:
    """A fixed number of ``_Host`` actors spread over the cluster; each call goes to the one
    with the fewest calls in flight. The actors ask for no CPU (they wait on I/O; CPU-heavy
    tools ask for their own). Ray restarts a dead host every time (a host serves many runs) and
    re-runs each call it was running up to ``max_retries`` times."""

    def __init__(self, ray: Any, size: int, max_retries: int) -> None:
        self.ray = ray
        self.size = max(1, size)
        self.max_retries = max_retries
        self._host = ray.remote(_Host)
        self._actors: list[Any] = []
        self._busy: list[int] = []

    def _spawn(self) -> Any:
        return self._host.options(num_cpus=0, max_concurrency=1000, max_restarts=-1,
                                  max_task_retries=self.max_retries, scheduling_strategy="SPREAD").remote()

    def pick(self) -> int:
        """The index of the least busy actor (started on first use)."""
        while len(self._actors) < self.size:
            self._actors.append(self._spawn())
            self._busy.append(0)
        return min(range(self.size), key=self._busy.__getitem__)

    async def call(self, fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any], mailbox: Any,
                   route: str | None) -> tuple[Any, tuple[str, str, int]]:
        index = self.pick()
        actor = self._actors[index]
        self._busy[index] += 1
        try:
            ref = actor.run.remote(fn, tuple(args), dict(kwargs), mailbox, route)
            try:
                return await asyncio.wrap_future(ref.future())  # type: ignore[no-any-return]
            except asyncio.CancelledError:
                self.ray.cancel(ref)
                raise
            except self.ray.exceptions.RayActorError:  # past its restarts: a fresh actor for later calls
                if self._actors[index] is actor:
                    self._actors[index] = self._spawn()
                raise
        finally:
            self._busy[index] -= 1


class Relay:
    """The driver's end: one mailbox actor per executor; in each event loop, a pump that runs
    while calls are in flight and hands each item to the callback of the call it came from."""

    def __init__(self, ray: Any) -> None:
        self.mailbox = ray.remote(_Mailbox).options(num_cpus=0).remote()
        self._routes: dict[str, Callable[[Any], None]] = {}
        self._ids = itertools.count()
        self._pumps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pump] = weakref.WeakKeyDictionary()

    def open(self, deliver: Callable[[Any], None]) -> str:
        """A route for one call's items; its pump starts if it is not running."""
        route = f"{os.getpid()}-{next(self._ids)}"
        self._routes[route] = deliver
        loop = asyncio.get_running_loop()
        pump = self._pumps.get(loop)
        if pump is None:
            pump = self._pumps[loop] = _Pump(self)
        pump.start()
        return route

    async def close(self, route: str) -> None:
        """Deliver every item the call sent (it finished sending before it returned), then
        forget its route."""
        pump = self._pumps.get(asyncio.get_running_loop())
        try:
            if pump is not None:
                await pump.take(0)
        finally:
            self._routes.pop(route, None)

    def deliver(self, batches: list[tuple[str, list[Any]]]) -> None:
        for route, items in batches:
            to = self._routes.get(route)
            if to is not None:
                for item in items:
                    to(item)


class _Pump:
    """Takes from the mailbox while any route is open (one take at a time, in order)."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.lock = asyncio.Lock()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._run())

    async def take(self, wait: float) -> None:
        async with self.lock:
            routes = frozenset(self.relay._routes)
            if routes:
                self.relay.deliver(await self.relay.mailbox.take.remote(routes, wait))

    async def _run(self) -> None:
        while self.relay._routes:
            await self.take(TAKE_WAIT_S)

"""``map_process_reduce``: fan out without a model deciding — decompose, process every part
concurrently (bounded), then reduce.

Inside a run each branch is a span (its events nest under it, its ``branch`` event is buffered,
not flushed one by one) with its own child budget; outside a run it is plain asyncio, so the
overhead over a bare ``asyncio.gather`` stays small (see bench/bench_fanout.py).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Literal, TypeVar

from agentloom import tracing
from agentloom.errors import ConfigError

__all__ = ["map_process_reduce", "BranchError"]

T = TypeVar("T")
R = TypeVar("R")


class BranchError:
    """A failed branch, kept in place when ``on_error="keep"``."""

    __slots__ = ("index", "item", "error")

    def __init__(self, index: int, item: Any, error: BaseException) -> None:
        self.index = index
        self.item = item
        self.error = error

    def __repr__(self) -> str:
        return f"BranchError({self.index}, {type(self.error).__name__}: {self.error})"


async def _resolve(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def map_process_reduce(
    items_or_decompose: Iterable[T] | Callable[[], Iterable[T] | Awaitable[Iterable[T]]],
    process: Callable[[T], R | Awaitable[R]],
    reduce: Callable[[list[R]], Any] | None = None,
    *,
    concurrency: int = 16,
    on_error: Literal["raise", "skip", "keep"] = "raise",
    name: str = "map",
) -> Any:
    """Run ``process`` over the items (or over what ``decompose()`` returns), at most
    ``concurrency`` at a time, and return ``reduce(results)`` (the list when no reducer).

    Results keep the items' order. ``on_error``: ``raise`` cancels the other branches and
    re-raises the first error; ``skip`` drops failed branches; ``keep`` leaves a
    ``BranchError`` in their place. Sync and async callables are both accepted.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigError(f"concurrency={concurrency!r} must be a whole number of at least 1")
    if on_error not in ("raise", "skip", "keep"):
        raise ConfigError(f"on_error={on_error!r} must be 'raise', 'skip' or 'keep'")
    source = items_or_decompose() if callable(items_or_decompose) else items_or_decompose
    items = list(await _resolve(source))
    ctx = tracing.current()
    if ctx is not None:
        tracing.emit("decision", name, data={"branches": len(items), "concurrency": concurrency,
                                             "reason": f"map {len(items)} part(s), {min(concurrency, max(1, len(items)))} at a time"})
    mapper = _Mapper(process, concurrency if concurrency < len(items) else None, ctx, name)
    tasks = [asyncio.ensure_future(mapper.branch(i, item)) for i, item in enumerate(items)]
    results = await _gather(tasks, items, on_error, name)
    if ctx is not None and mapper.durations:
        ordered = sorted(mapper.durations)
        tracing.emit("map", name, data={"branches": len(items), "ok": len(results) if on_error != "keep" else sum(not isinstance(r, BranchError) for r in results),
                                        "duration_median_s": round(ordered[len(ordered) // 2], 6), "duration_max_s": round(ordered[-1], 6)})
    if reduce is None:
        return results
    return await _resolve(reduce(results))


class _Mapper:
    """Runs ``process`` on one item as a branch: under the concurrency gate (``limit``; None
    when every item fits at once) and, inside a run, in a light span with its own child budget."""

    def __init__(self, process: Callable[[Any], Any], limit: int | None, ctx: tracing.RunContext | None, name: str) -> None:
        self.process = process
        self.gate = asyncio.Semaphore(limit) if limit is not None else None
        self.is_async = inspect.iscoroutinefunction(process)
        self.ctx = ctx
        self.name = name
        self.durations: list[float] = []

    async def work(self, item: Any) -> Any:
        if self.gate is None:
            return await self.process(item) if self.is_async else await _resolve(self.process(item))
        async with self.gate:
            return await _resolve(self.process(item))

    async def branch(self, index: int, item: Any) -> Any:
        ctx = self.ctx
        if ctx is None:  # outside a run: plain asyncio
            return await self.work(item)
        # A light span: events inside nest under the branch, which has its own child budget.
        # The branch's own event is written only when something inside it was recorded (or it
        # failed); quiet branches are summed up in one ``map`` event, so a wide fan-out of cheap
        # work does not pay a run-store row per branch.
        label = f"{self.name}[{index}]"
        span_id = tracing.new_span_id()
        recorded: list[bool] = []
        listeners = [*ctx.listeners, lambda _event: recorded.append(True)]
        budget = ctx.budget.child(label) if ctx.budget is not None else None
        branch_ctx = ctx.derive(span_id=span_id, budget=budget, listeners=listeners)
        start, status, error = time.time(), "ok", None
        if ctx.listeners:  # live consumers see every branch start and end; the store only busy ones
            tracing.emit("branch_start", label, start=start, end=start, data={"index": index}, span_id=span_id, ctx=ctx)
        try:
            with tracing.use(branch_ctx):
                return await self.work(item)
        except BaseException as exc:
            status = "cancelled" if isinstance(exc, asyncio.CancelledError) else "error"
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.durations.append(time.time() - start)
            if recorded or status != "ok" or ctx.listeners:
                tracing.emit("branch", label, start=start, status=status, data={"index": index}, error=error, span_id=span_id,
                             ctx=ctx if recorded or status != "ok" else ctx.derive(store=None))


async def _gather(tasks: Sequence[asyncio.Future[Any]], items: list[Any], on_error: str, name: str) -> list[Any]:
    """The branches' results in item order. ``raise``: the first error cancels the rest and is
    re-raised; ``skip`` drops failed branches; ``keep`` leaves a ``BranchError`` in their place."""
    if on_error == "raise":
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
    raw = await asyncio.gather(*tasks, return_exceptions=True)
    results: list[Any] = []
    for i, value in enumerate(raw):
        if isinstance(value, BaseException):
            if isinstance(value, asyncio.CancelledError | KeyboardInterrupt):
                raise value
            tracing.emit("branch_error", f"{name}[{i}]", status="error", error=f"{type(value).__name__}: {value}")
            if on_error == "keep":
                results.append(BranchError(i, items[i], value))
            continue
        results.append(value)
    return results

"""``ToolExecutor``: runs a batch of tool calls, or a DAG whose arguments reference earlier
results, as fast as dependencies allow.

Every task is an asyncio task that awaits exactly its dependencies' futures, then a slot under
the global cap and the tool's own limit: a task starts the moment its inputs exist, with no
polling and no superstep barrier. Work beyond the caps waits in the semaphores' queues; it is
never rejected. A failure becomes that call's error result; siblings finish. Cancelling the
caller cancels every task it started and releases their budget reservations.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from agentloom import executors, tracing
from agentloom.budget import Cost
from agentloom.errors import BudgetExceeded, ConfigError
from agentloom.models.types import ToolCall
from agentloom.tools.base import Tool, ToolArgumentError, ToolResult
from agentloom.tools.gate import check as gate_check

__all__ = ["ToolExecutor", "Task", "ToolCache", "resolve_references", "references_in"]

_REF = re.compile(r"\$(\w+)((?:\.\w+)*)")
_pool: ThreadPoolExecutor | None = None


def _thread_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="agentloom-tool")
    return _pool


@runtime_checkable
class ToolCache(Protocol):
    """What the executor asks before running a call (the memory bank implements it):
    return a stored result, join an identical call already in flight, or run ``execute``."""

    async def call(self, tool: Tool, args: dict[str, Any], execute: Callable[[], Awaitable[ToolResult]]) -> ToolResult: ...


@dataclass(slots=True)
class Task:
    """One node of a tool DAG. ``args`` may hold ``$id`` / ``$id.field`` references to earlier
    tasks' results; those tasks are dependencies whether or not they are listed in ``deps``."""

    id: str
    tool: str
    args: dict[str, Any] = field(default_factory=dict)
    deps: list[str] = field(default_factory=list)


def references_in(value: Any) -> set[str]:
    """Task ids referenced as ``$id`` anywhere inside ``value``."""
    found: set[str] = set()
    if isinstance(value, str):
        found.update(m.group(1) for m in _REF.finditer(value))
    elif isinstance(value, dict):
        for v in value.values():
            found |= references_in(v)
    elif isinstance(value, list | tuple):
        for v in value:
            found |= references_in(v)
    return found


def _lookup(value: Any, path: str) -> Any:
    for part in [p for p in path.split(".") if p]:
        if isinstance(value, dict):
            if part not in value:
                raise KeyError(f"no field '{part}' in the result")
            value = value[part]
        elif isinstance(value, list | tuple) and part.isdigit():
            value = value[int(part)]
        else:
            value = getattr(value, part)
    return value


def resolve_references(value: Any, results: dict[str, Any]) -> Any:
    """Replace ``$id`` / ``$id.field`` with earlier results: a whole-string reference keeps the
    value's type; a reference inside longer text is substituted as text."""
    if isinstance(value, str):
        whole = _REF.fullmatch(value.strip())
        if whole:
            return _lookup(results[whole.group(1)], whole.group(2))

        def text(match: re.Match[str]) -> str:
            found = _lookup(results[match.group(1)], match.group(2))
            return found if isinstance(found, str) else json.dumps(found, default=str)

        return _REF.sub(text, value)
    if isinstance(value, dict):
        return {k: resolve_references(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_references(v, results) for v in value]
    return value


async def _remote_call(executor: executors.Executor, tool: Tool, kwargs: dict[str, Any]) -> Any:
    """A ``remote=True`` tool's call on the executor; the run store records where it ran."""
    value, where = await executor.call(tool.fn, (), kwargs, num_cpus=tool.num_cpus)
    tracing.emit("placement", tool.name, data={"what": "tool", **where.as_data()})
    return value


_cache_types: dict[type, bool] = {}


def _as_cache(value: Any) -> ToolCache | None:
    """``value`` if it implements ToolCache. The Protocol isinstance check costs ~20 us, so it
    is done once per type rather than on every call."""
    if value is None:
        return None
    kind = type(value)
    ok = _cache_types.get(kind)
    if ok is None:
        ok = _cache_types[kind] = isinstance(value, ToolCache)
    return value if ok else None


class ToolExecutor:
    """Runs tool calls concurrently under a global cap and per-tool limits, with timeouts,
    retries and recording. ``cache`` (a memory bank) may serve or coalesce identical calls."""

    def __init__(
        self,
        tools: Iterable[Tool],
        *,
        max_concurrency: int = 16,
        default_timeout: float | None = None,
        cache: ToolCache | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ConfigError(f"max_concurrency={max_concurrency} must be at least 1")
        self.tools: dict[str, Tool] = {}
        for t in tools:
            if not isinstance(t, Tool):
                raise ConfigError(f"{t!r} is not a Tool; decorate the function with @agentloom.tool")
            self.tools[t.name] = t
        self.max_concurrency = max_concurrency
        self.default_timeout = default_timeout
        self.cache = cache
        self._global: dict[int, asyncio.Semaphore] = {}
        self._futures: dict[str, asyncio.Task[ToolResult]] = {}

    # ----------------------------------------------------------------- public API
    async def run_batch(self, calls: Sequence[ToolCall]) -> list[ToolResult]:
        """Run independent calls concurrently; results come back in the calls' order."""
        tasks = [asyncio.ensure_future(self.run_call(call)) for call in calls]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def run_call(self, call: ToolCall) -> ToolResult:
        """Run one model-issued call; malformed JSON arguments become an error result."""
        try:
            args = call.args()
        except ValueError as exc:
            now = time.time()
            result = ToolResult(call.id, call.name, {}, ok=False, error=f"arguments are not a JSON object: {exc}",
                                error_type="ToolArgumentError", started=now, ended=now, attempts=0)
            self._record(result)
            return result
        return await self.run(call.name, args, call_id=call.id)

    def submit(self, task: Task) -> asyncio.Task[ToolResult]:
        """Start a DAG task now; it waits only for its own dependencies. Tasks must be
        submitted after the tasks they depend on (as a streaming planner emits them)."""
        if task.id in self._futures:
            raise ConfigError(f"task id {task.id} was already submitted")
        deps = set(task.deps) | references_in(task.args)
        missing = sorted(d for d in deps if d not in self._futures)
        future = asyncio.ensure_future(self._run_task(task, deps, missing))
        self._futures[task.id] = future
        return future

    async def run_dag(self, tasks: Iterable[Task]) -> dict[str, ToolResult]:
        """Submit every task in order and wait for all of them."""
        futures = {t.id: self.submit(t) for t in tasks}
        try:
            done = await asyncio.gather(*futures.values())
        except BaseException:
            for f in futures.values():
                f.cancel()
            await asyncio.gather(*futures.values(), return_exceptions=True)
            raise
        return dict(zip(futures, done, strict=True))

    def result_of(self, task_id: str) -> ToolResult | None:
        """A finished DAG task's result (None while it runs or if unknown)."""
        future = self._futures.get(task_id)
        return future.result() if future is not None and future.done() and not future.cancelled() else None

    async def cancel_all(self) -> None:
        for future in self._futures.values():
            future.cancel()
        await asyncio.gather(*self._futures.values(), return_exceptions=True)

    # ----------------------------------------------------------------- internals
    async def _run_task(self, task: Task, deps: set[str], missing: list[str]) -> ToolResult:
        call_id = task.id
        if missing:
            return self._failed(call_id, task.tool, task.args, f"task {task.id} depends on unknown task(s) {', '.join(missing)}", "PlanError")
        dep_results: dict[str, ToolResult] = {}
        if deps:
            # asyncio.wait, not gather: cancelling this task must not cancel shared dependencies
            ordered = sorted(deps)
            futures = [self._futures[d] for d in ordered]
            await asyncio.wait(futures)
            for dep_id, fut in zip(ordered, futures, strict=True):
                if fut.cancelled():
                    dep_results[dep_id] = ToolResult(dep_id, "", ok=False, error="cancelled", error_type="Cancelled")
                elif (exc := fut.exception()) is not None:
                    dep_results[dep_id] = ToolResult(dep_id, "", ok=False, error=repr(exc), error_type=type(exc).__name__)
                else:
                    dep_results[dep_id] = fut.result()
        failed = [d for d, r in dep_results.items() if not r.ok]
        if failed:
            return self._failed(call_id, task.tool, task.args, f"skipped: dependency {', '.join(failed)} failed", "DependencyFailed")
        try:
            args = resolve_references(task.args, {d: r.value for d, r in dep_results.items()})
        except (KeyError, IndexError, AttributeError, TypeError) as exc:
            return self._failed(call_id, task.tool, task.args, f"cannot resolve a reference: {exc}", "ToolArgumentError")
        return await self.run(task.tool, args, call_id=call_id)

    def _failed(self, call_id: str, name: str, args: dict[str, Any], error: str, error_type: str) -> ToolResult:
        now = time.time()
        result = ToolResult(call_id, name, args, ok=False, error=error, error_type=error_type, started=now, ended=now, attempts=0)
        self._record(result)
        return result

    def _global_semaphore(self) -> asyncio.Semaphore:
        loop_id = id(asyncio.get_running_loop())
        sem = self._global.get(loop_id)
        if sem is None:
            sem = self._global[loop_id] = asyncio.Semaphore(self.max_concurrency)
        return sem

    async def run(self, name: str, args: dict[str, Any], *, call_id: str | None = None) -> ToolResult:
        """Validate and run one call by tool name, through the cache when there is one."""
        call_id = call_id or uuid.uuid4().hex[:12]
        tool = self.tools.get(name)
        if tool is None:
            known = ", ".join(sorted(self.tools)) or "none"
            return self._failed(call_id, name, args, f"unknown tool '{name}'; available tools: {known}", "UnknownTool")
        try:
            kwargs = tool.validate(args)
        except ToolArgumentError as exc:
            return self._failed(call_id, name, args, str(exc), "ToolArgumentError")
        await gate_check(name, kwargs)  # an approval gate may pause the run here, or refuse the call
        cache = self.cache
        if cache is None:
            ctx = tracing.current()
            cache = _as_cache(ctx.memory) if ctx is not None else None
        if cache is not None and tool.cacheable:
            try:
                result = await cache.call(tool, kwargs, lambda: self._execute(tool, kwargs, call_id, record=False))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a broken cache fails this call alone, never its siblings
                return self._failed(call_id, name, kwargs, f"memory bank failed: {exc}", type(exc).__name__)
            result.call_id = call_id
            self._record(result)
            return result
        return await self._execute(tool, kwargs, call_id)

    async def _execute(self, tool: Tool, kwargs: dict[str, Any], call_id: str, *, record: bool = True) -> ToolResult:
        ctx = tracing.current()
        budget = ctx.budget if ctx is not None else None
        started = time.time()
        try:
            reservation = budget.reserve(Cost(tool_calls=1), what=f"tool {tool.name}") if budget is not None else None
        except BudgetExceeded as exc:
            result = ToolResult(call_id, tool.name, kwargs, ok=False, error=str(exc), error_type="BudgetExceeded",
                                started=started, ended=time.time(), attempts=0)
            if record:
                self._record(result)
            return result
        if record and ctx is not None and ctx.listeners:
            tracing.emit("tool_start", tool.name, start=started, end=started, data={"call_id": call_id})
        tool_sem = tool.semaphore()
        global_sem = self._global_semaphore()
        attempts = 0
        error: BaseException | None = None
        value: Any = None
        try:
            # the tool's own slot first: a call queued behind its tool's limit must not hold a
            # global slot that calls to other tools could use
            if tool_sem is not None:
                await tool_sem.acquire()
            try:
                async with global_sem:
                    started = time.time()
                    for attempts in range(1, tool.retries + 2):
                        try:
                            value = await self._invoke(tool, kwargs)
                            error = None
                            break
                        except asyncio.CancelledError:
                            raise
                        except Exception as exc:
                            error = exc
                            if attempts <= tool.retries:
                                await asyncio.sleep(min(0.05 * 2 ** (attempts - 1), 1.0))
            finally:
                if tool_sem is not None:
                    tool_sem.release()
        except asyncio.CancelledError:
            if reservation is not None:
                reservation.release()
            if record:
                self._record(ToolResult(call_id, tool.name, kwargs, ok=False, error="cancelled", error_type="Cancelled",
                                        started=started, ended=time.time(), attempts=attempts))
            raise
        figures: dict[str, Any] | None = None
        if reservation is not None:
            reservation.settle(Cost(tool_calls=1))
            figures = reservation.figures(Cost(tool_calls=1))
        ended = time.time()
        if error is not None:
            if isinstance(error, TimeoutError):
                message = f"timed out after {tool.timeout or self.default_timeout}s"
            else:
                message = str(error) or type(error).__name__
            result = ToolResult(call_id, tool.name, kwargs, ok=False, error=message, error_type=type(error).__name__,
                                started=started, ended=ended, attempts=attempts)
        else:
            result = ToolResult(call_id, tool.name, kwargs, ok=True, value=value, started=started, ended=ended, attempts=attempts)
        if record:
            self._record(result, figures)
        return result

    async def _invoke(self, tool: Tool, kwargs: dict[str, Any]) -> Any:
        timeout = tool.timeout if tool.timeout is not None else self.default_timeout
        executor = executors.current() if tool.remote else None
        coro: Awaitable[Any]
        if executor is not None and executor.remote:
            coro = _remote_call(executor, tool, kwargs)
        elif tool.is_async:
            coro = tool.fn(**kwargs)
        else:
            loop = asyncio.get_running_loop()
            ctx = contextvars.copy_context()
            coro = loop.run_in_executor(_thread_pool(), lambda: ctx.run(tool.fn, **kwargs))
        if timeout is None:
            return await coro
        async with asyncio.timeout(timeout):
            return await coro

    @staticmethod
    def _record(result: ToolResult, budget: dict[str, Any] | None = None) -> None:
        ctx = tracing.current()
        if ctx is None:
            return
        if result.cached:
            status = "cached"
        elif result.coalesced:
            status = "coalesced"
        elif result.error_type == "Cancelled":
            status = "cancelled"
        else:
            status = "ok" if result.ok else "error"
        args_text = json.dumps(result.args, default=str)
        tracing.emit(
            "tool_call",
            result.name,
            start=result.started,
            end=result.ended,
            status=status,
            data={
                "call_id": result.call_id,
                "args": args_text if len(args_text) <= 2000 else args_text[:2000] + "...",
                "size": len(result.content()) if result.ok else 0,
                "attempts": result.attempts,
                "memory_id": result.memory_id,
                **(budget or {}),
            },
            error=result.error if not result.ok else None,
        )

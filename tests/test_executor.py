"""ToolExecutor: batch concurrency, caps, failures, timeouts, retries, DAG dataflow without
a superstep barrier, cancellation, budget and recording."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

from agentloom import tracing
from agentloom.budget import Budget
from agentloom.errors import ConfigError
from agentloom.models.types import ToolCall
from agentloom.runstore import RunStore
from agentloom.tools import Task, Tool, ToolExecutor, ToolResult, tool


def call(name: str, cid: str | None = None, **args: Any) -> ToolCall:
    return ToolCall(cid or f"{name}-{json.dumps(args, sort_keys=True)}", name, json.dumps(args))


class Gauge:
    """Counts how many calls run at once and remembers the peak."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.lock = threading.Lock()

    def __enter__(self) -> Gauge:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        return self

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


# ----------------------------------------------------------------------------- batches
async def test_batch_runs_concurrently_and_keeps_order() -> None:
    @tool
    async def nap(i: int) -> int:
        await asyncio.sleep(0.2)
        return i * 10

    executor = ToolExecutor([nap], max_concurrency=64)
    started = time.perf_counter()
    results = await executor.run_batch([call("nap", i=i) for i in range(20)])
    elapsed = time.perf_counter() - started
    assert [r.value for r in results] == [i * 10 for i in range(20)]
    assert all(r.ok and r.attempts == 1 for r in results)
    # 20 sequential naps would take 4 s; concurrently they take about one nap
    assert elapsed < 1.0


async def test_sync_tools_run_in_threads_concurrently() -> None:
    @tool
    def blocking(i: int) -> str:
        time.sleep(0.2)
        return threading.current_thread().name

    executor = ToolExecutor([blocking])
    started = time.perf_counter()
    results = await executor.run_batch([call("blocking", i=i) for i in range(6)])
    assert time.perf_counter() - started < 1.0
    assert all(r.ok for r in results)
    assert all(r.value != threading.current_thread().name for r in results)


async def test_global_cap_queues_work_and_never_exceeds_it() -> None:
    gauge = Gauge()

    @tool
    async def work(i: int) -> int:
        with gauge:
            await asyncio.sleep(0.02)
        return i

    executor = ToolExecutor([work], max_concurrency=3)
    results = await executor.run_batch([call("work", i=i) for i in range(15)])
    assert all(r.ok for r in results), "work beyond the cap is queued, never rejected"
    assert gauge.peak == 3


async def test_per_tool_limit_is_respected_under_a_larger_global_cap() -> None:
    limited_gauge, free_gauge = Gauge(), Gauge()

    @tool(max_concurrency=2)
    async def limited(i: int) -> int:
        with limited_gauge:
            await asyncio.sleep(0.02)
        return i

    @tool
    async def free(i: int) -> int:
        with free_gauge:
            await asyncio.sleep(0.02)
        return i

    executor = ToolExecutor([limited, free], max_concurrency=10)
    calls = [call("limited", i=i) for i in range(8)] + [call("free", i=i) for i in range(8)]
    results = await executor.run_batch(calls)
    assert all(r.ok for r in results)
    assert limited_gauge.peak == 2
    assert free_gauge.peak == 8  # the limited tool's queue does not hold back the others


async def test_per_tool_limit_is_shared_between_executors() -> None:
    gauge = Gauge()

    @tool(max_concurrency=1)
    async def single(i: int) -> int:
        with gauge:
            await asyncio.sleep(0.01)
        return i

    a, b = ToolExecutor([single]), ToolExecutor([single])
    await asyncio.gather(a.run_batch([call("single", i=i) for i in range(4)]), b.run_batch([call("single", i=i) for i in range(4)]))
    assert gauge.peak == 1


async def test_a_failing_call_does_not_affect_its_siblings() -> None:
    @tool
    async def maybe(i: int) -> int:
        await asyncio.sleep(0.01 * (i % 3))
        if i == 2:
            raise RuntimeError("disk on fire")
        return i

    executor = ToolExecutor([maybe])
    results = await executor.run_batch([call("maybe", i=i) for i in range(5)])
    assert [r.ok for r in results] == [True, True, False, True, True]
    bad = results[2]
    assert bad.error == "disk on fire" and bad.error_type == "RuntimeError"
    assert json.loads(bad.content()) == {"error": "disk on fire", "type": "RuntimeError"}
    assert [r.value for r in results if r.ok] == [0, 1, 3, 4]


async def test_timeouts_per_tool_and_default() -> None:
    @tool(timeout=0.05)
    async def stuck() -> str:
        await asyncio.sleep(5)
        return "never"

    @tool
    async def slow() -> str:
        await asyncio.sleep(5)
        return "never"

    @tool
    async def quick() -> str:
        return "done"

    executor = ToolExecutor([stuck, slow, quick], default_timeout=0.1)
    started = time.perf_counter()
    results = await executor.run_batch([call("stuck"), call("slow"), call("quick")])
    assert time.perf_counter() - started < 2.0
    assert results[0].error_type == "TimeoutError" and "0.05" in (results[0].error or "")
    assert results[1].error_type == "TimeoutError" and "0.1" in (results[1].error or "")
    assert results[2].ok and results[2].value == "done"


async def test_sync_tool_timeout() -> None:
    @tool(timeout=0.05)
    def sleepy() -> str:
        time.sleep(0.5)
        return "late"

    [result] = await ToolExecutor([sleepy]).run_batch([call("sleepy")])
    assert not result.ok and result.error_type == "TimeoutError"


async def test_retries_until_success_and_until_exhausted() -> None:
    attempts: dict[str, int] = {}

    def flaky_body(key: str, failures: int) -> str:
        attempts[key] = attempts.get(key, 0) + 1
        if attempts[key] <= failures:
            raise ConnectionError(f"attempt {attempts[key]} failed")
        return f"{key} ok"

    @tool(retries=2)
    async def flaky(key: str, failures: int) -> str:
        return flaky_body(key, failures)

    executor = ToolExecutor([flaky])
    results = await executor.run_batch([call("flaky", key="a", failures=2), call("flaky", key="b", failures=5)])
    assert results[0].ok and results[0].value == "a ok" and results[0].attempts == 3
    assert not results[1].ok and results[1].attempts == 3 and results[1].error == "attempt 3 failed"
    assert attempts == {"a": 3, "b": 3}


async def test_unknown_tool_and_bad_json_become_error_results() -> None:
    @tool
    async def known() -> int:
        return 1

    executor = ToolExecutor([known])
    results = await executor.run_batch(
        [call("nope"), ToolCall("x", "known", "[1, 2]"), ToolCall("y", "known", "{not json"), call("known")]
    )
    assert results[0].error_type == "UnknownTool" and "known" in (results[0].error or "")
    assert results[1].error_type == "ToolArgumentError"
    assert results[2].error_type == "ToolArgumentError"
    assert results[3].ok and results[3].value == 1


async def test_invalid_arguments_are_a_structured_error_not_an_exception() -> None:
    ran: list[int] = []

    @tool
    async def square(n: int) -> int:
        ran.append(n)
        return n * n

    executor = ToolExecutor([square])
    results = await executor.run_batch([call("square", n="many"), call("square", m=2), call("square", n=3)])
    assert results[0].error_type == "ToolArgumentError" and "n" in (results[0].error or "")
    assert results[1].error_type == "ToolArgumentError"
    assert results[2].value == 9
    assert ran == [3]


def test_executor_rejects_non_tools_and_bad_caps() -> None:
    async def plain() -> None:
        return None

    with pytest.raises(ConfigError):
        ToolExecutor([plain])  # type: ignore[list-item]
    with pytest.raises(ConfigError):
        ToolExecutor([], max_concurrency=0)


# ----------------------------------------------------------------------------- DAGs
async def test_dag_has_no_superstep_barrier() -> None:
    """A fast chain F1 -> F2 -> F3 completes while its slow sibling S is still running: S waits
    until F3 has run, so a level-by-level scheduler (F2 only after S) would never finish."""
    log: list[str] = []
    release = asyncio.Event()

    @tool
    async def slow(name: str) -> str:
        log.append(f"start {name}")
        await release.wait()
        log.append(f"end {name}")
        return name

    @tool
    async def fast(name: str, after: str = "") -> str:
        log.append(f"start {name}")
        await asyncio.sleep(0)
        if name == "F3":
            release.set()
        log.append(f"end {name}")
        return name

    @tool
    async def join(parts: list[str]) -> str:
        log.append("start J")
        return "+".join(parts)

    executor = ToolExecutor([slow, fast, join])
    tasks = [
        Task("S", "slow", {"name": "S"}),
        Task("F1", "fast", {"name": "F1"}),
        Task("F2", "fast", {"name": "F2", "after": "$F1"}),
        Task("F3", "fast", {"name": "F3", "after": "$F2"}),
        Task("J", "join", {"parts": ["$S", "$F3"]}),
    ]
    results = await asyncio.wait_for(executor.run_dag(tasks), timeout=5)
    assert results["J"].value == "S+F3"
    assert log.index("end F3") < log.index("end S")
    assert log.index("start F2") < log.index("end S")
    assert log.index("start J") > max(log.index("end S"), log.index("end F3"))


async def test_dag_task_starts_when_its_own_dependencies_finish() -> None:
    """Uneven diamond: B is fast, C is slow; D depends on B only and must not wait for C."""
    log: list[str] = []
    c_may_finish = asyncio.Event()

    @tool
    async def step(name: str, wait: bool = False, x: Any = None) -> str:
        log.append(f"start {name}")
        if wait:
            await c_may_finish.wait()
        if name == "D":
            c_may_finish.set()
        log.append(f"end {name}")
        return name

    executor = ToolExecutor([step])
    tasks = [
        Task("A", "step", {"name": "A"}),
        Task("B", "step", {"name": "B", "x": "$A"}),
        Task("C", "step", {"name": "C", "x": "$A", "wait": True}),
        Task("D", "step", {"name": "D", "x": "$B"}),
        Task("E", "step", {"name": "E"}, deps=["C", "D"]),
    ]
    results = await asyncio.wait_for(executor.run_dag(tasks), timeout=5)
    assert all(r.ok for r in results.values())
    assert log.index("end D") < log.index("end C") < log.index("start E")


async def test_streaming_submit_and_references_with_fields() -> None:
    @tool
    async def lookup(city: str) -> dict[str, Any]:
        return {"city": city, "population": {"value": 1200, "year": 2020}, "tags": ["port", "capital"]}

    @tool
    async def describe(text: str, number: int, tag: str) -> str:
        return f"{text} | {number * 2} | {tag}"

    executor = ToolExecutor([lookup, describe])
    first = executor.submit(Task("1", "lookup", {"city": "Lisbon"}))
    second = executor.submit(
        Task("2", "describe", {"text": "$1.city has $1.population.value people", "number": "$1.population.value", "tag": "$1.tags.1"})
    )
    await asyncio.gather(first, second)
    result = executor.result_of("2")
    assert result is not None and result.ok
    assert result.value == "Lisbon has 1200 people | 2400 | capital"
    assert result.args["number"] == 1200  # a whole-string reference keeps its type


async def test_failed_dependency_skips_dependents_but_not_others() -> None:
    ran: list[str] = []

    @tool
    async def op(name: str, x: Any = None) -> str:
        ran.append(name)
        if name == "bad":
            raise ValueError("broken input")
        return name

    executor = ToolExecutor([op])
    results = await executor.run_dag(
        [
            Task("a", "op", {"name": "bad"}),
            Task("b", "op", {"name": "b", "x": "$a"}),
            Task("c", "op", {"name": "c", "x": "$b"}),
            Task("d", "op", {"name": "d"}),
        ]
    )
    assert results["a"].error_type == "ValueError"
    assert results["b"].error_type == "DependencyFailed" and "a" in (results["b"].error or "")
    assert results["c"].error_type == "DependencyFailed"
    assert results["d"].ok
    assert sorted(ran) == ["bad", "d"]


async def test_dag_unknown_dependency_bad_reference_and_duplicate_id() -> None:
    @tool
    async def echo(x: Any = None) -> Any:
        return x

    executor = ToolExecutor([echo])
    results = await executor.run_dag(
        [
            Task("a", "echo", {"x": {"k": 1}}),
            Task("b", "echo", {"x": "$zzz"}),
            Task("c", "echo", {"x": "$a.missing"}),
            Task("d", "nope", {}),
        ]
    )
    assert results["a"].value == {"k": 1}
    assert results["b"].error_type == "PlanError" and "zzz" in (results["b"].error or "")
    assert results["c"].error_type == "ToolArgumentError" and "missing" in (results["c"].error or "")
    assert results["d"].error_type == "UnknownTool"
    with pytest.raises(ConfigError):
        executor.submit(Task("a", "echo", {}))


async def test_cancelling_one_dag_task_leaves_shared_dependencies_and_siblings_running() -> None:
    @tool
    async def base() -> int:
        await asyncio.sleep(0.05)
        return 1

    @tool
    async def plus(v: int) -> int:
        return v + 1

    executor = ToolExecutor([base, plus])
    shared = executor.submit(Task("A", "base"))
    doomed = executor.submit(Task("B", "plus", {"v": "$A"}))
    sibling = executor.submit(Task("C", "plus", {"v": "$A"}))
    await asyncio.sleep(0.01)
    doomed.cancel()
    result = await asyncio.wait_for(sibling, timeout=2)
    assert result.ok and result.value == 2
    assert not shared.cancelled() and shared.result().value == 1
    assert doomed.cancelled()


async def test_cancelled_dependency_skips_its_dependents() -> None:
    started = asyncio.Event()

    @tool
    async def forever() -> int:
        started.set()
        await asyncio.sleep(60)
        return 0

    @tool
    async def plus(v: int) -> int:
        return v + 1

    executor = ToolExecutor([forever, plus])
    head = executor.submit(Task("A", "forever"))
    tail = executor.submit(Task("B", "plus", {"v": "$A"}))
    await started.wait()
    head.cancel()
    result = await asyncio.wait_for(tail, timeout=2)
    assert result.error_type == "DependencyFailed"


# ----------------------------------------------------------------------------- cancellation, budget
async def test_cancelling_run_batch_cancels_children_and_releases_reservations() -> None:
    budget = Budget(tool_calls=10)
    entered = 0
    cancelled = 0
    all_in = asyncio.Event()

    @tool
    async def hang(i: int) -> int:
        nonlocal entered, cancelled
        entered += 1
        if entered == 3:
            all_in.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled += 1
            raise
        return i

    executor = ToolExecutor([hang], max_concurrency=3)  # 2 of the 5 calls wait for a slot
    with tracing.use(tracing.RunContext(run_id="r", budget=budget)):
        batch = asyncio.ensure_future(executor.run_batch([call("hang", i=i) for i in range(5)]))
        await asyncio.wait_for(all_in.wait(), timeout=2)
        assert budget.reserved.tool_calls == 5
        batch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await batch
    assert cancelled == 3
    assert budget.reserved.tool_calls == 0 and budget.spent.tool_calls == 0
    assert [row.action for row in budget.ledger] == ["release"] * 5


async def test_budget_exhaustion_gives_budget_exceeded_results() -> None:
    budget = Budget(tool_calls=3)
    ran: list[int] = []

    @tool
    async def work(i: int) -> int:
        ran.append(i)
        await asyncio.sleep(0.01)
        return i

    executor = ToolExecutor([work])
    with tracing.use(tracing.RunContext(run_id="r", budget=budget)):
        results = await executor.run_batch([call("work", i=i) for i in range(5)])
    assert sum(r.ok for r in results) == 3
    refused = [r for r in results if not r.ok]
    assert len(refused) == 2 and all(r.error_type == "BudgetExceeded" and r.attempts == 0 for r in refused)
    assert len(ran) == 3
    assert budget.spent.tool_calls == 3 and budget.reserved.tool_calls == 0


async def test_child_budget_caps_tool_calls_against_parent() -> None:
    root = Budget(tool_calls=4)
    branch = root.child("branch", tool_calls=10)

    @tool
    async def ping() -> str:
        return "pong"

    with tracing.use(tracing.RunContext(run_id="r", budget=branch)):
        results = await ToolExecutor([ping]).run_batch([call("ping", cid=str(i)) for i in range(6)])
    assert sum(r.ok for r in results) == 4
    assert root.spent.tool_calls == 4


# ----------------------------------------------------------------------------- recording and cache
async def test_every_call_is_recorded_in_the_run_store(loom_home: Any) -> None:
    store = RunStore()
    run_id = store.create_run("test")

    @tool
    async def good(n: int) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        return {"items": list(range(n))}

    @tool
    async def bad() -> None:
        raise RuntimeError("nope")

    executor = ToolExecutor([good, bad])
    with tracing.use(tracing.RunContext(run_id=run_id, store=store)):
        results = await executor.run_batch([call("good", "c1", n=3), call("bad", "c2"), call("ghost", "c3")])
    events = {e["data"]["call_id"]: e for e in store.events(run_id, "tool_call")}
    assert set(events) == {"c1", "c2", "c3"}
    ok = events["c1"]
    assert ok["status"] == "ok" and ok["name"] == "good" and ok["error"] is None
    assert ok["end"] >= ok["start"] and ok["duration"] == pytest.approx(ok["end"] - ok["start"])
    assert ok["duration"] >= 0.005
    assert ok["data"]["size"] == len(results[0].content()) and ok["data"]["attempts"] == 1
    assert json.loads(ok["data"]["args"]) == {"n": 3}
    assert events["c2"]["status"] == "error" and events["c2"]["error"] == "nope"
    assert events["c3"]["status"] == "error" and "unknown tool" in events["c3"]["error"]
    store.close()


class _DictCache:
    """A minimal ToolCache: serves repeated calls from a dict."""

    def __init__(self) -> None:
        self.store: dict[str, ToolResult] = {}
        self.executed = 0

    async def call(self, tool: Tool, args: dict[str, Any], execute: Any) -> ToolResult:
        key = tool.name + json.dumps(args, sort_keys=True)
        if key in self.store:
            hit = self.store[key]
            return ToolResult(hit.call_id, hit.name, hit.args, value=hit.value, cached=True)
        self.executed += 1
        result: ToolResult = await execute()
        self.store[key] = result
        return result


async def test_cache_from_run_context_serves_repeats(loom_home: Any) -> None:
    cache = _DictCache()
    store = RunStore()
    run_id = store.create_run("test")

    @tool(cache=True)
    async def fetch(q: str) -> str:
        return q.upper()

    @tool  # user tools are not shared unless they say so
    async def side_effect(q: str) -> str:
        return q

    executor = ToolExecutor([fetch, side_effect])
    with tracing.use(tracing.RunContext(run_id=run_id, store=store, memory=cache)):
        first = await executor.run_batch([call("fetch", "1", q="a"), call("side_effect", "2", q="a")])
        second = await executor.run_batch([call("fetch", "3", q="a"), call("side_effect", "4", q="a")])
    assert first[0].value == second[0].value == "A"
    assert second[0].cached and second[0].call_id == "3"
    assert not second[1].cached
    assert cache.executed == 1
    statuses = {e["data"]["call_id"]: e["status"] for e in store.events(run_id, "tool_call")}
    assert statuses == {"1": "ok", "2": "ok", "3": "cached", "4": "ok"}
    store.close()

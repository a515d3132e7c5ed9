"""The bank as the executor's ToolCache: hits, in-flight coalescing, admission after execution."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agentloom import tracing
from agentloom.memory import AdmitAll, AdmitNone, MemoryBank, _inflight
from agentloom.models.types import ToolCall
from agentloom.runstore import RunStore
from agentloom.tools import CachePolicy, ToolExecutor, tool


class Counter:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def tools(self, delay: float = 0.05) -> list[Any]:
        counter = self

        @tool(cache=True)
        async def search(query: str) -> dict[str, Any]:
            """Search the corpus."""
            with counter.lock:
                counter.calls.append(query)
            await asyncio.sleep(delay)
            if query == "boom":
                raise RuntimeError("search backend exploded")
            return {"query": query, "results": [{"id": "p_00aa11bb22", "path": "doc.md", "line_start": 1,
                                                 "line_end": 3, "text": f"Passage about {query}."}]}

        @tool  # user tools are not shared by default
        async def send_email(to: str) -> str:
            """Has side effects: never cached."""
            with counter.lock:
                counter.calls.append(f"email:{to}")
            return "sent"

        return [search, send_email]


def call(query: str, cid: str = "c") -> ToolCall:
    return ToolCall(cid, "search", json.dumps({"query": query}))


async def in_team(team: str, coro_fn: Any, *, run_id: str = "run-1", store: RunStore | None = None) -> Any:
    with tracing.use(tracing.RunContext(run_id=run_id, team=team, store=store)):
        return await coro_fn()


async def test_hit_serves_from_the_bank_and_records_the_saving(tmp_path: Path) -> None:
    counter = Counter()
    bank = MemoryBank(tmp_path / "m.db", policy=AdmitAll())
    store = RunStore(tmp_path / "runs.db")
    ex = ToolExecutor(counter.tools(), cache=bank)
    first = await in_team("t1", lambda: ex.run_call(call("tidal power")), store=store)
    assert first.ok and not first.cached and first.memory_id is not None
    second = await in_team("t2", lambda: ex.run_call(call("tidal  power", "c2")), store=store)  # normalized args
    assert counter.calls == ["tidal power"]
    assert second.cached and second.memory_id == first.memory_id and second.call_id == "c2"
    assert second.value == first.value
    hits = store.events("run-1", "memory_hit")
    assert len(hits) == 1
    assert hits[0]["team"] == "t2" and hits[0]["data"]["via"] == "hit"
    assert hits[0]["data"]["saved_seconds"] >= 0.04 and hits[0]["data"]["from_team"] == "t1"
    tool_events = store.events("run-1", "tool_call")
    assert [e["status"] for e in tool_events] == ["ok", "cached"]
    reads = bank.db.read("SELECT team, via, entry_id FROM reads")
    assert reads == [("t2", "hit", first.memory_id)]
    entry = bank.get(first.memory_id)  # type: ignore[arg-type]
    assert entry is not None and entry.uses == 1 and entry.kind == "tool_result"
    assert entry.key.startswith('search(query="tidal power") → ')
    assert entry.citations == ["p_00aa11bb22"]
    stats = bank.stats()
    assert stats["hits"] == 1 and stats["tool_calls_executed"] == 1 and stats["hit_rate"] == 0.5


async def test_identical_calls_in_flight_are_coalesced(tmp_path: Path) -> None:
    counter = Counter()
    bank = MemoryBank(tmp_path / "m.db", policy=AdmitAll())
    ex = ToolExecutor(counter.tools(delay=0.1), cache=bank)
    results = await asyncio.gather(*(in_team(f"t{i}", lambda: ex.run_call(call("geothermal"))) for i in range(8)))
    assert counter.calls == ["geothermal"]
    assert sum(r.coalesced for r in results) == 7
    assert sum(not r.coalesced and not r.cached for r in results) == 1
    leader_result = next(r for r in results if not r.coalesced)
    assert leader_result.memory_id is not None and len(bank) == 1
    assert all(r.memory_id is None for r in results if r.coalesced)  # served by the call, not from memory
    assert all(r.value == results[0].value for r in results)
    results[1].value["results"].append("mutated")
    assert len(results[2].value["results"]) == 1  # each waiter got its own copy
    leader = next(f"t{i}" for i, r in enumerate(results) if not r.coalesced)
    teams = sorted(r[0] for r in bank.db.read("SELECT team FROM reads WHERE via = 'coalesced'"))
    assert teams == sorted(f"t{i}" for i in range(8) if f"t{i}" != leader)
    assert _inflight.in_flight() == 0


async def test_coalescing_needs_no_admission(tmp_path: Path) -> None:
    counter = Counter()
    bank = MemoryBank(tmp_path / "m.db", policy=AdmitNone())
    ex = ToolExecutor(counter.tools(delay=0.05), cache=bank)
    results = await asyncio.gather(*(in_team(f"t{i}", lambda: ex.run_call(call("biomass"))) for i in range(4)))
    assert counter.calls == ["biomass"] and sum(r.coalesced for r in results) == 3
    assert len(bank) == 0 and all(r.memory_id is None for r in results)
    await in_team("t9", lambda: ex.run_call(call("biomass")))
    assert counter.calls == ["biomass", "biomass"]  # nothing stored, so it runs again
    assert bank.db.read("SELECT count(*), sum(admitted) FROM decisions") == [(2, 0)]


async def test_coalescing_across_bank_objects_on_one_file(tmp_path: Path) -> None:
    counter = Counter()
    tools = counter.tools(delay=0.1)
    a = ToolExecutor(tools, cache=MemoryBank(tmp_path / "m.db", policy=AdmitAll()))
    b = ToolExecutor(tools, cache=MemoryBank(tmp_path / "m.db", policy=AdmitAll()))
    ra, rb = await asyncio.gather(in_team("a", lambda: a.run_call(call("hydro"))), in_team("b", lambda: b.run_call(call("hydro"))))
    assert counter.calls == ["hydro"]
    assert ra.coalesced != rb.coalesced


def test_coalescing_across_threads_and_event_loops(tmp_path: Path) -> None:
    counter = Counter()
    tools = counter.tools(delay=0.2)
    bank = MemoryBank(tmp_path / "m.db", policy=AdmitAll())
    results: list[Any] = []
    barrier = threading.Barrier(4)

    def worker(i: int) -> None:
        ex = ToolExecutor(tools, cache=bank)
        barrier.wait()
        results.append(asyncio.run(in_team(f"thread{i}", lambda: ex.run_call(call("nuclear")))))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter.calls == ["nuclear"]
    assert sorted((r.coalesced, r.cached) for r in results).count((False, False)) == 1
    assert all(r.ok for r in results)


async def test_errors_are_shared_but_never_stored(tmp_path: Path) -> None:
    counter = Counter()
    bank = MemoryBank(tmp_path / "m.db", policy=AdmitAll())
    ex = ToolExecutor(counter.tools(delay=0.05), cache=bank)
    results = await asyncio.gather(*(in_team(f"t{i}", lambda: ex.run_call(call("boom"))) for i in range(3)))
    assert counter.calls == ["boom"]
    assert all(not r.ok and "exploded" in (r.error or "") for r in results)
    assert len(bank) == 0
    assert bank.db.read("SELECT admitted, reason FROM decisions")[0][1].startswith("error: RuntimeError")
    again = await in_team("t9", lambda: ex.run_call(call("boom")))
    assert not again.ok and counter.calls == ["boom", "boom"]
    assert bank.db.read("SELECT count(*) FROM reads") == [(0,)]


async def test_a_cancelled_leader_hands_over_to_a_waiter(tmp_path: Path) -> None:
    counter = Counter()
    bank = MemoryBank(tmp_path / "m.db", policy=AdmitAll())
    ex = ToolExecutor(counter.tools(delay=0.2), cache=bank)
    leader = asyncio.ensure_future(in_team("t1", lambda: ex.run_call(call("coal"))))
    await asyncio.sleep(0.05)
    waiter = asyncio.ensure_future(in_team("t2", lambda: ex.run_call(call("coal"))))
    await asyncio.sleep(0.05)
    leader.cancel()
    result = await waiter
    assert result.ok and not result.coalesced
    assert counter.calls == ["coal", "coal"]
    assert _inflight.in_flight() == 0


async def test_a_cancelled_waiter_does_not_cancel_the_leader(tmp_path: Path) -> None:
    counter = Counter()
    bank = MemoryBank(tmp_path / "m.db", policy=AdmitAll())
    ex = ToolExecutor(counter.tools(delay=0.15), cache=bank)
    leader = asyncio.ensure_future(in_team("t1", lambda: ex.run_call(call("oil"))))
    await asyncio.sleep(0.02)
    waiter = asyncio.ensure_future(in_team("t2", lambda: ex.run_call(call("oil"))))
    await asyncio.sleep(0.02)
    waiter.cancel()
    result = await leader
    assert result.ok and counter.calls == ["oil"] and len(bank) == 1


async def test_executor_uses_the_run_contexts_memory(tmp_path: Path) -> None:
    counter = Counter()
    bank = MemoryBank(tmp_path / "m.db", policy=AdmitAll())
    ex = ToolExecutor(counter.tools())
    with tracing.use(tracing.RunContext(run_id="r", team="t1", memory=bank)):
        first = await ex.run_call(call("gas"))
    with tracing.use(tracing.RunContext(run_id="r", team="t2", memory=bank)):
        second = await ex.run_call(call("gas"))
        emailed = await ex.run_batch([ToolCall("e1", "send_email", '{"to": "a@b.c"}'), ToolCall("e2", "send_email", '{"to": "a@b.c"}')])
    assert second.cached and first.memory_id == second.memory_id
    assert counter.calls == ["gas", "email:a@b.c", "email:a@b.c"]  # side-effecting tools always run
    assert all(not r.cached and not r.coalesced for r in emailed)


async def test_every_executed_call_is_a_logged_decision_with_features(tmp_path: Path) -> None:
    counter = Counter()
    bank = MemoryBank(tmp_path / "m.db", task="ocean tidal energy potential")
    ex = ToolExecutor(counter.tools(delay=0.0), cache=bank)
    await in_team("t1", lambda: ex.run_batch([call("tidal energy potential", "a"), call("knitting patterns", "b")]))
    rows = {r[0]: r[1:] for r in bank.db.read("SELECT fingerprint IS NOT NULL, policy, fallback, features FROM decisions")}
    decisions = bank.db.read("SELECT key_tokens, features, policy, fallback, admitted FROM decisions ORDER BY id")
    assert len(decisions) == 2 and rows
    import json

    feats = [json.loads(d[1]) for d in decisions]
    assert all(set(f) >= {"novelty", "relevance", "cost", "size"} for f in feats)
    by_rel = sorted(feats, key=lambda f: f["relevance"])
    assert by_rel[-1]["relevance"] > by_rel[0]["relevance"]
    assert {d[2] for d in decisions} == {"learned"} and {d[3] for d in decisions} == {1}  # default: learned, falling back
    # relevant result admitted by the heuristic fallback, irrelevant cheap one rejected
    admitted = {json.loads(d[1])["relevance"] > 0.5: d[4] for d in decisions}
    assert admitted == {True: 1, False: 0}


@pytest.mark.parametrize("scope", ["run", "project"])
async def test_run_scope_keeps_runs_apart(tmp_path: Path, scope: str) -> None:
    counter = Counter()
    bank = MemoryBank(tmp_path / "m.db", scope=scope, policy=AdmitAll())
    ex = ToolExecutor(counter.tools(delay=0.0), cache=bank)
    await in_team("t1", lambda: ex.run_call(call("peat")), run_id="r1")
    second = await in_team("t1", lambda: ex.run_call(call("peat")), run_id="r2")
    assert second.cached is (scope == "project")


async def test_a_call_arriving_while_the_result_is_being_stored_joins_it(tmp_path: Path) -> None:
    from agentloom.memory import AdmissionPolicy, Decision

    class Slow(AdmissionPolicy):
        name = "slow"

        def __init__(self) -> None:
            self.entered = threading.Event()
            self.go = threading.Event()

        def decide(self, features: dict[str, float]) -> Decision:
            self.entered.set()
            self.go.wait(5)
            return Decision(True, 1.0, "slow admit", self.name, features)

    policy = Slow()
    counter = Counter()
    bank = MemoryBank(tmp_path / "m.db", policy=policy)
    ex = ToolExecutor(counter.tools(delay=0.01), cache=bank)
    leader = asyncio.ensure_future(in_team("t1", lambda: ex.run_call(call("solar"))))
    while not policy.entered.is_set():
        await asyncio.sleep(0.005)
    late = await in_team("t2", lambda: ex.run_call(call("solar")))  # the store has not finished
    assert late.coalesced and late.ok and counter.calls == ["solar"]
    policy.go.set()
    first = await leader
    assert first.memory_id is not None and _inflight.in_flight() == 0
    assert (await in_team("t3", lambda: ex.run_call(call("solar")))).cached


async def test_corpus_results_are_shared_only_within_the_same_corpus_content(tmp_path: Path) -> None:
    """A project-wide bank must not serve one corpus's search results for another corpus."""
    from agentloom.tools.corpus import corpus_tools

    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "doc.md").write_text("The beacon burns whale oil.\n")
    (second / "doc.md").write_text("The beacon burns paraffin.\n")
    bank = MemoryBank(tmp_path / "memory.db", policy=AdmitAll())
    call = ToolCall("c1", "corpus_search", '{"query": "beacon fuel burns"}')
    a = (await ToolExecutor(corpus_tools([first]), cache=bank).run_batch([call]))[0]
    b = (await ToolExecutor(corpus_tools([second]), cache=bank).run_batch([call]))[0]
    again = (await ToolExecutor(corpus_tools([first]), cache=bank).run_batch([call]))[0]
    assert not b.cached and "paraffin" in b.content()
    assert again.cached and "whale oil" in again.content()
    assert "whale oil" in a.content()
    bank.close()


async def test_a_user_tool_called_identically_by_two_teams_runs_for_each(tmp_path: Path) -> None:
    """A plain ``@tool`` may have side effects: it is neither served from the bank nor joined."""
    ran: list[str] = []

    @tool
    async def post_comment(text: str) -> str:
        """Post a comment (a side effect)."""
        ran.append(text)
        await asyncio.sleep(0.05)
        return "posted"

    assert post_comment.cache is None
    bank = MemoryBank(tmp_path / "m.db", policy=AdmitAll())
    ex = ToolExecutor([post_comment], cache=bank)
    payload = '{"text": "hello"}'
    results = await asyncio.gather(
        in_team("a", lambda: ex.run_call(ToolCall("a1", "post_comment", payload))),
        in_team("b", lambda: ex.run_call(ToolCall("b1", "post_comment", payload))),
    )
    later = await in_team("c", lambda: ex.run_call(ToolCall("c1", "post_comment", payload)))
    assert ran == ["hello", "hello", "hello"]
    assert all(r.ok and not r.cached and not r.coalesced for r in [*results, later])
    assert len(bank) == 0


async def test_a_cache_ttl_lets_an_entry_expire(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []

    @tool(cache=CachePolicy(ttl=60))
    async def quote(symbol: str) -> str:
        """A value that goes stale."""
        ran.append(symbol)
        return f"{symbol}: {len(ran)}"

    bank = MemoryBank(tmp_path / "m.db", policy=AdmitAll())
    ex = ToolExecutor([quote], cache=bank)
    payload = '{"symbol": "ACME"}'
    first = await in_team("a", lambda: ex.run_call(ToolCall("1", "quote", payload)))
    again = await in_team("b", lambda: ex.run_call(ToolCall("2", "quote", payload)))
    assert again.cached and again.value == first.value and ran == ["ACME"]
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 61)
    stale = await in_team("c", lambda: ex.run_call(ToolCall("3", "quote", payload)))
    assert not stale.cached and ran == ["ACME", "ACME"] and stale.value == "ACME: 2"

"""The storage seam: write transactions queue to one writer thread per store, in order, so a
caller (the event loop) never waits for a lock another connection holds; reads see this
process's queued writes; a queued failure is raised by the next flush."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from agentloom import tracing
from agentloom.errors import StoreError
from agentloom.memory import AdmitAll, MemoryBank
from agentloom.runstore import RunStore
from agentloom.storage import backend, open_database
from agentloom.storage.types import Dialect


def hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another connection (as another process would) holding the file's write lock."""
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def test_queued_writes_land_in_order_and_reads_see_them(tmp_path: Path) -> None:
    db = open_database(tmp_path / "s.db", "runs")
    db.write(lambda c: c.execute("CREATE TABLE t (n INTEGER)"))
    for n in range(50):
        db.submit(lambda c, n=n: c.execute("INSERT INTO t VALUES (?)", (n,)))
    assert [r[0] for r in db.read("SELECT n FROM t ORDER BY rowid")] == list(range(50))
    db.close()


def test_a_held_lock_does_not_block_the_caller_and_the_write_lands_after(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    run_id = store.create_run("test", input="q")
    store.database.flush()
    holder = hold_write_lock(tmp_path / "runs.db")
    try:
        with tracing.use(tracing.RunContext(run_id=run_id, store=store)):
            tracing.emit("note", "while locked")
        store.flush()  # queues the batch and returns although the lock is held
        store.finish_run(run_id, "ok", output={"answer": "a"})
        assert store.database._pending >= 1  # noqa: SLF001 - the writes are still waiting for the lock
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert [e["name"] for e in store.events(run_id, "note")] == ["while locked"]
    assert store.get_run(run_id).status == "ok"
    store.close()


def test_the_event_loop_keeps_running_while_another_connection_holds_the_lock(tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "memory.db", policy=AdmitAll())
    entry = bank.add("k", "v", kind="tool_result", fingerprint="fp")

    async def main() -> int:
        holder = hold_write_lock(tmp_path / "memory.db")
        ticks = 0
        try:
            for _ in range(20):
                bank.store.log_read(entry, "t", None, "hit")  # queued: returns at once
                await asyncio.sleep(0)
                ticks += 1
        finally:
            holder.execute("COMMIT")
            holder.close()
        return ticks

    assert asyncio.run(main()) == 20
    assert bank.stats()["hits"] == 20
    bank.close()


def test_a_queued_failure_is_raised_by_the_next_flush(tmp_path: Path) -> None:
    db = open_database(tmp_path / "s.db", "runs")
    db.submit(lambda c: c.execute("INSERT INTO missing VALUES (1)"))
    with pytest.raises(StoreError):
        db.flush()
    db.flush()  # raised once
    db.close()


def test_the_dialect_builds_upserts_with_the_backend_markers() -> None:
    sql = Dialect("x", marker="%s").upsert("runs", ["id", "status"], ["id"])
    assert sql == ('INSERT INTO runs ("id", "status") VALUES (%s,%s) '
                   'ON CONFLICT ("id") DO UPDATE SET "status" = excluded."status"')
    assert backend().name == "sqlite"


def test_async_reads_and_writes_run_off_the_loop_in_order(tmp_path: Path) -> None:
    db = open_database(tmp_path / "s.db", "runs")
    db.write(lambda c: c.execute("CREATE TABLE t (n INTEGER)"))

    async def main() -> list[tuple[int, ...]]:
        await db.awrite(lambda c: c.execute("INSERT INTO t VALUES (1)"))
        db.submit(lambda c: c.execute("INSERT INTO t VALUES (2)"))
        return await db.aread("SELECT n FROM t ORDER BY n")  # queued after the write above

    assert asyncio.run(main()) == [(1,), (2,)]
    db.close()


def test_inline_mode_runs_transactions_on_the_calling_thread(tmp_path: Path) -> None:
    import threading

    db = open_database(tmp_path / "s.db", "runs")
    db.inline = True
    seen: list[str] = []
    db.write(lambda c: seen.append(threading.current_thread().name))
    db.submit(lambda c: seen.append(threading.current_thread().name)).result()
    assert seen == [threading.current_thread().name] * 2
    db.close()


def test_existing_stores_open_while_another_connection_holds_the_write_lock(tmp_path: Path) -> None:
    import threading

    RunStore(tmp_path / "runs.db").close()
    MemoryBank(tmp_path / "memory.db").close()
    holders = [hold_write_lock(tmp_path / "runs.db"), hold_write_lock(tmp_path / "memory.db")]
    opened: list[object] = []

    def open_both() -> None:
        opened.append(RunStore(tmp_path / "runs.db"))
        opened.append(MemoryBank(tmp_path / "memory.db"))

    thread = threading.Thread(target=open_both, daemon=True)
    thread.start()
    thread.join(timeout=10)
    try:
        assert len(opened) == 2  # neither waited for the lock
    finally:
        for holder in holders:
            holder.execute("COMMIT")
            holder.close()
        thread.join()
    for store in opened:
        store.close()  # type: ignore[attr-defined]


def test_rows_queued_while_locked_land_in_one_batch_in_order(tmp_path: Path) -> None:
    db = open_database(tmp_path / "s.db", "runs")
    db.write(lambda c: c.execute("CREATE TABLE t (n INTEGER)"))
    holder = hold_write_lock(tmp_path / "s.db")
    try:
        for n in range(100):
            db.add_rows("INSERT INTO t VALUES (?)", [(n,)])
        db.submit(lambda c: c.execute("INSERT INTO t VALUES (1000)"))  # after the batch, never inside it
        db.add_rows("INSERT INTO t VALUES (?)", [(2000,)])
        assert db._pending == 3  # noqa: SLF001 - one batch, the write, a second batch
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert [r[0] for r in db.read("SELECT n FROM t ORDER BY rowid")] == [*range(100), 1000, 2000]
    db.close()


def test_closing_twice_is_harmless(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    store.close()
    store.close()
    bank = MemoryBank(tmp_path / "memory.db")
    bank.close()
    bank.close()


def test_writing_to_a_closed_store_is_a_clear_error(tmp_path: Path) -> None:
    db = open_database(tmp_path / "s.db", "runs")
    db.close()
    with pytest.raises(StoreError, match="closed"):
        db.submit(lambda c: c.execute("SELECT 1"))


def _open_together(path: str, start: float) -> str:
    """Open (and so create) the file at ``start``, as a process racing others would."""
    from agentloom.storage.sqlite import connect

    while time.time() < start:
        pass
    try:
        connect(path, "race").execute("CREATE TABLE IF NOT EXISTS t (x)")
        return "ok"
    except Exception as exc:  # reported, not raised: the test lists every process's outcome
        return f"{type(exc).__name__}: {exc}"


def test_processes_creating_one_file_at_once_all_open_it(tmp_path: Path) -> None:
    """Switching a new file to WAL and marking it take locks SQLite refuses at once rather than
    waiting out the busy timeout; eight processes opening one new file together all get in."""
    import multiprocessing

    outcomes: list[str] = []
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        pool.starmap(_open_together, [(str(tmp_path / "warm.db"), 0.0)] * 8)  # every worker started
        for trial in range(8):
            path = str(tmp_path / f"race{trial}.db")
            outcomes += pool.starmap(_open_together, [(path, time.time() + 0.3)] * 8)
    assert [o for o in outcomes if o != "ok"] == []

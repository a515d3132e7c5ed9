"""64 concurrent writers with overlapping content: nothing lost, no duplicates, no 'locked'."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from agentloom import tracing
from agentloom.memory import AdmitAll, Candidate, MemoryBank, admit_step

WRITERS = 64
PER_WRITER = 12
POOL = 150  # distinct contents; writers overlap heavily


def content(i: int) -> str:
    return f"Fact {i}: the measured value of quantity number {i} is {i * 7 % 97} units."


def picks(writer: int) -> list[int]:
    return [(writer * 5 + j * 13) % POOL for j in range(PER_WRITER)]


def expected() -> set[int]:
    return {i for w in range(WRITERS) for i in picks(w)}


def check(bank: MemoryBank, *, offered: set[int] | None = None) -> None:
    values = [e.value for e in bank.entries()]
    assert len(values) == len(set(values)), "duplicate entries for identical content"
    want = offered if offered is not None else expected()
    assert set(values) == {content(i) for i in want}, "lost writes"
    rows = bank.db.read("SELECT count(*), count(DISTINCT content_hash) FROM entries")
    assert rows[0][0] == rows[0][1]


def run_threads(target, n: int = WRITERS) -> list[BaseException]:  # type: ignore[no-untyped-def]
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def wrapped(i: int) -> None:
        try:
            barrier.wait()
            target(i)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted on
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_64_threads_sharing_one_bank(tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "m.db")

    def write(w: int) -> None:
        for i in picks(w):
            entry = bank.add(f"key {i} by writer {w}", content(i))
            assert entry.value == content(i)

    assert run_threads(write) == []
    check(bank)


def test_64_threads_each_with_its_own_bank_object(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    MemoryBank(path)

    def write(w: int) -> None:
        bank = MemoryBank(path, policy=AdmitAll())
        for i in picks(w):
            bank.offer(Candidate(kind="finding", key=f"k{i}", value=content(i), team=f"w{w}", run="r"))
        bank.close()

    assert run_threads(write) == []
    bank = MemoryBank(path)
    check(bank)
    # every offer was logged; exactly one admission per distinct content
    total, admitted = bank.db.read("SELECT count(*), sum(admitted) FROM decisions")[0]
    assert total == WRITERS * PER_WRITER and admitted == len(expected())


async def test_64_asyncio_tasks(tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "m.db", policy=AdmitAll())

    async def writer(w: int) -> list[str | None]:
        ids = []
        with tracing.use(tracing.RunContext(run_id="r", team=f"t{w}")):
            for i in picks(w):
                await asyncio.sleep(0)
                ids.append(await admit_step(bank, kind="finding", key=f"k{i}", value=content(i), task="quantities"))
        return ids

    results = await asyncio.gather(*(writer(w) for w in range(WRITERS)))
    admitted = [i for ids in results for i in ids if i is not None]
    assert len(admitted) == len(set(admitted)) == len(expected())
    check(bank)


_CHILD = textwrap.dedent(
    """
    import sys, threading
    from agentloom.memory import MemoryBank
    path, proc = sys.argv[1], int(sys.argv[2])
    errors = []
    def content(i):
        return f"Fact {i}: the measured value of quantity number {i} is {i * 7 % 97} units."
    def write(w):
        try:
            bank = MemoryBank(path)
            for j in range(12):
                i = (w * 5 + j * 13) % 150
                bank.add(f"k{i}", content(i))
        except BaseException as exc:
            errors.append(repr(exc))
    ts = [threading.Thread(target=write, args=(proc * 16 + t,)) for t in range(16)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    print("ERRORS", errors)
    sys.exit(1 if errors else 0)
    """
)


def test_four_processes_of_16_threads(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    MemoryBank(path)
    procs = [
        subprocess.Popen([sys.executable, "-c", _CHILD, str(path), str(p)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for p in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out + err
        assert "locked" not in out + err
    check(MemoryBank(path))

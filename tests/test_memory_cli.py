"""``loom memory``: stats, audit, train, export, clear."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agentloom.cli import main
from agentloom.memory import AdmitAll, Candidate, MemoryBank


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(["memory", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def fill(path: Path, n: int = 30) -> MemoryBank:
    bank = MemoryBank(path, policy=AdmitAll())
    for i in range(n):
        team = f"t{i % 3}"
        d = bank.offer(Candidate(kind="finding", key=f"fact {i} about tides", value=f"Tide fact number {i} says {i * 3} metres.",
                                 team=team, run="r1", cost_seconds=2.0, task="tides"))
        if i % 4 == 0 and d.entry_id:
            bank.read(d.entry_id, team=f"t{(i + 1) % 3}")
    return bank


def test_stats_on_the_default_bank(capsys: pytest.CaptureFixture[str], loom_home: Path) -> None:
    fill(loom_home / "memory.db")
    code, out, _ = run(capsys, "stats", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["entries"] == 30 and data["memory_reads"] == 8 and data["admitted"] == 30
    code, out, _ = run(capsys, "stats")
    assert code == 0 and "entries" in out and "hit_rate" in out and "saved_seconds" in out


def test_scope_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    MemoryBank.for_scope("run", run_id="r1", path=path).add("a", "run one value")
    MemoryBank.for_scope("run", run_id="r2", path=path).add("b", "run two value")
    MemoryBank.for_scope("project", path=path).add("c", "project value")
    counts = {}
    for args in ([], ["--scope", "run"], ["--scope", "project"], ["--scope", "run", "--run", "r2"], ["--run", "r1"]):
        code, out, err = run(capsys, "stats", "--json", "--db", str(path), *args)
        assert code == 0, err
        counts[" ".join(args)] = json.loads(out)["entries"]
    assert counts == {"": 3, "--scope run": 2, "--scope project": 1, "--scope run --run r2": 1, "--run r1": 1}
    code, _, err = run(capsys, "stats", "--db", str(path), "--scope", "project", "--run", "r1")
    assert code == 2 and "--run only applies" in err


def test_audit_reports_rates(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    bank = MemoryBank(path)
    bank.add("k1", "The Severn estuary has the second highest tidal range in the world.")
    bank.add("k2", "the severn estuary has the second highest tidal range in the world", kind="answer")  # exact dup value
    bank.add("k3", "The Severn estuary has the second highest tidal range in the whole world.")  # near dup
    bank.add("k4", "Completely unrelated: sourdough needs a starter culture.")
    code, out, _ = run(capsys, "audit", "--db", str(path), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["entries"] == 4 and data["duplicates"] == 1 and data["duplicate_rate"] == 0.25
    assert data["near_duplicates"] >= 1 and data["stale_rate"] == 0.0 and 0 < data["junk_rate"] < 1
    code, out, _ = run(capsys, "audit", "--db", str(path), "--stale-days", "0")
    assert code == 0 and "stale_rate" in out and "100.00%" in out


def test_train_export_clear(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    fill(path)
    code, out, err = run(capsys, "train", "--db", str(path))
    assert code == 0, err
    assert "model v1" in out and "decisions" in out
    code, out, _ = run(capsys, "train", "--db", str(path), "--json")
    assert json.loads(out)["version"] == 2
    code, out, _ = run(capsys, "export", "--db", str(path))
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 30 and rows[0]["key"] == "fact 0 about tides"
    target = tmp_path / "models.jsonl"
    code, _, err = run(capsys, "export", "--db", str(path), "--table", "models", "-o", str(target))
    assert code == 0 and "wrote 2 models" in err
    assert [json.loads(x)["version"] for x in target.read_text().splitlines()] == [1, 2]
    code, out, _ = run(capsys, "clear", "--db", str(path), "--yes")
    assert code == 0 and "deleted 30 entries" in out
    assert len(MemoryBank(path)) == 0


def test_clear_asks_first(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    MemoryBank(path).add("k", "v")
    from click.testing import CliRunner

    from agentloom._cli.memory import memory

    result = CliRunner().invoke(memory, ["clear", "--db", str(path)], input="n\n")
    assert result.exit_code == 1 and "delete 1 entries" in result.output
    assert len(MemoryBank(path)) == 1


def test_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "stats", "--db", str(tmp_path / "none.db"))
    assert code == 2 and err.strip() == f"loom: error: {tmp_path / 'none.db'}: no such memory database"
    assert not (tmp_path / "none.db").exists()
    bad = tmp_path / "bad.db"
    bad.write_text("not sqlite " * 200)
    code, _, err = run(capsys, "audit", "--db", str(bad))
    assert code == 2 and str(bad) in err and len(err.strip().splitlines()) == 1
    few = tmp_path / "few.db"
    fill(few, n=3)
    code, _, err = run(capsys, "train", "--db", str(few))
    assert code == 2 and "only 3 admission decisions" in err


def test_cli_module_imports_light() -> None:
    code = (
        "import sys, agentloom._cli.memory; "
        "heavy = [m for m in ('numpy', 'sqlite_utils', 'agentloom.memory.bank', 'litellm', 'langgraph') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_clear_can_evict_expired_and_unread_only(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    bank = MemoryBank(path)
    old = bank.add("old unread", "nobody read this")
    kept = bank.add("old but read", "someone read this")
    bank.add("new unread", "fresh")
    bank.read(kept.id, team="t2")
    bank.db.write(lambda c: c.execute("UPDATE entries SET created = created - 10 * 86400 WHERE id IN (?, ?)", (old.id, kept.id)))
    code, out, _ = run(capsys, "clear", "--db", str(path), "--unread-days", "5")
    assert code == 0 and "evicted 1 entries" in out
    assert sorted(e.key for e in MemoryBank(path).entries()) == ["new unread", "old but read"]
    code, out, _ = run(capsys, "clear", "--db", str(path), "--expired")
    assert code == 0 and "evicted 0 entries" in out
    code, _, err = run(capsys, "clear", "--db", str(path), "--expired", "--logs")
    assert code == 2 and "--logs" in err

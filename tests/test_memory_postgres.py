"""The memory bank on Postgres (``AGENTLOOM_DATABASE_URL``): one bank for every process and
machine on the URL, full-text search through a ``tsvector`` column, vectors as ``float4[]``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentloom.memory import AdmitAll, MemoryBank
from agentloom.memory.types import AdmissionCandidate
from tests.cliutil import run_cli
from tests.test_memory_bank import BagOfWords

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parent.parent

#: One process: call the cached ``lookup`` tool once through a bank on the database in use and
#: print whether the result came from the bank.
_CALLER = textwrap.dedent("""
    import asyncio, json, sys
    from agentloom import tracing
    from agentloom.memory import AdmitAll, MemoryBank
    from agentloom.tools import ToolExecutor, tool

    @tool(cache=True)
    def lookup(topic: str) -> dict:
        \"\"\"Look a topic up.\"\"\"
        print("executed", file=sys.stderr)
        return {"topic": topic, "text": f"{topic} facts"}

    async def main():
        bank = MemoryBank(sys.argv[1], policy=AdmitAll())
        with tracing.use(tracing.RunContext(run_id="shared-run", team=sys.argv[2])):
            result = await ToolExecutor([lookup], cache=bank).run("lookup", {"topic": "tidal power"})
        print(json.dumps({"cached": result.cached, "value": result.value}))

    asyncio.run(main())
""")


def _call(path: Path, team: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", _CALLER, str(path), team], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120, check=True)
    return dict(json.loads(done.stdout))


def test_two_processes_on_two_machines_share_one_bank(pg_url: str, tmp_path: Path) -> None:
    # different local paths, as on two machines: the URL names the bank
    first = _call(tmp_path / "a" / "memory.db", "t1")
    second = _call(tmp_path / "b" / "memory.db", "t2")
    assert first["cached"] is False and second["cached"] is True and first["value"] == second["value"]
    assert not (tmp_path / "a" / "memory.db").exists() and not (tmp_path / "b" / "memory.db").exists()
    stats = MemoryBank(tmp_path / "c.db").stats()
    assert stats["hits"] == 1 and stats["tool_calls_executed"] == 1
    assert isinstance(stats["entries"], int) and isinstance(stats["tokens_stored"], int)
    assert str(stats["path"]).startswith("postgresql://")  # where the bank is, not a local path


def test_full_text_search_ranks_keys_and_falls_back_to_any_term(pg_url: str, tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "m.db")
    bank.add("Perovskite solar cells", "Perovskite cells reached 26% efficiency in the lab.")
    bank.add("Silicon solar cells", "Silicon cells dominate the market.")
    bank.add("Wind turbines", "Offshore wind turbines are getting bigger; solar is mentioned once.")
    hits = bank.search("perovskite solar")
    assert hits[0].key == "Perovskite solar cells" and len(hits) == 3
    assert [e.key for e in bank.search("turbine", k=1)] == ["Wind turbines"]  # stemmed: turbine ~ turbines
    assert bank.search("the of and", k=3) == []  # only stop words
    for hostile in ['"', "a & b | !c", "x:*", "'; DROP TABLE entries; --", "(("]:
        assert isinstance(bank.search(hostile), list)
    assert len(bank) == 3


def test_vectors_are_float4_arrays_with_exact_search(pg_url: str, tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "m.db", embedder=BagOfWords(), policy=AdmitAll())
    for key, value in [("car batteries", "car batteries last ten years"), ("solar farms", "solar farms need land"),
                       ("bread", "bread needs yeast")]:
        bank.offer(AdmissionCandidate(kind="finding", key=key, value=value))
    assert [h.key for h in bank.search("automobile", mode="vector", k=1)] == ["car batteries"]
    assert bank.search("sun land", k=2)[0].key == "solar farms"
    index = bank.db.vector_index()
    assert index is not None and index.backend == "float4[]"  # pgvector is not installed on this server


def test_hygiene_audit_export_and_the_cli(pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bank = MemoryBank(tmp_path / "m.db", ttl=60)
    bank.add("tides", "tides are predictable")
    bank.add("wind", "wind is not")
    code, out, err = run_cli(["memory", "stats", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["entries"] == 2
    code, out, _ = run_cli(["memory", "audit"], capsys)
    assert code == 0
    assert bank.clear() == 2 and len(bank) == 0


def test_concurrent_first_opens_create_the_schema_once(pg_url: str) -> None:
    code = "from agentloom.memory import MemoryBank; MemoryBank('x.db').add('k', 'v')"
    procs = [subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(ROOT)),
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    assert all(p.wait(timeout=120) == 0 for p in procs), [p.stderr.read() for p in procs if p.stderr]

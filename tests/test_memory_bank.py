"""MemoryBank storage: entries, scopes, search, hygiene, export, and refusing bad files."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentloom import tracing
from agentloom.errors import ConfigError, StoreError
from agentloom.memory import AdmissionCandidate, AdmitAll, MemoryBank, MemoryEntry
from agentloom.tokens import count_tokens


def test_default_path_is_under_loom_home(loom_home: Path) -> None:
    bank = MemoryBank()
    assert bank.path == loom_home / "memory.db"
    assert bank.path.exists()
    assert bank.scope == "project"


def test_entry_holds_every_field(tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "m.db")
    with tracing.use(tracing.RunContext(run_id="run-1", team="alpha")):
        entry = bank.add(
            "Solar panel efficiency is about 20%",
            "Commercial solar panels convert roughly 20% of sunlight to electricity [p_0123456789].",
            kind="finding",
            fingerprint=None,
            citations=["p_0123456789"],
            cost={"tokens": 1200, "usd": 0.002, "seconds": 3.5},
        )
    got = bank.get(entry.id)
    assert isinstance(got, MemoryEntry)
    assert got.id.startswith("mem_")
    assert got.key == "Solar panel efficiency is about 20%"
    assert got.value.startswith("Commercial solar panels")
    assert got.kind == "finding"
    assert got.team == "alpha" and got.run == "run-1"
    assert got.citations == ["p_0123456789"]
    assert got.cost == {"tokens": 1200, "usd": 0.002, "seconds": 3.5}
    assert got.created > 0 and got.uses == 0 and got.last_used is None and got.verified is False
    assert bank.mark_verified(entry.id)
    assert bank.get(entry.id).verified is True  # type: ignore[union-attr]
    read = bank.read(entry.id, team="beta")
    assert read.uses == 1
    again = bank.get(entry.id)
    assert again is not None and again.uses == 1 and again.last_used is not None


def test_identical_content_is_stored_once(tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "m.db")
    a = bank.add("k1", "The same   value", kind="finding")
    b = bank.add("another key", "the same value", kind="finding")
    assert a.id == b.id
    assert len(bank) == 1
    c = bank.add("k1", "The same value", kind="answer")  # another kind is other content
    assert c.id != a.id and len(bank) == 2


def test_json_values_round_trip(tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "m.db")
    entry = bank.add("search result", {"results": [{"id": "p_0123456789", "text": "x"}]}, kind="tool_result", fingerprint="fp1")
    assert entry.value_format == "json"
    assert entry.data() == {"results": [{"id": "p_0123456789", "text": "x"}]}
    assert bank.lookup("fp1") is not None and bank.lookup("fp2") is None


def test_scopes_are_separate_namespaces(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    r1 = MemoryBank.for_scope("run", run_id="r1", path=path)
    r2 = MemoryBank.for_scope("run", run_id="r2", path=path)
    project = MemoryBank.for_scope("project", path=path)
    r1.add("tidal energy", "Tidal energy is predictable.")
    project.add("wind energy", "Wind energy varies with weather.")
    assert [e.key for e in r1.entries()] == ["tidal energy"]
    assert list(r2.entries()) == []
    assert [e.key for e in project.entries()] == ["wind energy"]
    # the project scope persists across bank objects (and runs)
    again = MemoryBank(path)
    assert [e.key for e in again.search("wind")] == ["wind energy"]
    assert again.search("tidal") == []
    # a whole-file view sees everything but refuses writes
    view = MemoryBank(path, scope="all")
    assert len(view) == 2
    with pytest.raises(ConfigError):
        view.add("x", "y")


def test_scope_name_as_path_argument_and_dynamic_run_scope(tmp_path: Path, loom_home: Path) -> None:
    bank = MemoryBank("run")
    assert bank.scope == "run" and bank.path == loom_home / "memory.db"
    with pytest.raises(ConfigError, match="outside a run"):
        bank.add("k", "v")
    with tracing.use(tracing.RunContext(run_id="abc")):
        entry = bank.add("k", "v")
        assert entry.scope == "run:abc"
        assert bank.namespace() == "run:abc"
    with tracing.use(tracing.RunContext(run_id="other")):
        assert len(bank) == 0
    assert len(bank) == 1  # outside a run the view spans every run
    with pytest.raises(ConfigError, match="unknown memory scope"):
        MemoryBank.for_scope("galaxy")


def test_search_ranks_keys_and_falls_back_to_any_term(tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "m.db")
    bank.add("Perovskite solar cells", "Perovskite cells reached 26% efficiency in the lab.")
    bank.add("Silicon solar cells", "Silicon cells dominate the market.")
    bank.add("Wind turbines", "Offshore wind turbines are getting bigger; solar is mentioned once.")
    hits = bank.search("perovskite solar")
    assert hits[0].key == "Perovskite solar cells"
    assert len(hits) == 3  # "all terms" found one; "any term" filled the rest
    assert hits[0].score is not None and hits[0].score >= hits[-1].score  # type: ignore[operator]
    assert [e.key for e in bank.search("turbines", k=1)] == ["Wind turbines"]
    assert bank.search("perovskite", kind="answer") == []
    assert bank.search("", k=5) == [] and bank.search("solar", k=0) == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.text(max_size=80))
def test_any_query_is_safe(tmp_path: Path, query: str) -> None:
    bank = MemoryBank(tmp_path / "fuzz.db")
    if not len(bank):
        bank.add('key with "quotes" AND OR NOT * ( ) : ^', "value NEAR(a b) col:x -y {z}")
    result = bank.search(query)
    assert isinstance(result, list)


@pytest.mark.parametrize("query", ['"', "AND", "NOT OR", "a*b", "key:value", "(", "NEAR(x y)", "^start", "-minus", "'; DROP TABLE entries; --"])
def test_fts_syntax_never_leaks(tmp_path: Path, query: str) -> None:
    bank = MemoryBank(tmp_path / "m.db")
    bank.add("drop table", "entries survive")
    bank.search(query)
    assert len(bank) == 1


def test_corrupt_file_is_refused_with_its_name(tmp_path: Path) -> None:
    bad = tmp_path / "memory.db"
    bad.write_bytes(b"this is not a database at all" * 100)
    before = bad.read_bytes()
    with pytest.raises(StoreError, match=str(bad).replace("\\", "\\\\")):
        MemoryBank(bad)
    assert bad.read_bytes() == before  # never silently recreated


def test_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not an agentloom memory database"):
        MemoryBank(other)
    from agentloom.runstore import RunStore

    runs = tmp_path / "runs.db"
    RunStore(runs).close()
    with pytest.raises(StoreError, match="runs database, not a memory database"):
        MemoryBank(runs)


def test_missing_file_with_create_false(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no such memory database"):
        MemoryBank(tmp_path / "absent.db", create=False)
    assert not (tmp_path / "absent.db").exists()


def test_ttl_expiry_and_eviction(tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "m.db", ttl=60)
    entry = bank.add("old result", {"x": 1}, kind="tool_result", fingerprint="fp-old")
    assert entry.expires is not None and abs(entry.expires - entry.created - 60) < 1e-6
    assert bank.lookup("fp-old") is not None
    assert bank.lookup("fp-old", now=entry.created + 61) is None
    # expire it for real, then evict
    bank.db.write(lambda c: c.execute("UPDATE entries SET expires = 1 WHERE id = ?", (entry.id,)))
    assert bank.lookup("fp-old") is None and bank.search("old result") == []
    fresh = bank.add("old result", {"x": 2}, kind="tool_result", fingerprint="fp-old")  # replaces the expired copy
    assert fresh.data() == {"x": 2}
    assert bank.evict() == 0
    with pytest.raises(ConfigError):
        MemoryBank(tmp_path / "m.db", ttl=0)


def test_evicts_entries_never_read(tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "m.db")
    read = bank.add("read me", "a value that someone reads")
    bank.add("ignored", "a value nobody reads")
    bank.read(read.id, team="t2")
    assert bank.evict(unused_for=-1) == 1
    assert [e.key for e in bank.entries()] == ["read me"]


def test_quotas_per_run(tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "m.db", policy=AdmitAll(), quota_entries=2)

    def offer(i: int, run: str = "r1", value: str | None = None) -> bool:
        cand = AdmissionCandidate(kind="finding", key=f"finding {i}", value=value or f"distinct fact number {i} " * 3, run=run, team="t")
        return bank.offer(cand).admit

    assert offer(1) and offer(2)
    decision = bank.offer(AdmissionCandidate(kind="finding", key="finding 3", value="third fact", run="r1"))
    assert not decision.admit and decision.reason.startswith("quota")
    assert offer(4, run="r2")  # another run has its own quota
    big_value = "tidal stations turn predictable tides into power " * 4
    tokens = MemoryBank(tmp_path / "t.db", policy=AdmitAll(), quota_tokens=count_tokens(big_value) + 5)
    big = AdmissionCandidate(kind="finding", key="big", value=big_value, run="r1")
    assert tokens.offer(big).admit
    second = tokens.offer(AdmissionCandidate(kind="finding", key="more", value="lagoons hold the water back " * 2, run="r1"))
    assert not second.admit and "tokens" in second.reason


def test_export_and_clear(tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "m.db", policy=AdmitAll())
    bank.add("alpha", "first value")
    bank.offer(AdmissionCandidate(kind="finding", key="beta", value="second value", team="t1", run="r"))
    buf = io.StringIO()
    assert bank.export(buf) == 2
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert {r["key"] for r in lines} == {"alpha", "beta"}
    assert {"id", "key", "value", "kind", "fingerprint", "team", "run", "step", "citations", "cost_tokens",
            "cost_usd", "cost_seconds", "created", "uses", "last_used", "verified"} <= set(lines[0])
    buf = io.StringIO()
    assert bank.export(buf, table="decisions") == 1
    assert json.loads(buf.getvalue())["features"]["novelty"] > 0
    with pytest.raises(ConfigError):
        bank.export(io.StringIO(), table="secrets")
    assert bank.clear() == 2
    assert len(bank) == 0 and bank.search("alpha") == []
    assert bank.stats()["decisions"] == 1  # logs are kept unless asked
    bank.clear(logs=True)
    assert bank.stats()["decisions"] == 0


class BagOfWords:
    """A deterministic toy embedder: hashed word counts, with synonyms folded together."""

    SYNONYMS = {"automobile": "car", "cars": "car", "vehicle": "car", "sun": "solar"}

    def embed(self, texts: list[str]) -> list[list[float]]:
        import hashlib

        out = []
        for text in texts:
            vec = [0.0] * 32
            for word in text.lower().split():
                word = self.SYNONYMS.get(word.strip(".,"), word.strip(".,"))
                vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % 32] += 1.0
            out.append(vec)
        return out


def test_vector_search_with_an_embedder(tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "m.db", embedder=BagOfWords(), policy=AdmitAll())
    for key, value in [("car batteries", "car batteries last ten years"), ("solar farms", "solar farms need land"),
                       ("bread", "bread needs yeast")]:
        bank.offer(AdmissionCandidate(kind="finding", key=key, value=value))
    hits = bank.search("automobile", mode="vector", k=1)  # no keyword overlap: only vectors find it
    assert [h.key for h in hits] == ["car batteries"]
    assert bank.search("automobile", mode="fts") == []
    fused = bank.search("sun land", k=2)
    assert fused[0].key == "solar farms"
    index = bank.db.vector_index()
    assert index is not None and index.backend in ("sqlite-vec", "numpy")
    reopened = MemoryBank(tmp_path / "m.db", embedder=BagOfWords())
    assert [h.key for h in reopened.search("vehicle", mode="vector", k=1)] == ["car batteries"]


def test_no_embedder_by_default(tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "m.db")
    assert bank.embedder is None
    bank.add("k", "v")
    assert bank.db.vector_index() is None


def test_import_entries_round_trips_an_export(tmp_path: Path) -> None:
    src = MemoryBank(tmp_path / "a.db")
    src.add("alpha key", "alpha value about tides", team="t1", citations=["p_0123456789"])
    src.add("beta key", {"x": 1}, kind="tool_result", fingerprint="fp-b")
    buf = io.StringIO()
    src.export(buf)
    records = [json.loads(line) for line in buf.getvalue().splitlines()]
    dst = MemoryBank.for_scope("run", run_id="r9", path=tmp_path / "b.db")
    assert dst.import_entries(records, batch=1) == 2
    assert dst.import_entries(records) == 0  # identical content is skipped
    (alpha,) = dst.search("tides")
    assert alpha.key == "alpha key" and alpha.team == "t1" and alpha.citations == ["p_0123456789"] and alpha.scope == "run:r9"
    beta = dst.lookup("fp-b")
    assert beta is not None and beta.data() == {"x": 1}
    dst.add("gamma key", "gamma value about lagoons")  # the FTS trigger is back after the bulk load
    assert [e.key for e in dst.search("lagoons")] == ["gamma key"]
    with pytest.raises(ConfigError, match="rumour"):
        dst.import_entries([{"key": "k", "value": "v", "kind": "rumour"}])
    assert len(dst) == 3

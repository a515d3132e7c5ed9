"""The memory bank's parts work alone, composed by hand: a database, an entry store, admission
with a policy, search and hygiene, with no ``MemoryBank`` around them."""

from __future__ import annotations

from pathlib import Path

from agentloom.memory import AdmissionCandidate, AdmitAll, AdmitNone
from agentloom.memory._database import BankDatabase
from agentloom.memory._entries import EntryStore
from agentloom.memory._hygiene import Hygiene
from agentloom.memory._offer import Admission
from agentloom.memory._search import Search


def test_parts_compose_without_the_facade(tmp_path: Path) -> None:
    db = BankDatabase(tmp_path / "m.db", scope="project", run_id=None)
    store = EntryStore(db, ttl=None, team="t1")
    admission = Admission(store, AdmitAll())
    decision = admission.offer(AdmissionCandidate(kind="finding", key="tidal power", value="Tidal stations follow the moon"))
    assert decision.admit and decision.entry_id is not None
    assert [e.key for e in Search(db).search("tidal")] == ["tidal power"]
    assert store.count() == 1
    assert Hygiene(db).clear() == 1 and store.count() == 0
    db.close()


def test_a_part_can_be_replaced(tmp_path: Path) -> None:
    db = BankDatabase(tmp_path / "m.db", scope="project", run_id=None)
    store = EntryStore(db)
    refusing = Admission(store, AdmitNone())
    assert not refusing.offer(AdmissionCandidate(kind="finding", key="k", value="v")).admit
    assert store.count() == 0
    db.close()

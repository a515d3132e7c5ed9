"""Admission policies and their features."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agentloom import tracing
from agentloom.memory import (
    FEATURE_NAMES,
    AdmissionCandidate,
    AdmissionModel,
    AdmissionPolicy,
    AdmitAll,
    AdmitNone,
    Decision,
    HeuristicAdmission,
    LearnedAdmission,
    MemoryBank,
    use_task,
)
from agentloom.memory.features import compute_features


def cand(value: str, *, key: str | None = None, kind: str = "tool_result", task: str = "", seconds: float = 0.2,
         citations: list[str] | None = None) -> AdmissionCandidate:
    return AdmissionCandidate(kind=kind, key=key or value[:40], value=value, task=task, cost_seconds=seconds, citations=citations or [])


def test_features_novelty_relevance_cost_size() -> None:
    c = cand("Tidal turbines in the Bay of Fundy produce power", task="tidal energy turbines output", seconds=5.0)
    f = compute_features(c, exact=False, neighbours=[])
    assert f["novelty"] == 1.0 and f["similarity"] == 0.0
    assert 0.4 < f["relevance"] <= 1.0
    assert f["cost"] > compute_features(cand("x", seconds=0.1), exact=False, neighbours=[])["cost"]
    assert f["kind_tool"] == 1.0 and f["kind_finding"] == 0.0
    dup = compute_features(c, exact=True, neighbours=[])
    assert dup["novelty"] == 0.0 and dup["exact"] == 1.0
    from agentloom.memory._text import term_set

    near = compute_features(c, exact=False, neighbours=[term_set(c.key + " " + c.value)])
    assert near["similarity"] == 1.0 and near["novelty"] == 0.0
    no_task = compute_features(cand("anything at all"), exact=False, neighbours=[])
    assert no_task["relevance"] == 0.5
    big = compute_features(cand("word " * 20000), exact=False, neighbours=[])
    assert big["size"] > f["size"]
    assert set(FEATURE_NAMES) <= set(f)


def test_admit_all_and_admit_none() -> None:
    f = compute_features(cand("a fact"), exact=False, neighbours=[])
    assert AdmitAll().decide(f).admit and not AdmitNone().decide(f).admit
    assert not AdmitAll().decide(compute_features(cand("a fact"), exact=True, neighbours=[])).admit


def test_heuristic_weighs_novelty_relevance_cost_size() -> None:
    h = HeuristicAdmission()
    task = "offshore wind farm capacity factors"
    relevant = compute_features(cand("Offshore wind farm capacity factors reach 50% in the North Sea", task=task), exact=False, neighbours=[])
    irrelevant = compute_features(cand("Sourdough bread needs a starter and patience", task=task), exact=False, neighbours=[])
    expensive = compute_features(cand("Sourdough bread needs a starter and patience", task=task, seconds=20.0), exact=False, neighbours=[])
    assert h.decide(relevant).admit
    assert not h.decide(irrelevant).admit
    assert h.decide(expensive).admit  # costly to redo: worth keeping even off-topic
    dup = h.decide(compute_features(cand("x", task=task), exact=True, neighbours=[]))
    assert not dup.admit and dup.reason == "duplicate"
    from agentloom.memory._text import term_set

    c = cand("Offshore wind farm capacity factors reach 50% in the North Sea", task=task)
    near = h.decide(compute_features(c, exact=False, neighbours=[term_set(c.key + " " + c.value)]))
    assert not near.admit and near.reason.startswith("near-duplicate")
    huge = h.decide(compute_features(cand("wind " * 40000, task=task), exact=False, neighbours=[]))
    assert not huge.admit and huge.reason.startswith("too large")


def test_heuristic_in_the_bank_rejects_near_duplicates(tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "m.db", policy=HeuristicAdmission(), task="geothermal heat pumps efficiency")
    first = bank.offer(cand("Geothermal heat pumps reach a coefficient of performance of four in winter", kind="finding"))
    assert first.admit
    again = bank.offer(cand("Geothermal heat pumps reach a coefficient of performance of four in winter.", kind="finding"))
    assert not again.admit and "duplicate" in again.reason
    near = bank.offer(cand("geothermal heat pumps reach a coefficient of performance of four in cold winter", kind="finding"))
    assert not near.admit and near.reason.startswith("near-duplicate")
    assert len(bank) == 1


def test_learned_falls_back_to_the_heuristic_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    events: list[dict[str, Any]] = []
    with caplog.at_level(logging.INFO, logger="agentloom.memory"):
        bank = MemoryBank(tmp_path / "m.db", policy=LearnedAdmission(), task="tidal power")
    assert isinstance(bank.policy, LearnedAdmission)
    assert bank.policy.fallback is True
    assert "no trained admission model" in caplog.text and "HeuristicAdmission" in caplog.text
    with tracing.use(tracing.RunContext(run_id="r", team="t", listeners=[lambda e: events.append(e.to_row())])):
        d1 = bank.offer(cand("Tidal power stations run on predictable tides", task="tidal power", kind="finding"))
        bank.offer(cand("Another unrelated sentence about cooking pasta", kind="finding"))
    assert d1.fallback and d1.policy == "learned" and d1.reason.startswith("fallback to heuristic")
    announced = [e for e in events if e["kind"] == "memory_policy"]
    assert len(announced) == 1 and announced[0]["data"]["fallback"] is True  # said once, not per decision
    assert bank.db.read("SELECT DISTINCT fallback FROM decisions") == [(1,)]


def test_learned_uses_a_given_model(tmp_path: Path) -> None:
    weights = np.zeros(len(FEATURE_NAMES))
    weights[FEATURE_NAMES.index("relevance")] = 10.0
    model = AdmissionModel(weights=weights, bias=-5.0, threshold=0.5, version=7)
    policy = LearnedAdmission(model)
    bank = MemoryBank(tmp_path / "m.db", policy=policy)
    assert policy.fallback is False
    with use_task("solar inverter failures"):
        yes = bank.offer(cand("Solar inverter failures are the most common fault", kind="finding"))
        no = bank.offer(cand("Knitting needles come in many sizes", kind="finding"))
    assert yes.admit and "model v7" in yes.reason and yes.score > 0.9
    assert not no.admit and no.score < 0.1
    assert LearnedAdmission(model, threshold=0.999).decide(yes.features).admit is False


def test_learned_loads_the_newest_model_or_a_given_version(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    bank = MemoryBank(path, policy=AdmitNone())
    w = np.zeros(len(FEATURE_NAMES))
    v1 = bank.save_model(AdmissionModel(weights=w, bias=5.0))  # admits everything
    v2 = bank.save_model(AdmissionModel(weights=w, bias=-5.0))  # admits nothing
    assert (v1, v2) == (1, 2)
    newest = LearnedAdmission()
    MemoryBank(path, policy=newest)
    assert newest.model is not None and newest.model.version == 2 and not newest.fallback
    old = LearnedAdmission(version=1)
    MemoryBank(path, policy=old)
    assert old.model is not None and old.model.bias == 5.0
    missing = LearnedAdmission(version=9)
    MemoryBank(path, policy=missing)
    assert missing.fallback and "version 9" in missing.fallback_reason


def test_custom_policy_subclass(tmp_path: Path) -> None:
    class OnlyAnswers(AdmissionPolicy):
        name = "only_answers"

        def decide(self, features: dict[str, float]) -> Decision:
            ok = features["kind_answer"] == 1.0
            return Decision(ok, float(ok), "answers only", self.name, features)

    bank = MemoryBank(tmp_path / "m.db", policy=OnlyAnswers())
    assert not bank.offer(cand("a finding", kind="finding")).admit
    assert bank.offer(cand("the answer is 42", kind="answer")).admit
    assert [e.kind for e in bank.entries()] == ["answer"]

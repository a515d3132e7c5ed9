"""Usage-aware credit, fitting, versioned storage, and the learned policy that results."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agentloom import tracing
from agentloom.errors import ConfigError
from agentloom.memory import (
    AdmissionCandidate,
    AdmissionPolicy,
    AdmitAll,
    Decision,
    LearnedAdmission,
    MemoryBank,
    use_task,
)
from agentloom.memory.training import credits, fit_logistic, train
from agentloom.models.types import ToolCall
from agentloom.tools import ToolExecutor, tool

_SYL = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "su", "do", "fa"]


def word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYL) for _ in range(3))


class Scripted(AdmissionPolicy):
    """Admits exactly the contents listed (to build a known log)."""

    name = "scripted"

    def __init__(self, admit: set[str]) -> None:
        self.admit = admit

    def decide(self, features: dict[str, float]) -> Decision:
        return Decision(False, 0.0, "scripted", self.name, features)


def offer(bank: MemoryBank, value: str, *, team: str, admit: bool, seconds: float = 2.0) -> Decision:
    policy = bank.policy
    bank.policy = AdmitAll() if admit else Scripted(set())
    try:
        return bank.offer(AdmissionCandidate(kind="tool_result", key=value[:30], value=value, team=team, run="r",
                                    fingerprint=f"fp-{value}", cost_seconds=seconds))
    finally:
        bank.policy = policy


def test_credit_counts_other_teams_uses_minus_context_tokens(tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "m.db")
    a = offer(bank, "alpha result text", team="t1", admit=True, seconds=2.0)
    assert a.entry_id
    entry = bank.get(a.entry_id)
    assert entry is not None
    bank.store.log_read(entry, "t2", "r", "hit")
    bank.store.log_read(entry, "t3", "r", "memory_read")
    bank.store.log_read(entry, "t1", "r", "hit")  # its own team: no credit
    for _ in range(3):
        bank.note_shown([a.entry_id])
    # rejected by t1, produced again by t2 (stored), then read by t3 and by t1 itself
    b = offer(bank, "beta result text", team="t1", admit=False, seconds=1.0)
    c = offer(bank, "beta result text", team="t2", admit=True, seconds=1.0)
    assert not b.admit and c.entry_id
    beta = bank.get(c.entry_id)  # type: ignore[arg-type]
    assert beta is not None
    bank.store.log_read(beta, "t3", "r", "hit")
    bank.store.log_read(beta, "t1", "r", "hit")
    # never used
    d = offer(bank, "gamma result text", team="t1", admit=True, seconds=5.0)
    rows = {r.decision_id: r for r in credits(bank, penalty=0.01)}
    key_tokens = bank.db.read("SELECT key_tokens FROM decisions ORDER BY id")[0][0]
    value_tokens = entry.tokens
    first = rows[1]
    assert first.other_uses == 2
    # the key counts once however often it is shown (the key block is capped, so it displaces
    # another key rather than growing the prompt); the value counts for each lazy read
    assert first.context_tokens == key_tokens + value_tokens * 1
    assert first.credit == pytest.approx(2 * 2.0 - 0.01 * first.context_tokens)
    rejected = rows[2]
    assert rejected.other_uses == 2  # t2 had to redo it, and t3 read t2's copy
    assert rejected.credit == pytest.approx(2 * 1.0 - 0.01 * rejected.context_tokens)
    assert rows[3].other_uses == 2  # t2's copy: read by t3 and t1, both other teams than t2
    assert rows[4].other_uses == 0 and rows[4].credit < 0
    assert d.entry_id is not None


def test_fit_logistic_separates_and_is_deterministic() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] - 0.5 * x[:, 1] > 0).astype(float)
    w1, b1 = fit_logistic(x, y)
    w2, b2 = fit_logistic(x, y)
    assert np.array_equal(w1, w2) and b1 == b2
    assert w1[0] > 0 and w1[1] < 0 and abs(w1[2]) < abs(w1[0]) / 4
    acc = ((x @ w1 + b1 > 0) == (y == 1)).mean()
    assert acc > 0.95


def test_too_few_decisions_is_a_clear_error(tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "m.db")
    offer(bank, "only one", team="t", admit=True)
    with pytest.raises(ConfigError, match="only 1 admission decisions logged"):
        train(bank)


async def simulate(bank: MemoryBank, *, runs: int, seed: int, teams: int = 4) -> dict[str, int]:
    """Teams answer sub-questions of a run's topic one after another: they share topic-level
    searches (reused) and make their own (never reused)."""
    rng = random.Random(seed)
    executed: dict[str, int] = {"n": 0}

    @tool(cache=True)
    async def search(query: str) -> str:
        """Search."""
        executed["n"] += 1
        await asyncio.sleep(0.05)  # worth saving: 3 reuses x 0.05 s beat the key's context cost
        words = query.split()
        return f"Results for {query}: " + " ".join(f"{w} is documented in source {i}." for i, w in enumerate(words))

    ex = ToolExecutor([search], cache=bank)
    for r in range(runs):
        topic = [word(rng) for _ in range(3)]
        task = " ".join(topic)
        shared = [f"{task} {aspect}" for aspect in ("overview", "history")]
        with use_task(task):
            for t in range(teams):
                private = [" ".join(word(rng) for _ in range(3)) for _ in range(2)]
                calls = [ToolCall(f"c{i}", "search", json.dumps({"query": q})) for i, q in enumerate(shared + private)]
                with tracing.use(tracing.RunContext(run_id=f"run{seed}-{r}", team=f"team{t}")):
                    await ex.run_batch(calls)
    return executed


async def test_trained_model_admits_what_other_teams_reuse(tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "train.db", policy=AdmitAll())
    await simulate(bank, runs=6, seed=1)
    report = train(bank)
    assert report.version == 1 and report.model is not None
    assert report.n_decisions == 6 * (2 + 4 * 2)
    assert report.n_positive == 6 * 2  # the shared searches, stored once per run, reused by 3 teams
    assert report.weights["relevance"] > 0
    assert report.metrics["credit_captured"] == 1.0 and report.metrics["admit_fraction"] < 0.3
    assert "model v1" in report.summary()
    assert train(bank).version == 2  # versioned, newest wins
    # a fresh bank on new topics, driven by the learned policy
    test = MemoryBank(tmp_path / "test.db", policy=LearnedAdmission(report.model))
    executed = await simulate(test, runs=3, seed=2)
    stored = list(test.entries())
    assert len(stored) == 3 * 2  # only the shared searches
    assert executed["n"] == 3 * (2 + 4 * 2)
    assert test.stats()["hits"] == 3 * 2 * 3


async def test_policy_loaded_from_the_bank_after_train(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    bank = MemoryBank(path, policy=AdmitAll())
    await simulate(bank, runs=4, seed=5)
    bank.train()
    policy = LearnedAdmission()
    learned = MemoryBank(path, policy=policy)
    assert not policy.fallback and policy.model is not None and policy.model.version == 1
    assert learned.stats()["model_version"] == 1


def test_concurrent_training_data_is_consistent(tmp_path: Path) -> None:
    async def main() -> Any:
        bank = MemoryBank(tmp_path / "m.db", policy=AdmitAll())
        await asyncio.gather(simulate(bank, runs=2, seed=7), simulate(bank, runs=2, seed=8))
        return credits(bank)

    rows = asyncio.run(main())
    assert len(rows) == 2 * 2 * 10
    assert all(r.credit == pytest.approx(r.other_uses * r.saved - 0.001 * r.context_tokens) for r in rows)


async def test_coalesced_join_credits_the_leaders_decision(tmp_path: Path) -> None:
    """Teams that start together share by joining the call in flight: that join is another
    team's use of the leader's result and earns its decision credit, like a later hit would."""
    bank = MemoryBank(tmp_path / "m.db", policy=AdmitAll())

    @tool(cache=True)
    async def search(query: str) -> str:
        """Search."""
        await asyncio.sleep(0.2)
        return f"Results for {query}: it is documented."

    ex = ToolExecutor([search], cache=bank)

    async def team(name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        with tracing.use(tracing.RunContext(run_id="r1", team=name)):
            await ex.run_batch([ToolCall("c", "search", json.dumps({"query": "tidal lagoon overview"}))])

    await asyncio.gather(team("t1", 0.0), team("t2", 0.05), team("t3", 0.1))
    vias = sorted(v for (v,) in bank.db.read("SELECT via FROM reads"))
    assert vias == ["coalesced", "coalesced"]
    rows = credits(bank, penalty=0.0)
    assert len(rows) == 1 and rows[0].admitted and rows[0].team == "t1"
    assert rows[0].other_uses == 2
    assert rows[0].credit == pytest.approx(2 * rows[0].saved)


def test_coalesced_reads_go_to_the_nearest_decision_of_the_same_run(tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "m.db")
    first = offer(bank, "delta result text", team="t1", admit=False, seconds=1.0)
    second = offer(bank, "delta result text", team="t2", admit=True, seconds=1.0)
    assert not first.admit and second.entry_id
    t_second = bank.db.read("SELECT created FROM decisions WHERE id = 2")[0][0]
    from agentloom.memory._entries import log_read

    for team, run in (("t3", "r"), ("t2", "r"), ("t4", "other-run")):
        bank.db.write(lambda c, team=team, run=run: log_read(  # type: ignore[misc]
            c, ns="project", entry_id=None, fingerprint="fp-delta result text", team=team, run=run, via="coalesced",
            saved_seconds=1.0, saved_tokens=0, saved_usd=0.0, now=t_second + 0.001))
    rows = {r.decision_id: r for r in credits(bank, penalty=0.0)}
    assert rows[2].other_uses == 1  # t3 joined t2's call; t2's own join and the other run's do not count
    assert rows[1].other_uses == 1  # t2 had to produce it again (t3's join went to t2's flight)


def test_threshold_keeps_the_few_positives_and_stores_least() -> None:
    from agentloom.memory.training import _best_threshold

    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    credit = np.array([-0.5, 0.2, -0.1, 0.1, -0.3, -0.2, 0.0, -0.1])  # few, sparse positives, net gain < 0 below
    t = _best_threshold(p, credit)
    admitted = p >= t
    assert admitted.any(), "positive credit exists: the model must admit something"
    assert float(credit[admitted & (credit > 0)].sum()) >= 0.9 * 0.3 - 1e-12
    assert admitted.sum() == 4  # capturing 90% needs p >= 0.6; going lower only loses net credit
    assert _best_threshold(p, np.minimum(credit, 0.0)) == 0.99  # nothing earned credit: admit nothing
    tiny = np.array([0.004, 0.002, 0.001])
    assert (tiny >= _best_threshold(tiny, np.array([0.5, -1.0, -1.0]))).sum() == 1  # no floor above a low positive

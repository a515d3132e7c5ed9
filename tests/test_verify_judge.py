"""JudgeVerifier: offline pointwise and pairwise judging, repair-then-unverified, events, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentloom import tracing
from agentloom.agents import Candidate, JudgeVerifier
from agentloom.budget import Budget
from agentloom.errors import ConfigError, VerifierError
from agentloom.models.function import FunctionModel
from agentloom.models.offline import OfflineModel
from agentloom.models.types import ModelRequest
from agentloom.runstore import RunStore

P_YEAR = {"id": "p_aaaaaaaaaa", "path": "eiffel.md", "text": "The Eiffel Tower was completed in 1889 for the World's Fair in Paris."}
P_HEIGHT = {"id": "p_bbbbbbbbbb", "path": "eiffel.md", "text": "The tower is 330 metres tall and was designed by Gustave Eiffel's company."}
QUESTION = "When was the Eiffel Tower completed and how tall is it?"


def good() -> Candidate:
    return Candidate(
        text="The Eiffel Tower was completed in 1889 [p_aaaaaaaaaa]. It is 330 metres tall [p_bbbbbbbbbb].",
        passages=[P_YEAR, P_HEIGHT],
    )


def wrong_year() -> Candidate:
    return Candidate(text="The Eiffel Tower was completed in 1887 [p_aaaaaaaaaa]. It was built by aliens.", passages=[P_YEAR, P_HEIGHT])


def partial() -> Candidate:
    return Candidate(text="The Eiffel Tower was completed in 1889 [p_aaaaaaaaaa].", passages=[P_YEAR, P_HEIGHT])


async def test_pointwise_offline_scores_support_and_coverage() -> None:
    judge = JudgeVerifier(OfflineModel())
    a, b, c = good(), wrong_year(), partial()
    verdicts = await judge.verify([a, b, c], question=QUESTION)
    assert [v.candidate_id for v in verdicts] == [a.id, b.id, c.id]
    va, vb, vc = verdicts
    assert va.passed is True and va.score == pytest.approx(1.0)
    assert vb.passed is False and vb.score < 0.3
    assert "1887" in vb.feedback and "aliens" in vb.feedback
    assert vc.score < va.score and "tall" in vc.feedback
    assert all(v.verifier == "judge" for v in verdicts)


async def test_threshold_decides_pass() -> None:
    strict = JudgeVerifier(OfflineModel(), threshold=0.9)
    lenient = JudgeVerifier(OfflineModel(), threshold=0.3)
    c = partial()
    (strict_v,) = await strict.verify([c], question=QUESTION)
    (lenient_v,) = await lenient.verify([c], question=QUESTION)
    assert strict_v.score == lenient_v.score
    assert strict_v.passed is False and lenient_v.passed is True


async def test_pairwise_round_robin_turns_wins_into_scores() -> None:
    judge = JudgeVerifier(OfflineModel(), mode="pairwise")
    a, b, c = good(), wrong_year(), partial()
    va, vb, vc = await judge.verify([b, a, c], question=QUESTION)
    # order of verdicts follows the input: b, a, c
    assert va.candidate_id == b.id and vb.candidate_id == a.id
    assert vb.score == 1.0 and va.score == 0.0 and vc.score == 0.5
    assert vb.meta["games"] == 2 and vb.meta["mode"] == "pairwise"
    assert "lost to" in va.feedback


async def test_pairwise_tournament_champion_wins_every_round() -> None:
    judge = JudgeVerifier(OfflineModel(), mode="pairwise", pairing="tournament")
    cands = [wrong_year(), partial(), good(), wrong_year()]
    verdicts = await judge.verify(cands, question=QUESTION)
    scores = {v.candidate_id: v.score for v in verdicts}
    assert scores[cands[2].id] == 1.0
    assert max(scores.values()) == 1.0 and sum(1 for s in scores.values() if s == 1.0) == 1


async def test_pairwise_with_one_candidate_is_scored_pointwise() -> None:
    (verdict,) = await JudgeVerifier(OfflineModel(), mode="pairwise").verify([good()], question=QUESTION)
    assert verdict.passed is True and "mode" not in verdict.meta


async def test_structured_candidate_gets_field_scores() -> None:
    c = Candidate(output={"year": "1889", "height": "410 metres"}, passages=[P_YEAR, P_HEIGHT])
    (verdict,) = await JudgeVerifier(OfflineModel()).verify([c], question="Eiffel Tower completion year and height")
    assert verdict.field_scores["year"] == 1.0
    assert verdict.field_scores["height"] < 0.6


async def test_malformed_judge_output_is_repaired_once_then_unverified() -> None:
    calls: list[ModelRequest] = []

    def broken(request: ModelRequest) -> str:
        calls.append(request)
        return "I think it is pretty good, 8/10"

    budget = Budget()
    with tracing.use(tracing.RunContext(budget=budget)):
        (verdict,) = await JudgeVerifier(FunctionModel(broken)).verify([good()], question=QUESTION)
    assert len(calls) == 2, "one call plus exactly one repair"
    assert "schema" in (calls[1].messages[-1].content or "")
    assert verdict.passed is None and verdict.score == 0.0
    assert verdict.error and "after one repair" in verdict.error
    assert budget.spent.llm_calls == 2 and budget.reserved.tokens == 0


async def test_repair_that_succeeds_gives_a_normal_verdict() -> None:
    def fixable(request: ModelRequest) -> str:
        if "repair" in request.metadata:
            return json.dumps({"score": 0.8, "passed": True, "feedback": "fine"})
        return '{"score": "high"'

    (verdict,) = await JudgeVerifier(FunctionModel(fixable)).verify([good()], question=QUESTION)
    assert verdict.passed is True and verdict.score == pytest.approx(0.8)


async def test_out_of_range_score_counts_as_malformed() -> None:
    def overconfident(request: ModelRequest) -> str:
        return json.dumps({"score": 7, "passed": True})

    (verdict,) = await JudgeVerifier(FunctionModel(overconfident)).verify([good()])
    assert verdict.passed is None


async def test_judge_says_passed_but_score_below_threshold_fails() -> None:
    def lenient(request: ModelRequest) -> str:
        return json.dumps({"score": 0.2, "passed": True, "feedback": ""})

    (verdict,) = await JudgeVerifier(FunctionModel(lenient), threshold=0.5).verify([good()])
    assert verdict.passed is False


async def test_empty_candidate_list_names_the_node() -> None:
    with pytest.raises(VerifierError, match="'final_check'"):
        await JudgeVerifier(OfflineModel(), name="final_check").verify([])


def test_bad_mode_and_threshold_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="mode"):
        JudgeVerifier(OfflineModel(), mode="listwise")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="threshold"):
        JudgeVerifier(OfflineModel(), threshold=1.5)


async def test_verdicts_are_recorded_as_events(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    run_id = store.create_run("test")
    with tracing.use(tracing.RunContext(run_id=run_id, store=store, budget=Budget())):
        await JudgeVerifier(OfflineModel(), name="judge_node").verify([good(), wrong_year()], question=QUESTION)
    events = store.events(run_id, kind="verdict")
    assert len(events) == 2
    assert {e["name"] for e in events} == {"judge_node"}
    assert sorted(e["status"] for e in events) == ["failed", "ok"]
    assert all("score" in e["data"] and "candidate_id" in e["data"] for e in events)
    purposes = {e["data"].get("purpose") for e in store.events(run_id, kind="model_call")}
    assert purposes == {"verify"}

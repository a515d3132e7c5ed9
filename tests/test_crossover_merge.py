"""MergeCrossover and the offline merge handler: union of supported sentences, near-duplicates
merged, every citation id kept, conflicts settled or flagged, nothing invented."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentloom.agents import Candidate, JudgeVerifier, MergeCrossover, Verdict
from agentloom.agents.crossover import MergeOutput
from agentloom.errors import BudgetExceeded, VerifierError
from agentloom.models.function import FunctionModel
from agentloom.models.offline import OfflineModel
from agentloom.models.offline.merge import respond
from agentloom.models.types import Message, ModelRequest
from agentloom.text.lexical import render_payload, split_sentences, strip_markers

P1 = {"id": "p_a1a1a1a1a1", "path": "bridge.md", "text": "The Golden Gate Bridge opened in 1937 and spans the Golden Gate strait."}
P2 = {"id": "p_b2b2b2b2b2", "path": "bridge.md", "text": "Its main span is 1,280 metres long and it is painted International Orange."}
P3 = {"id": "p_c3c3c3c3c3", "path": "bridge.md", "text": "Joseph Strauss was the chief engineer of the Golden Gate Bridge."}
PASSAGES = [P1, P2, P3]
QUESTION = "When did the Golden Gate Bridge open, how long is its main span and who engineered it?"


def cand(text: str) -> Candidate:
    return Candidate(text=text, passages=PASSAGES)


async def test_merge_unions_supported_sentences_and_keeps_citations() -> None:
    a = cand("The Golden Gate Bridge opened in 1937 [p_a1a1a1a1a1]. It was built by giants.")
    b = cand("The main span is 1,280 metres long [p_b2b2b2b2b2]. The Golden Gate Bridge opened in 1937 [p_a1a1a1a1a1].")
    c = cand("Joseph Strauss was the chief engineer [p_c3c3c3c3c3].")
    merged = await MergeCrossover(OfflineModel(), k=3).combine([a, b, c], question=QUESTION)
    sentences = split_sentences(merged.text)
    assert len(sentences) == 3, merged.text  # the duplicate opening sentence appears once
    assert "giants" not in (merged.text or "")
    assert merged.meta["dropped"] == ["It was built by giants."]
    assert set(merged.citations) == {"p_a1a1a1a1a1", "p_b2b2b2b2b2", "p_c3c3c3c3c3"}
    assert merged.parents == [a.id, b.id, c.id] and merged.source == "merge"
    assert set(merged.passages) == {"p_a1a1a1a1a1", "p_b2b2b2b2b2", "p_c3c3c3c3c3"}
    assert merged.cost.llm_calls == 1


async def test_conflict_is_settled_by_support() -> None:
    right = cand("The Golden Gate Bridge opened in 1937 [p_a1a1a1a1a1].")
    wrong = cand("The Golden Gate Bridge opened in 1940 [p_a1a1a1a1a1].")
    merged = await MergeCrossover(OfflineModel()).combine([wrong, right])
    assert "1937" in (merged.text or "") and "1940" not in (merged.text or "")
    assert merged.meta["unresolved"] == []


async def test_conflict_without_evidence_is_flagged_unresolved() -> None:
    a = Candidate(text="The meeting is at 3 pm on Friday in room 12.")
    b = Candidate(text="The meeting is at 4 pm on Friday in room 12.")
    merged = await MergeCrossover(OfflineModel()).combine([a, b])
    (disagreement,) = merged.meta["unresolved"]
    assert len(disagreement["variants"]) == 2
    assert set(disagreement["candidate_ids"]) == {a.id, b.id}
    assert "3 pm" in (merged.text or "")  # the better-ranked version stays, flagged


async def test_near_duplicates_merge_their_citation_markers() -> None:
    a = cand("The Golden Gate Bridge opened in 1937 [p_a1a1a1a1a1].")
    b = cand("The Golden Gate Bridge opened in 1937 [p_c3c3c3c3c3].")
    merged = await MergeCrossover(OfflineModel()).combine([a, b])
    assert split_sentences(merged.text) == ["The Golden Gate Bridge opened in 1937 [p_a1a1a1a1a1] [p_c3c3c3c3c3]."]


async def test_top_k_by_verdict_and_single_candidate_passthrough() -> None:
    best = cand("The Golden Gate Bridge opened in 1937 [p_a1a1a1a1a1].")
    worse = cand("The main span is 1,280 metres long [p_b2b2b2b2b2].")
    worst = cand("Joseph Strauss was the chief engineer [p_c3c3c3c3c3].")
    verdicts = [Verdict(best.id, 0.9, True), Verdict(worse.id, 0.5, True), Verdict(worst.id, 0.1, False)]
    merged = await MergeCrossover(OfflineModel(), k=2).combine([worst, worse, best], verdicts)
    assert merged.parents == [best.id, worse.id]
    assert "Strauss" not in (merged.text or "")
    calls: list[str] = []

    def never(request: ModelRequest) -> str:
        calls.append(request.purpose)
        return "{}"

    only = await MergeCrossover(FunctionModel(never), k=1).combine([worst, best], verdicts)
    assert only.id == best.id and only.meta["merged"] is False and calls == []


async def test_citation_ids_dropped_by_the_model_are_kept_on_the_candidate() -> None:
    def lossy(request: ModelRequest) -> str:
        return json.dumps({"text": "The bridge opened in 1937 [p_a1a1a1a1a1].", "unresolved": []})

    a = cand("The Golden Gate Bridge opened in 1937 [p_a1a1a1a1a1].")
    b = cand("Joseph Strauss was the chief engineer [p_c3c3c3c3c3].")
    merged = await MergeCrossover(FunctionModel(lossy)).combine([a, b])
    assert merged.citations == ["p_a1a1a1a1a1", "p_c3c3c3c3c3"]
    assert merged.meta["citations_not_in_text"] == ["p_c3c3c3c3c3"]


async def test_merge_model_failure_falls_back_to_the_best_candidate() -> None:
    def broken(request: ModelRequest) -> str:
        return "not json"

    a = cand("The Golden Gate Bridge opened in 1937 [p_a1a1a1a1a1].")
    b = cand("Joseph Strauss was the chief engineer [p_c3c3c3c3c3].")
    merged = await MergeCrossover(FunctionModel(broken)).combine([a, b], [Verdict(a.id, 0.4, True), Verdict(b.id, 0.8, True)])
    assert merged.id == b.id and "merge_error" in merged.meta


async def test_budget_exhaustion_propagates() -> None:
    def costly(request: ModelRequest) -> str:
        raise BudgetExceeded("out", limit="usd", budget="root")

    with pytest.raises(BudgetExceeded):
        await MergeCrossover(FunctionModel(costly)).combine([cand("a b c."), cand("d e f.")])


async def test_empty_candidates_name_the_node() -> None:
    with pytest.raises(VerifierError, match="'merge_answers'"):
        await MergeCrossover(OfflineModel(), name="merge_answers").combine([])


async def test_merged_answer_scores_at_least_as_well_as_its_parents() -> None:
    a = cand("The Golden Gate Bridge opened in 1937 [p_a1a1a1a1a1].")
    b = cand("Its main span is 1,280 metres long [p_b2b2b2b2b2].")
    c = cand("Joseph Strauss was the chief engineer [p_c3c3c3c3c3]. It glows in the dark.")
    judge = JudgeVerifier(OfflineModel())
    verdicts = await judge.verify([a, b, c], question=QUESTION)
    merged = await MergeCrossover(OfflineModel()).combine([a, b, c], verdicts, question=QUESTION)
    (mv,) = await judge.verify([merged], question=QUESTION)
    assert mv.score > max(v.score for v in verdicts)


def merge_request(candidates: list[str], passages: list[dict[str, str]]) -> ModelRequest:
    payload = {"candidates": [{"id": f"c{i}", "text": t} for i, t in enumerate(candidates)], "passages": passages}
    return ModelRequest(messages=[Message.user(render_payload(payload))], output_type=MergeOutput, purpose="merge")


WORDS = ["bridge", "river", "opened", "built", "steel", "orange", "long", "tall", "city", "tower", "1937", "42"]
SENTENCE = st.lists(st.sampled_from(WORDS), min_size=2, max_size=7).map(lambda ws: " ".join(ws).capitalize() + ".")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(SENTENCE, min_size=1, max_size=4).map(" ".join), min_size=1, max_size=4))
def test_offline_merge_is_extractive(candidates: list[str]) -> None:
    out = json.loads(respond(merge_request(candidates, [])).text or "{}")
    source = {strip_markers(s) for c in candidates for s in split_sentences(c)}
    for sentence in split_sentences(out["text"]):
        assert strip_markers(sentence) in source
    again = json.loads(respond(merge_request(candidates, [])).text or "{}")
    assert again == out, "deterministic"

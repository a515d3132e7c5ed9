"""ConsensusVerifier: answer normalisation, clustering, majority and agreement, ties, and the
optional equivalence judge (also for partial traces)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentloom.agents import Candidate, ConsensusVerifier
from agentloom.answers import answer_key, parse_quantity, words_to_number
from agentloom.errors import VerifierError
from agentloom.models.function import FunctionModel
from agentloom.models.offline import OfflineModel
from agentloom.models.types import ModelRequest


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1,000", "1000"),
        ("1000.0", "1000"),
        ("one thousand", "1000"),
        ("The answer is 1000.", "1,000"),
        ("x = 1000", "1000"),
        ("\\boxed{1000}", "1000"),
        ("Final answer: forty-two", "42"),
        ("1.5 million", "1,500,000"),
        ("5 km", "5000 m"),
        ("5 kg", "5000 g"),
        ("2 hours", "120 min"),
        ("50%", "50 percent"),
        ("$5", "5 dollars"),
        ("  PARIS ", "Paris."),
        ("The Paris", "paris"),
        ("New   York, City", "new york city"),
        ("minus three", "-3"),
        ("12 apples", "12 apple"),
    ],
)
def test_equivalent_answers_share_a_key(a: str, b: str) -> None:
    assert answer_key(a) == answer_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [("1000", "1001"), ("5 km", "5 kg"), ("50%", "50"), ("$5", "5"), ("Paris", "London"), ("5 m", "5 km")],
)
def test_different_answers_keep_different_keys(a: str, b: str) -> None:
    assert answer_key(a) != answer_key(b)


def test_units_can_be_ignored() -> None:
    assert answer_key("50%", units=False) == answer_key("50", units=False)


def test_words_to_number() -> None:
    assert words_to_number("one thousand two hundred and five") == 1205
    assert words_to_number("a hundred") == 100
    assert words_to_number("three million") == 3_000_000
    assert words_to_number("banana") is None
    assert parse_quantity("7 widgets") == ("widget", 7.0)


@given(st.integers(min_value=-10**9, max_value=10**9))
def test_integer_notations_agree(n: int) -> None:
    plain = answer_key(str(n))
    assert answer_key(f"{n:,}") == plain
    assert answer_key(f"{n}.0") == plain
    assert answer_key(f"The answer is {n}.") == plain


async def test_majority_and_agreement() -> None:
    cands = [Candidate(text=t) for t in ["1,000", "one thousand", "1000.0", "999", "x = 1000"]]
    verifier = ConsensusVerifier()
    consensus = await verifier.cluster(cands)
    assert consensus.majority == "1,000"
    assert consensus.agreement == pytest.approx(0.8)
    assert consensus.clusters[0].size == 4 and not consensus.tie
    verdicts = await verifier.verify(cands)
    assert [v.passed for v in verdicts] == [True, True, True, False, True]
    assert verdicts[3].score == pytest.approx(0.2) and "minority" in verdicts[3].feedback
    assert verdicts[0].meta["agreement"] == pytest.approx(0.8)


async def test_answer_field_is_preferred_over_text() -> None:
    cands = [
        Candidate(text="Long reasoning ... so it is 12.", answer="12"),
        Candidate(text="Different words entirely, result twelve", answer="twelve"),
        Candidate(text="13", answer="13"),
    ]
    consensus = await ConsensusVerifier().cluster(cands)
    assert consensus.agreement == pytest.approx(2 / 3)


async def test_tie_means_no_majority_and_unverified() -> None:
    cands = [Candidate(text=t) for t in ["A", "B", "a", "b", "c"]]
    verifier = ConsensusVerifier()
    consensus = await verifier.cluster(cands)
    assert consensus.tie and consensus.majority is None
    verdicts = await verifier.verify(cands)
    assert [v.passed for v in verdicts] == [None, None, None, None, False]


async def test_min_agreement_fails_a_weak_majority() -> None:
    cands = [Candidate(text=t) for t in ["7", "7", "8", "9", "10"]]
    verdicts = await ConsensusVerifier(min_agreement=0.5).verify(cands)
    assert verdicts[0].passed is False and "below the required agreement" in verdicts[0].feedback


async def test_judge_merges_differently_worded_clusters() -> None:
    cands = [Candidate(text=t) for t in ["Paris", "the capital is Paris", "It is London", "Paris."]]
    without = await ConsensusVerifier().cluster(cands)
    with_judge = await ConsensusVerifier(judge=OfflineModel()).cluster(cands)
    assert without.agreement == pytest.approx(0.5)
    assert with_judge.agreement == pytest.approx(0.75)
    assert with_judge.judge_merges


async def test_judge_places_partial_traces() -> None:
    done = [Candidate(text="42"), Candidate(text="42"), Candidate(text="17")]
    partial = Candidate(answer=None, trace=["6 * 7 means six sevens", "so far that gives 42"])
    verifier = ConsensusVerifier(judge=OfflineModel())
    consensus = await verifier.cluster([*done, partial])
    assert partial.id in consensus.clusters[0].members
    assert consensus.agreement == pytest.approx(3 / 4)
    no_judge = await ConsensusVerifier().cluster([*done, partial])
    assert no_judge.errors and no_judge.answered == 3


async def test_malformed_equivalence_judge_leaves_clusters_apart() -> None:
    calls: list[str] = []

    def broken(request: ModelRequest) -> str:
        calls.append(request.purpose)
        return "yes they match"

    cands = [Candidate(text=t) for t in ["Paris", "the capital is Paris"]]
    consensus = await ConsensusVerifier(judge=FunctionModel(broken)).cluster(cands)
    assert len(consensus.clusters) == 2
    assert calls == ["equivalence", "equivalence"]  # one call, one repair


async def test_judge_is_not_asked_about_two_numbers_in_the_same_unit() -> None:
    def judge(request: ModelRequest) -> str:
        raise AssertionError("numbers in the same unit must not reach the judge")

    cands = [Candidate(text=t) for t in ["5 km", "5000 m", "4 km"]]
    consensus = await ConsensusVerifier(judge=FunctionModel(judge)).cluster(cands)
    assert consensus.agreement == pytest.approx(2 / 3)


async def test_equivalence_handler_answers_in_schema() -> None:
    from agentloom.agents.verifiers import EquivalenceJudgment
    from agentloom.models.base import call_model
    from agentloom.models.types import Message
    from agentloom.text.lexical import render_payload

    payload = {"a": {"answer": "one thousand", "trace": []}, "b": {"answer": "1,000", "trace": []}}
    request = ModelRequest(messages=[Message.user(render_payload(payload))], output_type=EquivalenceJudgment, purpose="equivalence")
    completion = await call_model(OfflineModel(), request)
    assert completion.parsed.equivalent is True
    assert json.loads(completion.text or "{}")["confidence"] == 1.0


async def test_empty_list_names_the_node() -> None:
    with pytest.raises(VerifierError, match="'vote'"):
        await ConsensusVerifier(name="vote").verify([])

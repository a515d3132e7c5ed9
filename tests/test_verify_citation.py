"""CitationVerifier: lexical support offline, entailment with a model, unknown ids, numbers,
candidates without citations, and a malformed entailment judge."""

from __future__ import annotations

import json

import pytest

from agentloom.agents import Candidate, CitationVerifier
from agentloom.errors import VerifierError
from agentloom.models.function import FunctionModel
from agentloom.models.offline import OfflineModel
from agentloom.models.types import ModelRequest
from agentloom.text.lexical import claim_support, split_sentences

PASSAGES = [
    {"id": "p_1111111111", "path": "rivers.md", "text": "The Nile is about 6,650 km long and flows north into the Mediterranean Sea."},
    {"id": "p_2222222222", "path": "rivers.md", "text": "The Amazon carries more water than any other river in the world."},
]


def test_sentences_keep_trailing_markers() -> None:
    text = "The Nile flows north. [p_1111111111] The Amazon is big [p_2222222222].\n- a list item"
    assert split_sentences(text) == [
        "The Nile flows north. [p_1111111111]",
        "The Amazon is big [p_2222222222].",
        "a list item",
    ]


def test_claim_support_needs_numbers_and_words() -> None:
    texts = [PASSAGES[0]["text"]]
    assert claim_support("The Nile is about 6,650 km long", texts).supported(0.6)
    wrong_number = claim_support("The Nile is about 7,000 km long", texts)
    assert not wrong_number.supported(0.6) and wrong_number.missing_numbers == ("7000",)
    assert not claim_support("Elephants migrate across deserts", texts).supported(0.6)
    assert claim_support("flows north into the Mediterranean Sea", texts).contained


async def test_supported_and_unsupported_claims() -> None:
    good = Candidate(
        text="The Nile is about 6,650 km long [p_1111111111]. The Amazon carries the most water of any river [p_2222222222].",
        passages=PASSAGES,
    )
    mixed = Candidate(
        text="The Nile is 7,000 km long [p_1111111111]. The Amazon carries more water than any other river [p_2222222222].",
        passages=PASSAGES,
    )
    vg, vm = await CitationVerifier().verify([good, mixed])
    assert vg.passed is True and vg.score == 1.0
    assert vm.passed is False and vm.score == pytest.approx(0.5)
    assert "unsupported: The Nile is 7,000 km long" in vm.feedback and "7000 not found" in vm.feedback


async def test_citing_an_unknown_passage_fails() -> None:
    c = Candidate(text="The Nile is about 6,650 km long [p_9999999999].", passages=PASSAGES)
    (verdict,) = await CitationVerifier().verify([c])
    assert verdict.passed is False and "unknown passage" in verdict.feedback


async def test_passages_can_be_given_to_the_verifier() -> None:
    c = Candidate(text="The Nile is about 6,650 km long [p_1111111111].")
    (without,) = await CitationVerifier().verify([c])
    (with_,) = await CitationVerifier(passages=PASSAGES).verify([c])
    assert without.passed is False and with_.passed is True


async def test_no_cited_claims_is_unverified_unless_citations_are_required() -> None:
    c = Candidate(text="The Nile is long. Rivers are wet and flow downhill.", passages=PASSAGES)
    (lenient,) = await CitationVerifier().verify([c])
    (strict,) = await CitationVerifier(require_citations=True).verify([c])
    assert lenient.passed is None and lenient.meta["uncited"] == 2
    assert strict.passed is False and "uncited" in strict.feedback


async def test_with_a_model_uses_entailment_calls() -> None:
    purposes: list[str] = []
    offline = OfflineModel()

    async def spy(request: ModelRequest) -> str:
        purposes.append(request.purpose)
        completion = await offline._attempt(request)
        return completion.text or ""

    c = Candidate(
        text="The Nile is about 6,650 km long [p_1111111111]. The Nile is 7,000 km long [p_1111111111].",
        passages=PASSAGES,
    )
    (verdict,) = await CitationVerifier(FunctionModel(spy)).verify([c])
    assert purposes == ["verify", "verify"]
    assert verdict.passed is False and verdict.score == pytest.approx(0.5)
    assert "not entailed" in verdict.feedback


async def test_malformed_entailment_judge_leaves_claims_unverified() -> None:
    def broken(request: ModelRequest) -> str:
        return "probably"

    c = Candidate(text="The Nile is about 6,650 km long [p_1111111111].", passages=PASSAGES)
    (verdict,) = await CitationVerifier(FunctionModel(broken)).verify([c])
    assert verdict.passed is None
    assert verdict.meta["unverified"] == 1 and "unverified:" in verdict.feedback


async def test_entailment_judge_that_answers_properly() -> None:
    def judge(request: ModelRequest) -> str:
        return json.dumps({"entailed": True, "confidence": 0.9, "reason": "stated"})

    c = Candidate(text="Anything at all [p_1111111111].", passages=PASSAGES)
    (verdict,) = await CitationVerifier(FunctionModel(judge)).verify([c])
    assert verdict.passed is True


async def test_empty_list_names_the_node() -> None:
    with pytest.raises(VerifierError, match="'cite_check'"):
        await CitationVerifier(name="cite_check").verify([])

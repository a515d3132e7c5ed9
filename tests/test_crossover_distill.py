"""DistillRefine (Parallel-Distill-Refine): a bounded workspace, then an extractive refine that
drops flagged claims and adds what the question still misses."""

from __future__ import annotations

import pytest

from agentloom import tracing
from agentloom.agents import Candidate, DistillRefine, JudgeVerifier, Verdict
from agentloom.budget import Budget
from agentloom.errors import ConfigError, VerifierError
from agentloom.models.function import FunctionModel
from agentloom.models.offline import OfflineModel
from agentloom.models.types import ModelRequest
from agentloom.text.lexical import split_sentences
from agentloom.tokens import count_tokens

PASSAGES = [
    {"id": "p_d1d1d1d1d1", "path": "mars.md", "text": "Mars has two moons, Phobos and Deimos."},
    {"id": "p_e2e2e2e2e2", "path": "mars.md", "text": "A day on Mars lasts about 24.6 hours."},
    {"id": "p_f3f3f3f3f3", "path": "mars.md", "text": "Olympus Mons on Mars is the tallest volcano in the solar system."},
]
QUESTION = "How many moons does Mars have, how long is its day, and what is its tallest volcano?"


def cand(text: str) -> Candidate:
    return Candidate(text=text, passages=PASSAGES)


def drafts() -> list[Candidate]:
    return [
        cand("Mars has two moons, Phobos and Deimos [p_d1d1d1d1d1]. Mars has three moons [p_d1d1d1d1d1]."),
        cand("A day on Mars lasts about 24.6 hours [p_e2e2e2e2e2]. Mars has two moons, Phobos and Deimos [p_d1d1d1d1d1]."),
        cand("Olympus Mons is the tallest volcano in the solar system [p_f3f3f3f3f3]."),
    ]


def test_workspace_ranks_agreement_and_stays_within_its_token_budget() -> None:
    cands = drafts()
    roomy = DistillRefine(OfflineModel(), workspace_tokens=400).distill(cands)
    assert roomy.sentences[0].startswith("Mars has two moons"), "agreed by two candidates, so first"
    assert roomy.sources[roomy.sentences[0]] == [cands[0].id, cands[1].id]
    assert roomy.dropped == 0
    tight = DistillRefine(OfflineModel(), workspace_tokens=30).distill(cands)
    assert tight.tokens <= 30 + len(tight.sentences)  # bullets add a character per line at most
    assert sum(count_tokens(s) + 1 for s in tight.sentences) <= 30
    assert tight.dropped > 0 and len(tight.sentences) < len(roomy.sentences)


def test_workspace_carries_verifier_notes() -> None:
    cands = drafts()
    verdicts = [Verdict(cands[0].id, 0.4, False, feedback="unsupported: Mars has three moons (only 60% supported)")]
    workspace = DistillRefine(OfflineModel(), workspace_tokens=400).distill(cands, verdicts)
    assert workspace.notes == ["unsupported: Mars has three moons (only 60% supported)"]
    assert "Issues found" in workspace.text


async def test_refine_drops_flagged_claims_and_fills_gaps() -> None:
    cands = drafts()
    judge = JudgeVerifier(OfflineModel())
    verdicts = await judge.verify(cands, question=QUESTION)
    budget = Budget()
    with tracing.use(tracing.RunContext(budget=budget)):
        refined = await DistillRefine(OfflineModel(), workspace_tokens=400).combine(cands, verdicts, question=QUESTION)
    text = refined.text or ""
    assert "three moons" not in text
    for needed in ("two moons", "24.6 hours", "Olympus Mons"):
        assert needed in text
    (rv,) = await judge.verify([refined], question=QUESTION)
    assert rv.score > max(v.score for v in verdicts)
    assert budget.spent.llm_calls == 1, "distilling is free; refining is one call"
    assert set(refined.parents) == {c.id for c in cands}
    source = {s for c in cands for s in split_sentences(c.text)}
    assert all(s in source for s in split_sentences(text)), "extractive"


async def test_refine_request_is_purpose_refine_and_failure_keeps_the_draft() -> None:
    purposes: list[str] = []

    def broken(request: ModelRequest) -> str:
        purposes.append(request.purpose)
        raise RuntimeError("provider down")

    from agentloom.errors import ModelHTTPError

    def http_broken(request: ModelRequest) -> str:
        purposes.append(request.purpose)
        raise ModelHTTPError("refine: 500")

    cands = drafts()
    kept = await DistillRefine(FunctionModel(http_broken)).combine(cands, [Verdict(cands[2].id, 0.9, True)])
    assert purposes == ["refine"]
    assert kept.id == cands[2].id and "refine_error" in kept.meta
    with pytest.raises(RuntimeError):
        await DistillRefine(FunctionModel(broken)).combine(cands)


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError):
        DistillRefine(OfflineModel(), workspace_tokens=4)
    with pytest.raises(VerifierError, match="'pdr'"):
        DistillRefine(OfflineModel(), name="pdr").distill([])

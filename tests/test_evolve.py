"""Evolve: generate → verify → select → crossover → refine with feedback; stops at the
threshold, on a plateau, or when the budget runs out (best so far, marked budget-limited)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from agentloom import tracing
from agentloom.agents import (
    Candidate,
    Evolve,
    EvolveInput,
    FieldCrossover,
    FunctionVerifier,
    JudgeVerifier,
    MergeCrossover,
    Variation,
)
from agentloom.budget import Budget, Cost
from agentloom.errors import ConfigError
from agentloom.models.base import call_model
from agentloom.models.function import FunctionModel
from agentloom.models.offline import OfflineModel
from agentloom.models.types import Message, ModelRequest
from agentloom.runstore import RunStore

TRUTH = {"capital": "Canberra", "river": "Murray", "peak": "Kosciuszko", "desert": "Simpson"}
WRONG = {"capital": "Sydney", "river": "Darling", "peak": "Townsend", "desert": "Tanami"}


def coin(*parts: Any) -> float:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def noisy_fields(request: ModelRequest) -> str:
    """Each field right with probability 0.5 per sample (by the request's seed); when the prompt
    carries a previous answer and feedback, fields the feedback does not flag are kept."""
    prompt = request.last_user_text()
    parent: dict[str, str] = {}
    match = re.search(r"Previous best answer:\n(\{.*?\})", prompt, re.S)
    if match:
        parent = json.loads(match.group(1))
    flagged = set(re.findall(r"wrong: (\w+)", prompt))
    out = {}
    for name in TRUTH:
        if name in parent and name not in flagged:
            out[name] = parent[name]
        else:
            out[name] = TRUTH[name] if coin(name, request.seed) < 0.5 else WRONG[name]
    return json.dumps(out)


def field_check(candidate: Candidate) -> dict[str, Any]:
    data = candidate.output_dict() or {}
    scores = {k: 1.0 if data.get(k) == v else 0.0 for k, v in TRUTH.items()}
    wrong = [k for k, s in scores.items() if s == 0.0]
    return {
        "score": sum(scores.values()) / len(scores),
        "passed": not wrong,
        "field_scores": scores,
        "feedback": "\n".join(f"wrong: {k}" for k in wrong),
    }


def generator(model: FunctionModel) -> Any:
    async def generate(inp: EvolveInput, variation: Variation) -> Candidate:
        request = variation.apply(ModelRequest(messages=[Message.user(str(inp))], max_tokens=200))
        completion = await call_model(model, request)
        return Candidate(output=json.loads(completion.text or "{}"), cost=Cost(llm_calls=1))

    return generate


async def test_field_crossover_composes_the_right_fields_and_stops_at_threshold(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    run_id = store.create_run("test")
    budget = Budget()
    evolve = Evolve(
        generator(FunctionModel(noisy_fields)),
        FunctionVerifier(field_check),
        FieldCrossover(),
        generations=4,
        population=4,
        threshold=1.0,
    )
    with tracing.use(tracing.RunContext(run_id=run_id, store=store, budget=budget)):
        result = await evolve.run("Name Australia's capital, longest river, highest peak and a desert as JSON.")
    assert result.best is not None and result.best.output_dict() == TRUTH
    assert result.stop_reason == "threshold" and not result.budget_limited
    assert result.verdict is not None and result.verdict.passed is True
    assert 1 <= result.generations <= 4
    assert result.spent.llm_calls == 4 * result.generations == budget.spent.llm_calls
    first = result.history[0]
    assert len(first.candidates) == 4 and first.child is not None
    assert first.child_score is not None and first.child_score >= max(first.scores)
    events = store.events(run_id, kind="evolve_generation")
    assert len(events) == result.generations
    (summary,) = store.events(run_id, kind="evolve_result")
    assert summary["data"]["stop_reason"] == "threshold"


async def test_budget_running_out_returns_the_best_so_far() -> None:
    def never_the_desert(request: ModelRequest) -> str:
        return json.dumps(json.loads(noisy_fields(request)) | {"desert": "Tanami"})

    budget = Budget(llm_calls=6)
    evolve = Evolve(
        generator(FunctionModel(never_the_desert)),
        FunctionVerifier(field_check),
        None,
        generations=5,
        population=4,
    )
    with tracing.use(tracing.RunContext(budget=budget)):
        result = await evolve.run("Australia facts as JSON")
    assert result.budget_limited and result.stop_reason == "budget"
    assert result.best is not None and result.verdict is not None
    assert budget.spent.llm_calls == 6 and budget.reserved == Cost()
    assert any("BudgetExceeded" in e for e in result.history[-1].errors)
    converted = result.to_result()
    assert converted.budget_limited and converted.partial and converted.stop_reason == "budget"
    assert converted.output == result.best.output


async def test_plateau_stops_after_patience_generations_without_improvement() -> None:
    calls: list[int | None] = []

    async def stubborn(inp: EvolveInput, variation: Variation) -> Candidate:
        calls.append(variation.seed)
        return Candidate(output=dict(WRONG))

    result = await Evolve(stubborn, FunctionVerifier(field_check), FieldCrossover(), generations=6, population=2, patience=2).run("x")
    assert result.stop_reason == "plateau"
    assert result.generations == 3  # gen 0 sets the best, gens 1 and 2 do not improve
    assert [h.improved for h in result.history] == [True, False, False]
    assert len(set(calls)) == len(calls) == 6, "every sample gets its own seed"


async def test_later_generations_refine_the_best_with_its_feedback() -> None:
    seen: list[EvolveInput] = []

    async def generate(inp: EvolveInput, variation: Variation) -> Candidate:
        seen.append(inp)
        return Candidate(text="draft" if inp.parent is None else "better draft")

    def score(candidate: Candidate) -> tuple[float, str]:
        return (0.9 if candidate.text == "better draft" else 0.3, "too short")

    result = await Evolve(generate, score, generations=2, population=2, threshold=0.8).run("Write it.")
    assert result.best is not None and result.best.text == "better draft"
    later = [inp for inp in seen if inp.generation == 1]
    assert later and all(inp.parent is not None and inp.feedback == "too short" for inp in later)
    assert "Previous best answer:\ndraft" in str(later[0]) and "too short" in str(later[0])
    assert [inp.sample for inp in seen] == [0, 1, 2, 3]


async def test_merge_crossover_on_text_with_the_offline_judge() -> None:
    passages = [
        {"id": "p_0a0a0a0a0a", "path": "sun.md", "text": "The Sun is a G-type main-sequence star."},
        {"id": "p_1b1b1b1b1b", "path": "sun.md", "text": "Light from the Sun takes about 8 minutes to reach Earth."},
        {"id": "p_2c2c2c2c2c", "path": "sun.md", "text": "The Sun contains 99.8 percent of the mass of the Solar System."},
    ]
    facts = [
        "The Sun is a G-type main-sequence star [p_0a0a0a0a0a].",
        "Light from the Sun takes about 8 minutes to reach Earth [p_1b1b1b1b1b].",
        "The Sun contains 99.8 percent of the mass of the Solar System [p_2c2c2c2c2c].",
    ]

    async def generate(inp: EvolveInput, variation: Variation) -> Candidate:
        return Candidate(text=facts[inp.sample % 3], passages=passages)

    question = "What type of star is the Sun, how long does its light take to reach Earth, and how much mass does it hold?"
    evolve = Evolve(generate, JudgeVerifier(OfflineModel()), MergeCrossover(OfflineModel(), k=3), generations=2, population=3)
    result = await evolve.run(question)
    assert result.best is not None and result.best.source == "merge"
    assert all(f in (result.best.text or "") for f in facts)
    assert result.history[0].child is not None
    assert result.verdict is not None and result.verdict.score > max(result.history[0].scores)


async def test_failing_generator_in_first_generation_raises() -> None:
    async def broken(inp: EvolveInput, variation: Variation) -> Candidate:
        raise RuntimeError("generator bug")

    with pytest.raises(RuntimeError, match="generator bug"):
        await Evolve(broken, FunctionVerifier(field_check), generations=2, population=2).run("x")


async def test_some_failing_samples_are_recorded_and_skipped() -> None:
    async def flaky(inp: EvolveInput, variation: Variation) -> Candidate:
        if inp.sample % 2:
            raise ValueError("flaky sample")
        return Candidate(output=dict(TRUTH))

    result = await Evolve(flaky, FunctionVerifier(field_check), generations=2, population=2).run("x")
    assert result.stop_reason == "threshold"
    assert result.history[0].errors == ["ValueError: flaky sample"]


def test_bad_arguments_are_config_errors() -> None:
    async def gen(inp: EvolveInput, variation: Variation) -> Candidate:
        return Candidate(text="x")

    with pytest.raises(ConfigError):
        Evolve(gen, FunctionVerifier(field_check), generations=0)
    with pytest.raises(ConfigError):
        Evolve(gen, FunctionVerifier(field_check), patience=0)
    with pytest.raises(ConfigError):
        Evolve(gen, FunctionVerifier(field_check), threshold=2)

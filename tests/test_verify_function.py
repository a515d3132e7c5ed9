"""FunctionVerifier: every return shape, sync/async, the question argument, and failures
that fail one candidate without stopping the others."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from agentloom import tracing
from agentloom.agents import Candidate, FunctionVerifier, Verdict
from agentloom.budget import Budget
from agentloom.errors import BudgetExceeded, VerifierError
from agentloom.runstore import RunStore


def numbers(*values: str) -> list[Candidate]:
    return [Candidate(text=v) for v in values]


async def test_bool_float_tuple_dict_verdict_and_none() -> None:
    def check(candidate: Candidate) -> Any:
        text = candidate.text or ""
        return {
            "bool": True,
            "float": 0.3,
            "tuple": (0.9, "close enough"),
            "dict": {"score": 0.7, "feedback": "ok", "field_scores": {"a": 1.0}},
            "verdict": Verdict("ignored", 0.6, True, feedback="custom"),
            "none": None,
            "weird": object(),
        }[text]

    verifier = FunctionVerifier(check, threshold=0.5)
    kinds = ["bool", "float", "tuple", "dict", "verdict", "none", "weird"]
    cands = numbers(*kinds)
    verdicts = dict(zip(kinds, await verifier.verify(cands), strict=True))
    assert verdicts["bool"].passed is True and verdicts["bool"].score == 1.0
    assert verdicts["float"].passed is False and verdicts["float"].score == pytest.approx(0.3)
    assert verdicts["tuple"].passed is True and verdicts["tuple"].feedback == "close enough"
    assert verdicts["dict"].field_scores == {"a": 1.0} and verdicts["dict"].passed is True
    assert verdicts["verdict"].candidate_id == cands[4].id and verdicts["verdict"].feedback == "custom"
    assert verdicts["none"].passed is None
    assert verdicts["weird"].passed is False and "expected bool" in (verdicts["weird"].error or "")
    assert all(v.verifier == "check" for v in verdicts.values())


async def test_raising_function_fails_that_candidate_and_the_rest_go_on(tmp_path: Path) -> None:
    def parse_json(candidate: Candidate) -> bool:
        data = json.loads(candidate.text or "")
        return bool(data["ok"])

    store = RunStore(tmp_path / "runs.db")
    run_id = store.create_run("test")
    cands = numbers('{"ok": true}', "not json", '{"ok": false}')
    with tracing.use(tracing.RunContext(run_id=run_id, store=store)):
        verdicts = await FunctionVerifier(parse_json).verify(cands)
    assert [v.passed for v in verdicts] == [True, False, False]
    assert verdicts[1].error is not None and verdicts[1].error.startswith("JSONDecodeError")
    assert verdicts[2].error is None
    events = store.events(run_id, kind="verdict")
    assert [e["status"] for e in events].count("error") == 1
    assert any("JSONDecodeError" in (e["error"] or "") for e in events)


async def test_async_function_and_question_argument() -> None:
    seen: list[str | None] = []

    async def check(candidate: Candidate, question: str | None) -> float:
        seen.append(question)
        await asyncio.sleep(0)
        return 1.0 if candidate.text == "42" else 0.0

    verdicts = await FunctionVerifier(check).verify(numbers("42", "41"), question="6*7?")
    assert [v.passed for v in verdicts] == [True, False]
    assert seen == ["6*7?", "6*7?"]


async def test_keyword_question_parameter_is_detected() -> None:
    def check(candidate: Candidate, *, question: str | None = None) -> bool:
        return question == "q"

    (verdict,) = await FunctionVerifier(check).verify(numbers("x"), question="q")
    assert verdict.passed is True


async def test_test_suite_style_dict_result() -> None:
    def run_tests(candidate: Candidate) -> dict[str, Any]:
        namespace: dict[str, Any] = {}
        exec(candidate.text or "", namespace)  # a generated function under test
        add = namespace["add"]
        cases = [((1, 2), 3), ((0, 0), 0), ((-1, 1), 0)]
        failures = [f"add{args} != {want}" for args, want in cases if add(*args) != want]
        return {"score": 1 - len(failures) / len(cases), "passed": not failures, "feedback": "\n".join(failures)}

    good = Candidate(text="def add(a, b):\n    return a + b")
    bad = Candidate(text="def add(a, b):\n    return a - b")
    vg, vb = await FunctionVerifier(run_tests).verify([good, bad])
    assert vg.passed is True and vg.score == 1.0
    assert vb.passed is False and "add(1, 2) != 3" in vb.feedback and vb.score == pytest.approx(1 / 3)
    assert "add(0, 0)" not in vb.feedback


async def test_timeout_fails_the_candidate() -> None:
    async def slow(candidate: Candidate) -> bool:
        await asyncio.Event().wait()
        return True

    (verdict,) = await FunctionVerifier(slow, timeout=0.01).verify(numbers("x"))
    assert verdict.passed is False and verdict.error == "timeout"


async def test_budget_exhaustion_inside_the_function_propagates() -> None:
    def spend(candidate: Candidate) -> bool:
        raise BudgetExceeded("out of budget", limit="llm_calls", budget="root")

    with pytest.raises(BudgetExceeded):
        await FunctionVerifier(spend, in_thread=False).verify(numbers("x"))


async def test_sync_function_runs_in_thread_with_run_context() -> None:
    budget = Budget(name="outer")

    def check(candidate: Candidate) -> bool:
        ctx = tracing.current()
        return ctx is not None and ctx.budget is budget

    with tracing.use(tracing.RunContext(budget=budget)):
        (verdict,) = await FunctionVerifier(check).verify(numbers("x"))
    assert verdict.passed is True


async def test_empty_list_names_the_verifier() -> None:
    def is_even(candidate: Candidate) -> bool:
        return True

    with pytest.raises(VerifierError, match="'is_even'"):
        await FunctionVerifier(is_even).verify([])

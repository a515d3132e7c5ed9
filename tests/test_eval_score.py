"""Offline quality evaluation: scoring reports, reading question sets, ``evaluate`` and ``loom eval``."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from agentloom.citations import Citation
from agentloom.errors import BudgetExceeded, ConfigError, CorpusError, ModelNotFoundError
from agentloom.research.evaluate import (
    EvalReport,
    evaluate,
    load_questions,
    normalize,
    says_no_evidence,
    score_report,
)
from agentloom.result import Result
from tests.cliutil import run_cli
from tests.offline_loop import CORPUS, QUESTIONS, corpus_toolset, fake_research_fn

REPORT = """# What is the capacity of Saltmarsh?

## Short answer

Saltmarsh makes **62,000 cubic metres** per day [1]. Its capacity rose in 2021 [2]. Computed: 62000 - 45000 = 17000.

## Findings

The plant was designed for 60,000 cubic metres per day [3]. Northpoint opened in 2011 [2].

## References

- [1] saltmarsh.md:L1-L5
- [2] report.md:L3-L9 — "Ilse Varga annual report"
- [3] planning.txt:L1-L10

---

**Usage:** cost $0.0000 · tokens 1,000 · memory hits 120
"""
C1 = Citation("p_1111111111", "Its capacity is 62,000 cubic metres per day.", path="saltmarsh.md", line_start=1, line_end=5)
C2 = Citation("p_2222222222", "Saltmarsh capacity rose in 2021. Northpoint opened in 2011.", path="report.md", line_start=3, line_end=9)
C3 = Citation("p_3333333333", "Design capacity: 60,000 cubic metres per day.", path="planning.txt", line_start=1, line_end=10)


def test_normalize_folds_case_emphasis_dashes_and_thousands() -> None:
    assert normalize("**62,000** Cubic\n metres – 1,234,567 and 3,14") == "62000 cubic metres - 1234567 and 3,14"


def test_answer_recall_matches_formatting_variants_at_word_boundaries() -> None:
    score = score_report(REPORT, [C1, C2, C3], ["62000 cubic metres", "17,000", "60,000", "2011"], ["62,000"])
    assert score["answer_recall"] == 1.0 and score["missing"] == []
    score = score_report(REPORT, [C1, C2, C3], ["7000", "2,000", "Ilse Varga", "120"], [])
    assert score["answer_recall"] == 0.0  # inside bigger numbers, or only in references / footer
    assert score["missing"] == ["7000", "2,000", "Ilse Varga", "120"]


def test_citation_precision_with_support_strings() -> None:
    score = score_report(REPORT, [C1, C2, C3], ["62,000"], ["62,000", "60,000"])
    assert score["citation_precision"] == pytest.approx(2 / 3)
    assert score["unsupported"] == [2] and score["supported"] == 2 and score["cited"] == 3


def test_citation_precision_without_support_strings_is_lexical_grounding() -> None:
    score = score_report(REPORT, [C1, C2, C3], ["62,000"], [])
    # [1]: "Saltmarsh makes 62,000 cubic metres per day" -> C1 lacks "saltmarsh", "make": 4/6 terms, grounded
    # [2]: both citing sentences are in C2; [3]: "plant designed" are not in C3 -> 3/5 terms, grounded
    assert score["citation_precision"] == 1.0 and score["grounding"] == 1.0
    wrong = Citation("p_4444444444", "Trams run every six minutes.", path="t.md", line_start=1, line_end=1)
    score = score_report(REPORT, [C1, wrong, C3], ["62,000"], [])
    assert score["citation_precision"] == pytest.approx(2 / 3) and score["unsupported"] == [2]


def test_citations_may_be_dicts() -> None:
    score = score_report(REPORT, [C1.to_dict(), C2.to_dict(), C3.to_dict()], ["62,000"], ["62,000"])
    assert score["citation_precision"] == pytest.approx(1 / 3)


def test_no_answer_questions_want_a_plain_no_evidence_report() -> None:
    honest = "# Q\n\n## Short answer\n\nNo supporting evidence was found in the sources for this question.\n"
    assert says_no_evidence(honest)
    score = score_report(honest, [], [], [])
    assert score["answer_recall"] == 1.0 and score["citation_precision"] == 1.0 and score["no_evidence"]
    invented = score_report("# Q\n\nThe cable car carries 2 million people [1].\n", [C1], [], [])
    assert invented["answer_recall"] == 0.0 and invented["citation_precision"] == 0.0


def test_an_answer_that_cites_nothing_scores_no_precision() -> None:
    score = score_report("# Q\n\nIt is 62,000 cubic metres.\n", [], ["62,000"], ["62,000"])
    assert score["answer_recall"] == 1.0 and score["citation_precision"] == 0.0 and score["grounding"] == 0.0


def test_strict_scoring_reads_only_the_short_answer_with_units_normalised() -> None:
    report = "# Q\n\n## Short answer\n\nLine 3 runs 11 km.\n\n## Findings\n\nAll lines total 34.3 km [1].\n"
    score = score_report(report, [C1], ["34.3 km"], [], short_answer="Line 3 runs 11 km.")
    assert score["strict"] == 0.0 and score["answer_recall"] == 1.0 and score["short_missing"] == ["34.3 km"]
    for short, value in [("It cost £468,500.", "GBP 468,500"), ("A 640-metre path.", "640 metres"), ("Up 12 per cent.", "12%"),
                         ("It holds 62,000 cubic metres.", "62000 m³"), ("It was £1.2 million.", "GBP 1,200,000"),
                         ("The rats were eradicated.", "eradicat"), ("It weighs 2.60 kg.", "2.6 kg")]:
        assert score_report(report, [], [value], [], short_answer=short)["strict"] == 1.0, (short, value)
    for short, value in [("Line 3 is 11 km.", "1"), ("It has 34 stops.", "3"), ("It is 2.65 kg.", "2.6 kg")]:
        assert score_report(report, [], [value], [], short_answer=short)["strict"] == 0.0, (short, value)


def test_yes_no_must_lead_and_unanswerable_must_say_so() -> None:
    assert score_report("", [], ["no", "2019"], [], short_answer="No: it closed in 2019.")["strict"] == 1.0
    assert score_report("", [], ["no", "2019"], [], short_answer="It closed in 2019, so no.")["strict"] == 0.0
    assert score_report("", [], [], [], short_answer="The corpus does not say who designed it.", unanswerable=True)["strict"] == 1.0
    assert score_report("", [], [], [], short_answer="It was designed by Ann Lee.", unanswerable=True)["strict"] == 0.0


def test_grounding_does_not_use_any_engine_tokeniser() -> None:
    import ast
    import inspect

    from agentloom.research import _scoring
    from agentloom.research import evaluate as module

    for source in (inspect.getsource(module), inspect.getsource(_scoring)):
        imported = {node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom) and node.module}
        imported |= {alias.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Import) for alias in node.names}
        assert not any(name.startswith("agentloom.models.offline") for name in imported), imported


# --------------------------------------------------------------------------- question files
def test_the_shipped_question_set_is_valid() -> None:
    questions = load_questions(QUESTIONS)
    assert 12 <= len(questions) <= 16
    assert sum(1 for q in questions if q.unanswerable) == 1
    assert all(q.support for q in questions if q.expected)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("[{\"question\": \"x\",}]", "is not valid JSON: Expecting property name enclosed in double quotes at line 1, column 19"),
        ("{\"q\": 1}", "must hold a JSON list"),
        ("[]", "holds no questions"),
        ("[\"just text\"]", "question 1: expected an object"),
        ("[{\"question\": \"  \"}]", "question 1: 'question' must be a non-empty string"),
        ("[{\"question\": \"a\", \"expected\": \"290 MW\"}]", "question 1: 'expected' must be a list of strings"),
        ("[{\"question\": \"a\", \"expected\": [\"x\"]}, {\"question\": \"b\", \"answer\": 1}]", "question 2: unknown key(s) answer"),
        ("[{\"question\": \"a\"}]", "question 1: no 'expected' values; list what a correct answer holds, or set \"unanswerable\": true"),
        ("[{\"question\": \"a\", \"expected\": [\"x\"], \"unanswerable\": true}]", "question 1: an unanswerable question cannot list"),
        ("[{\"question\": \"a\", \"unanswerable\": \"yes\"}]", "question 1: 'unanswerable' must be true or false"),
    ],
)
def test_bad_question_files_are_one_line_usage_errors(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "q.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_questions(path)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert info.value.exit_code == 2


def test_a_dict_with_a_questions_list_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "q.json"
    path.write_text(json.dumps({"questions": [{"question": "a?", "expected": ["x"], "support": ["x"]}]}), encoding="utf-8")
    assert load_questions(path)[0].expected == ["x"]


# --------------------------------------------------------------------------- evaluate
@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return fake_research_fn(corpus_toolset(tmp_path_factory.mktemp("index") / "corpus.db"))


async def test_the_offline_pipeline_holds_its_floor_on_the_shipped_set(pipeline: Any) -> None:
    # Floors, well below the measured scores recorded in BENCHMARKS.md, never a copy of them.
    report = await evaluate(QUESTIONS, CORPUS, "offline", research=pipeline)
    assert isinstance(report, EvalReport) and len(report.rows) == len(load_questions(QUESTIONS))
    assert report.strict >= 0.75, report.table()
    assert report.answer_recall >= 0.8, report.table()
    assert report.grounding >= 0.6, report.table()
    assert report.citation_precision >= 0.6, report.table()
    assert report.errors == 0 and report.model == "offline"
    totals = report.to_dict()["totals"]
    assert totals["questions"] == len(report.rows) and totals["passed"] == round(totals["strict"] * len(report.rows))
    assert "mean over" in report.table() and "strict:" in report.table()


async def test_a_failed_run_is_recorded_and_a_usage_error_stops_everything(tmp_path: Path) -> None:
    questions = tmp_path / "q.json"
    questions.write_text(json.dumps([{"question": "a?", "expected": ["x"]}, {"question": "b?", "expected": ["y"]}]), encoding="utf-8")

    async def broke(question: str, **kw: Any) -> Result:
        if question == "a?":
            raise BudgetExceeded("budget spent: usd 0.01 of 0.01")
        return Result(output="# b\n\ny [1]\n", citations=[Citation("p_1111111111", "y", path="y.md", line_start=1, line_end=1)])

    report = await evaluate(questions, CORPUS, research=broke)
    assert report.rows[0].error == "budget spent: usd 0.01 of 0.01" and report.rows[0].answer_recall == 0.0
    assert report.rows[1].answer_recall == 1.0 and report.errors == 1

    async def unknown_model(question: str, **kw: Any) -> Result:
        raise ModelNotFoundError("unknown model 'nope'")

    with pytest.raises(ModelNotFoundError):
        await evaluate(questions, CORPUS, research=unknown_model)
    with pytest.raises(CorpusError, match="does not exist"):
        await evaluate(questions, tmp_path / "missing", research=broke)


async def test_evaluate_uses_the_research_pipeline_by_default() -> None:
    report = await evaluate(QUESTIONS, CORPUS, "offline")
    assert report.strict >= 0.75, report.table()
    assert report.answer_recall >= 0.8, report.table()
    assert report.citation_precision >= 0.8, report.table()
    assert report.grounding >= 0.6, report.table()


# --------------------------------------------------------------------------- loom eval
def test_cli_bad_file_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["eval", str(tmp_path / "nope.json"), "--corpus", str(CORPUS)], capsys)
    assert code == 2 and out == ""
    assert err.startswith("loom: error: questions file") and err.count("\n") == 1
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    code, _, err = run_cli(["eval", str(bad)], capsys)
    assert code == 2 and "is not valid JSON" in err


@pytest.fixture
def fake_pipeline_module(monkeypatch: pytest.MonkeyPatch, pipeline: Any) -> None:
    module = types.ModuleType("agentloom.research.run")
    module.research = pipeline  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "agentloom.research.run", module)


@pytest.mark.usefixtures("fake_pipeline_module")
def test_cli_prints_a_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["eval", str(QUESTIONS), "--corpus", str(CORPUS)], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("loom eval: 14 questions · model offline")
    assert any(line.strip().startswith("mean over 14 questions") for line in lines)
    assert any(line.startswith("strict: ") for line in lines)
    code, out, _ = run_cli(["eval", str(QUESTIONS), "--json"], capsys)  # corpus: the folder beside the file
    assert code == 0
    data = json.loads(out)
    assert data["totals"]["strict"] >= 0.75 and data["corpus"] == [str(CORPUS)]
    assert len(data["questions"]) == 14 and data["questions"][0]["short_answer"]


async def test_evaluate_runs_any_model_not_just_the_offline_one(tmp_path: Path) -> None:
    from agentloom.models import TestModel

    questions = tmp_path / "q.json"
    questions.write_text(json.dumps([{"question": "What powers the trams?", "expected": ["tidal"], "kind": "lookup"},
                                     {"question": "Who painted the ceiling?", "unanswerable": True, "kind": "not_in_corpus"}]), encoding="utf-8")
    model = TestModel()
    report = await evaluate(questions, CORPUS, model)
    assert report.model == "test" and report.errors == 0 and len(report.rows) == 2
    assert model.seen and {r.purpose for r in model.seen} >= {"act", "write"}
    assert report.by_kind().keys() == {"lookup", "not_in_corpus"} and 0.0 <= report.strict <= 1.0

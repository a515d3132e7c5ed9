"""The offline pipeline on two small extra corpora (a town and a university). These were used
while the engine was written, so they are regression floors, not a held-out measure; the
sealed sets in eval/sets are the measure (scores in BENCHMARKS.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentloom.research.evaluate import evaluate

DATA = Path(__file__).resolve().parent / "data" / "second_corpora"


@pytest.mark.parametrize("name", ["oakhaven", "northbridge"])
async def test_research_quality_holds_on_other_corpora(name: str) -> None:
    # Floors clearly below the measured scores, never a copy of them.
    folder = DATA / name
    report = await evaluate(folder / "questions.json", [folder / "corpus"])
    assert report.strict >= 0.7, report.table()
    assert report.answer_recall >= 0.75, report.table()
    assert report.citation_precision >= 0.75, report.table()
    assert report.grounding >= 0.6, report.table()

"""Determinism: the same question, corpus and model give the same report, calls and tokens."""

from __future__ import annotations

from pathlib import Path

from agentloom import Agent
from agentloom.research.run import research
from tests.offline_loop import CORPUS, corpus_toolset

QUESTION = "When did the oldest desalination plant open, and who manages it?"


async def test_one_agent_gives_the_same_answer_calls_and_tokens(tmp_path: Path) -> None:
    tools = corpus_toolset(tmp_path / "corpus.db")
    runs = [await Agent("offline", tools, max_turns=4).run(QUESTION) for _ in range(3)]
    first = runs[0]
    assert first.output and first.citations
    for run in runs[1:]:
        assert run.output == first.output
        assert [c.id for c in run.citations] == [c.id for c in first.citations]
        assert (run.usage.llm_calls, run.usage.tool_calls, run.usage.tokens) == (
            first.usage.llm_calls, first.usage.tool_calls, first.usage.tokens)


async def test_research_gives_the_same_report() -> None:
    reports = []
    for _ in range(3):
        result = await research(QUESTION, corpus=CORPUS)
        reports.append((str(result.output).split("**Usage:**")[0], result.meta["short_answer"], result.usage.llm_calls))
    assert reports[0][0] and all(r == reports[0] for r in reports), reports

"""Test helper (no tests here): the offline act policy driven in a real tool loop over the
shipped example corpus, the way an Agent drives it, without depending on the Agent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from agentloom.citations import Citation, collect_passages
from agentloom.models.base import call_model
from agentloom.models.offline import OfflineModel
from agentloom.models.types import Message, ModelRequest
from agentloom.tools.base import Tool
from agentloom.tools.executor import ToolExecutor

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "examples" / "corpus"
QUESTIONS = ROOT / "examples" / "questions.json"
MARKER = re.compile(r"\[([pw]_[0-9a-f]{6,16})\]")


def corpus_toolset(index_path: Path) -> list[Tool]:
    """corpus_search, read_passage and calculator over the example corpus."""
    from agentloom.tools.calculator import calculator
    from agentloom.tools.corpus import corpus_tools

    return [*corpus_tools(str(CORPUS), index_path=str(index_path)), calculator]


async def act_loop(
    question: str, tools: list[Tool], *, width: int = 3, max_turns: int = 8
) -> tuple[str, dict[str, Citation], list[Message]]:
    """act -> run_batch -> act until the model stops calling tools; returns the answer, every
    passage the tools returned and the conversation."""
    model = OfflineModel()
    executor = ToolExecutor(tools)
    schemas = [t.schema() for t in tools]
    messages = [Message.system(f"You research questions.\n\nTool-call width this turn: {width}"), Message.user(question)]
    passages: dict[str, Citation] = {}
    for _ in range(max_turns):
        completion = await call_model(model, ModelRequest(messages=list(messages), tools=schemas, purpose="act"))
        if not completion.tool_calls:
            return completion.text or "", passages, messages
        assert len(completion.tool_calls) <= width
        messages.append(completion.message())
        for result in await executor.run_batch(completion.tool_calls):
            messages.append(Message("tool", result.content(), tool_call_id=result.call_id, name=result.name))
            if result.ok:
                collect_passages(result.value, passages)
    raise AssertionError(f"no answer after {max_turns} turns for {question!r}")


def squash(text: str) -> str:
    return " ".join(text.split())


def claims(answer: str) -> list[tuple[str, list[str]]]:
    """The answer's sentences (markers removed) with the ids each one cites."""
    from agentloom.models.offline._text import sentences

    out = []
    for sentence in sentences(answer):
        ids = MARKER.findall(sentence)
        out.append((squash(MARKER.sub("", sentence)).strip(), ids))
    return out


def passage_holds(passage: Citation, sentence: str) -> bool:
    """Whether the passage's text contains the sentence (whitespace and list markup aside)."""
    text = squash(passage.text.replace("|", " "))
    return squash(sentence.replace("|", " ")) in text


def fake_research_fn(tools: list[Tool]) -> Any:
    """A stand-in for ``agentloom.research.run.research``: one act loop, then the Writer."""
    from agentloom.agents.writer import Writer
    from agentloom.result import Result

    async def research(question: str, *, corpus: list[str], model: Any = None, quiet: bool = True) -> Result:
        answer, passages, _ = await act_loop(question, tools)
        report = await Writer(model or "offline").write(question, [{"title": question, "text": answer}], passages)
        return Result(output=report.markdown, citations=report.citations, meta={"short_answer": report.short_answer})

    return research

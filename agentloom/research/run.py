"""``research()``: a question in, a cited Markdown report out — the deep-research graph run with
the caller's corpus, model, width/depth, budget and memory scope."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentloom.budget import Budget
from agentloom.errors import ConfigError, CorpusError
from agentloom.events import EventStream, stream_run
from agentloom.models.types import Model
from agentloom.result import Result
from agentloom.runstore import RunStore
from agentloom.tracing import Listener

__all__ = ["as_report", "mark_research", "research", "research_sync", "ResearchOptions", "check_width", "corpus_paths"]

_CORPUS_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm")


@dataclass(frozen=True)
class ResearchOptions:
    """How wide and deep to go: ``"auto"`` lets the budget planner decide."""

    width: str = "auto"
    depth: str = "auto"


def check_width(value: int | str | None, flag: str) -> str:
    """``auto`` or a whole number of at least 1, as the string the graph input takes."""
    if value is None:
        return "auto"
    text = str(value).strip().lower()
    if text == "auto":
        return text
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{flag} {value!r} must be 'auto' or a whole number of at least 1")
    return str(int(text))


def corpus_paths(corpus: str | Path | Sequence[str | Path] | None) -> list[str]:
    """Absolute corpus folders (or files); a missing path or one with no readable documents is
    a ``CorpusError`` naming it. ``None`` is the shipped example corpus."""
    if corpus is None:
        return []
    items = [corpus] if isinstance(corpus, str | Path) else list(corpus)
    out: list[str] = []
    for item in items:
        path = Path(item).expanduser()
        if not path.exists():
            raise CorpusError(f"corpus path {item} does not exist; give a folder of .md, .txt or .html files")
        if path.is_dir():
            if not any(p.suffix.lower() in _CORPUS_SUFFIXES for p in path.rglob("*") if p.is_file()):
                raise CorpusError(f"corpus folder {item} holds no readable files (.md, .txt or .html)")
        elif path.suffix.lower() not in _CORPUS_SUFFIXES:
            raise CorpusError(f"corpus file {item} is not .md, .txt or .html")
        out.append(str(path.resolve()))
    return out


async def research(
    question: str | None,
    *,
    corpus: str | Path | Sequence[str | Path] | None = None,
    model: str | Model | None = None,
    width: int | str = "auto",
    depth: int | str = "auto",
    budget: Budget | None = None,
    memory: str = "run",
    run_id: str | None = None,
    resume: bool = False,
    store: RunStore | None = None,
    listeners: list[Listener] | None = None,
    quiet: bool = True,
    approve: Any = None,
) -> Result:
    """Research ``question`` over ``corpus`` (default: the shipped example corpus) and return a
    ``Result`` whose ``output`` is the report's Markdown; ``meta`` holds ``short_answer``,
    ``width`` and ``depth``. ``memory`` is ``run`` (default), ``project`` or a bank file path.
    ``resume=True`` continues run ``run_id`` (a killed or budget-stopped run; pass a larger
    ``budget`` to go further). ``quiet`` is accepted for symmetry with the CLI. ``approve`` sets
    approval gates (``"plan"``, ``{"spend_over": 0.5}``, ``{"tools": [...]}``): the run then
    returns ``stop_reason == "waiting"`` and continues through ``agentloom.approvals``."""
    from agentloom.research.pipeline import deep_research_graph

    if not resume and (question is None or not question.strip()):
        raise ConfigError('the question is empty; ask something, e.g. loom research "How is Marrowick supplied with water?"')
    if resume and not run_id:
        raise ConfigError("resuming needs the run id: --resume RUN_ID (see `loom runs list`)")
    graph = deep_research_graph()
    paths = corpus_paths(corpus)
    if paths:
        graph.add_tool("corpus", paths=paths)
    if memory == "project":
        graph.set_memory(scope="project", admission="heuristic")
    elif memory != "run":
        graph.set_memory(path=str(Path(memory).expanduser().resolve()), admission="heuristic")
    inputs: dict[str, Any] | None = None
    if not resume:
        inputs = {"question": question.strip() if question else "", "width": check_width(width, "--width"), "depth": check_width(depth, "--depth")}
    result = await graph.run(inputs, budget=budget, run_id=run_id, model=model, resume=resume, store=store, listeners=listeners,
                             approve=approve)
    if result.stop_reason == "waiting":
        mark_research(result.run_id, store, paths)
        return result
    return as_report(result, store, paths)


def mark_research(run_id: str, store: RunStore | None, corpus: list[str] | None = None) -> None:
    """Note on a waiting run that it is a research run over ``corpus``, so resuming it writes the report."""
    own = store is None
    target = store or RunStore()
    try:
        record = target.get_run(run_id)
        approval = dict(record.meta.get("approval") or {})
        approval["recipe"] = {**dict(approval.get("recipe") or {}), "entry": "research", **({"corpus": corpus} if corpus else {})}
        target.finish_run(run_id, "waiting", meta={"approval": approval})
    finally:
        if own:
            target.close()


def stream(question: str | None, *, maxsize: int = 10_000, **kwargs: Any) -> EventStream[Result]:
    """Run ``research`` and yield its typed events (``async for event in research.stream(q)``);
    the report ``Result`` is on the stream's ``result`` after the loop."""
    extra = list(kwargs.pop("listeners", None) or [])
    return stream_run(lambda listener: research(question, listeners=[*extra, listener], **kwargs), maxsize=maxsize)


research.stream = stream  # type: ignore[attr-defined]


def as_report(result: Result, store: RunStore | None, corpus: list[str] | None = None) -> Result:
    """Turn the graph's ``{report, answer}`` output into the report Markdown, keep the short
    answer in ``meta``, and store the report as the run's ``report.md`` artifact (with its numbered
    citations and their corpus folders as ``citations.json``). A run that
    passed approval gates gets a section with the projected cost beside the actual one."""
    from agentloom.approvals import approvals_section

    output = result.output if isinstance(result.output, dict) else {}
    report = str(output.get("report") or "")
    if report and result.meta.get("approvals"):
        report = report.rstrip() + "\n\n" + approvals_section(result.meta)
    result = result.with_(output=report, meta={"short_answer": str(output.get("answer") or "")})
    if result.run_id and report:
        own = store is None
        target = store or RunStore()
        try:
            target.put_artifact(result.run_id, "report.md", report, mime="text/markdown")
            target.put_artifact(result.run_id, "citations.json", json.dumps(citations_record(result, corpus)),
                                mime="application/json")
        finally:
            if own:
                target.close()
    return result


def citations_record(result: Result, corpus: list[str] | None) -> dict[str, Any]:
    """The run's numbered citations (``[1]`` is the first) and the corpus folders they are relative to."""
    from agentloom._paths import default_corpus

    roots = list(corpus or []) or [str(default_corpus().resolve())]
    return {"corpus": roots, "citations": [{"n": n, **c.to_dict()} for n, c in enumerate(result.citations, start=1)]}


def research_sync(question: str | None, **kwargs: Any) -> Result:
    """``research`` for synchronous code."""
    return asyncio.run(research(question, **kwargs))

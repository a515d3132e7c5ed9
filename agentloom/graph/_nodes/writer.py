"""The writer node: gather findings and passages from the state and write the cited report
(extractively, marked partial, when the budget has no room for the model)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentloom import tracing
from agentloom.errors import BudgetExceeded
from agentloom.graph._interp import render
from agentloom.graph._nodes._common import Output, as_int, node_question, text_of
from agentloom.graph._resources import Resources
from agentloom.graph._state import candidates_from
from agentloom.graph.spec import WriterNode

__all__ = ["run_writer"]


def _findings(value: Any, source: str) -> list[dict[str, str]]:
    """Writer findings (``{title, text}``) from a state value: agent outputs are titled by
    their task, a verifier's output gives its selected candidates."""
    if isinstance(value, Mapping) and isinstance(value.get("selected"), list) and "verdicts" in value:
        value = value["selected"]
    items = value if isinstance(value, list) else [value] if value is not None else []
    out = []
    for item in items:
        if item is None:
            continue
        finding = {"title": "", "text": text_of(item)}
        if isinstance(item, Mapping):
            finding["title"] = str(item.get("task") or item.get("question") or item.get("title") or "")
            if item.get("grounded") is False:
                finding["grounded"] = "no"
        out.append(finding)
    return out


def _set_aside_ungrounded(findings: list[dict[str, str]]) -> tuple[list[dict[str, str]], list[str]]:
    """Findings an agent marked ungrounded (it cited nothing the run looked up) are not evidence:
    they are kept out of the report's inputs, and the report names the sub-questions they answered."""
    kept = [f for f in findings if f.get("grounded") != "no"]
    set_aside = [f["title"] or "(untitled)" for f in findings if f.get("grounded") == "no"]
    return kept, set_aside


def _usage_for_report(scope: Mapping[str, Any]) -> dict[str, Any]:
    from agentloom.result import UsageSummary

    ctx = tracing.current()
    budget = ctx.budget.root() if ctx is not None and ctx.budget is not None else None
    usage: dict[str, Any] = UsageSummary.from_budget(budget).to_dict() if budget is not None else {}
    hits = 0
    for value in scope.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Mapping) and isinstance(item.get("usage"), Mapping):
                hits += int(item["usage"].get("memory_hits") or 0)
            if isinstance(item, Mapping) and isinstance(item.get("branches"), list) and "rounds" in item:
                usage.setdefault("width", len(item["branches"]))
                usage.setdefault("depth", len(item.get("rounds") or []) + 1)
    usage["memory_hits"] = hits
    return usage


async def run_writer(n: WriterNode, name: str, scope: Mapping[str, Any], res: Resources, partial: bool,
                     *, use_model: bool = True) -> Output:
    """The report from the findings in ``scope``; ``use_model=False`` (a denied run) writes it
    extractively, marked partial, without spending anything."""
    from agentloom.agents.writer import WRITER_INSTRUCTIONS, Writer

    question = node_question(n.question, scope, name) or ""
    paths = [n.findings] if isinstance(n.findings, str) else list(n.findings)
    findings: list[dict[str, str]] = []
    passages: dict[str, Any] = {}
    sources = [*paths, *([n.passages] if n.passages is not None else [])]
    for i, path in enumerate(sources):
        source = path.strip("{} ")
        value = render("{" + source + "}", scope)
        if i < len(paths):
            findings.extend(_findings(value, source))
        for c in candidates_from(value, source.split(".")[0])[0]:
            for pid, p in c.passages.items():
                passages.setdefault(pid, p)
    findings, ungrounded = _set_aside_ungrounded(findings)
    if ungrounded:
        tracing.emit("grounding", name, status="error", data={"ungrounded_answers": ungrounded,
                     "reason": "answers that cite nothing the run looked up are left out of the report"})
    writer = Writer(
        res.model(n.model),
        max_tokens=as_int(render(n.max_tokens, scope), f"{name}.max_tokens"),
        instructions=text_of(render(n.instructions, scope)) if n.instructions else WRITER_INSTRUCTIONS,
    )
    from agentloom.agents.writer import finalize, findings_body

    limited = False
    report = None
    if use_model:
        try:
            # usage is read after the writer's own model call, so the footer counts it too
            report = await writer.write(question, findings, passages, usage=lambda: _usage_for_report(scope), partial=partial,
                                        ungrounded=ungrounded)
        except BudgetExceeded:
            limited = True
    if report is None:
        # No budget left for the model (or a person denied more spending): still write the
        # report, extractively and marked partial.
        body = findings_body(question, findings)
        report = finalize(body, passages, question=question, usage=_usage_for_report(scope), partial=True, ungrounded=ungrounded)
    return (
        {
            "title": report.title,
            "short_answer": report.short_answer,
            "markdown": report.markdown,
            "text": report.markdown,
            "citations": [c.to_dict() for c in report.citations],
        },
        limited,
    )

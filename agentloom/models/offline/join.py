"""Offline ``join``: finish when every task of the latest plan succeeded with evidence, else
ask for a replan whose feedback names each failed or empty task.

The answer is extractive either way (the best so far): the passages the tasks returned are
ranked against the question with the same evidence ranker the ``act`` handler uses (each chosen
sentence keeps its ``[p_...]`` marker), and plain results such as a lookup's number or a
calculator's value are quoted verbatim with the task that produced them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agentloom.citations import Citation, collect_passages
from agentloom.models.offline import _text
from agentloom.models.offline.dag import is_empty_result
from agentloom.models.offline.plan import question_of
from agentloom.models.types import Completion, ModelRequest
from agentloom.text.dag_lines import RESULT_PREFIX, parse_prefixed

__all__ = ["respond", "compose_answer"]

_REPLANS = re.compile(r"^Replans left:\s*(\d+)", re.M)


def _describe(entry: dict[str, Any]) -> str:
    args = entry.get("args") or {}
    shown = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in args.items())
    return f"task {entry.get('id')} ({entry.get('tool')} {shown})".replace(" )", ")")


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return _text.format_number(float(value))
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, dict):
        parts = [f"{k} {_scalar_text(v)}" for k, v in value.items() if isinstance(v, int | float | str) and not isinstance(v, bool) and _scalar_text(v)]
        return "; ".join(parts) or None
    return None


def _plain(entry: dict[str, Any]) -> str | None:
    """A result without passages, quoted with its task (long values cut at 400 characters)."""
    text = _scalar_text(entry.get("result"))
    if text is None:
        return None
    if len(text) > 400:
        text = text[:400].rsplit(" ", 1)[0] + " ..."
    return f"{_describe(entry)}: {text}."


def compose_answer(question: str, entries: list[dict[str, Any]]) -> str:
    """The extractive answer from every successful task: ranked passage sentences with their
    markers, then plain results; the no-evidence line when there is neither."""
    from agentloom.models.offline._evidence import Question, Ranker, candidates_from, no_evidence, select

    passages: dict[str, Citation] = {}
    plain: dict[str, None] = {}
    for entry in entries:
        if entry.get("status") != "ok":
            continue
        found = collect_passages(entry.get("result"))
        if found:
            for pid, passage in found.items():
                passages.setdefault(pid, passage)
        elif (line := _plain(entry)) is not None:
            plain.setdefault(line, None)
    lines: list[str] = []
    if passages:
        order = {pid: i for i, pid in enumerate(passages)}
        ranker = Ranker(Question.parse(question), candidates_from(passages, order))
        chosen = select(ranker) or select(ranker, allow_tables=True)
        lines.extend(f"{item.candidate.text} [{item.candidate.source}]" for item in chosen)
    lines.extend(plain)
    return "\n".join(lines) if lines else no_evidence(question)


def respond(request: ModelRequest) -> Completion:
    """A ``JoinDecision`` as JSON."""
    question = question_of(request)
    user_text = "\n".join(m.content for m in request.messages if m.role == "user" and m.content)
    entries = parse_prefixed(user_text.splitlines(), RESULT_PREFIX)
    match = _REPLANS.search(user_text)
    replans_left = int(match.group(1)) if match else 0
    latest = max((int(e.get("plan", 1)) for e in entries), default=1)
    problems: list[str] = []
    for entry in entries:
        if int(entry.get("plan", latest)) != latest:
            continue
        if entry.get("status") == "error":
            problems.append(f"{_describe(entry)} failed: {entry.get('error', 'error')}")
        elif entry.get("status") == "ok" and is_empty_result(entry.get("result")):
            problems.append(f"{_describe(entry)} returned no evidence")
        elif entry.get("status") == "not run":
            problems.append(f"{_describe(entry)} did not run")
    answer = compose_answer(question, entries)
    if not entries and replans_left > 0:
        problems.append("no task was run; plan tool calls that gather evidence for the question")
    if problems and replans_left > 0:
        feedback = "; ".join(problems) + ". Try another tool or different arguments for these, and rebuild what depended on them."
        decision = {"action": "replan", "feedback": feedback, "answer": answer}
    else:
        decision = {"action": "finish", "answer": answer, "feedback": "; ".join(problems)}
    return Completion(text=json.dumps(decision, ensure_ascii=False), finish_reason="stop")

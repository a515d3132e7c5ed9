"""Offline ``dag``: a DAG plan for the tools listed in the request, in the planner's format.

Fresh plan: one retrieval task per independent sub-question (``plan.split_question``), run in
parallel, using an entity-style tool (``lookup(entity)``) for a named thing and a query-style
tool (``search(query)``) otherwise; then, when the question asks for a sum, difference, ratio or
average and a calculator is listed, one dependent calculator task whose expression references
the lookups (``$1 + $2``, or ``$1.value`` when the tool returns an object). Sequential questions
chain each step on the previous result. Replans (executed tasks plus joiner feedback) retry
failed or empty retrievals with another tool or argument form, rebuild tasks that depended on
them, and continue the task ids. Streaming requests get JSON Lines, others ``{"tasks": [...]}``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agentloom.models.offline.plan import question_of, split_question
from agentloom.models.types import Completion, ModelRequest, canonical_args
from agentloom.text.dag_lines import NEXT_ID, PLAN_FORMAT_JSONL, RESULT_PREFIX, TOOL_PREFIX, parse_prefixed

__all__ = ["respond", "plan_tasks"]

_RETRIEVAL = re.compile(r"search|lookup|look_up|find|fetch|query|retriev|wiki|web|read|browse|get_|^get$", re.I)
_COMPUTE = re.compile(r"calc|math|comput|arith|evaluat", re.I)
_ENTITY_ARGS = ("entity", "name", "topic", "title", "subject", "key", "item", "place", "company", "person")
_QUERY_ARGS = ("query", "q", "question", "text", "search", "term", "terms", "prompt")
_SUM = re.compile(r"\b(total|combined|together|sum|altogether|in all|add up)\b", re.I)
_DIFF = re.compile(r"\b(difference|how much (?:more|less|larger|bigger|smaller|higher|lower)|how many more|more than|less than|exceed)\b", re.I)
_RATIO = re.compile(r"\b(ratio|times (?:as|larger|bigger|more)|how many times)\b", re.I)
_MEAN = re.compile(r"\b(average|mean)\b", re.I)
_CAP = re.compile(r"[A-Z][\w'’.&-]*(?:\s+(?:(?:of|de|la|van|von|the)\s+)?[A-Z0-9][\w'’.&-]*)*")
_SKIP_FIRST = {"what", "which", "who", "when", "where", "why", "how", "is", "are", "was", "were", "does", "do", "did",
               "describe", "find", "compute", "compare", "list", "give", "tell", "the"}


def _tools(request: ModelRequest) -> list[dict[str, Any]]:
    lines = [line for m in request.messages if m.role == "system" and m.content for line in m.content.splitlines()]
    found = parse_prefixed(lines, TOOL_PREFIX)
    if not found:  # a caller that passed OpenAI tool schemas instead of the listing
        for schema in request.tools:
            fn = schema.get("function", schema)
            if isinstance(fn, dict) and fn.get("name"):
                found.append({"name": fn["name"], "description": fn.get("description", ""), "parameters": fn.get("parameters", {})})
    return found


def _string_params(tool: dict[str, Any]) -> list[str]:
    params = tool.get("parameters") or {}
    props = params.get("properties") or {}
    required = list(params.get("required") or [])
    names = [n for n in required if (props.get(n) or {}).get("type") in ("string", None)] or [
        n for n, p in props.items() if (p or {}).get("type") == "string"]
    return names


def _arg_style(tool: dict[str, Any]) -> tuple[str, str] | None:
    """(argument name, "entity" | "query") for a retrieval tool, or None."""
    names = _string_params(tool)
    if not names:
        return None
    for name in names:
        if name.lower() in _ENTITY_ARGS:
            return name, "entity"
    for name in names:
        if name.lower() in _QUERY_ARGS:
            return name, "query"
    return names[0], "query"


def _classify(tools: list[dict[str, Any]]) -> tuple[list[tuple[dict[str, Any], str, str]], dict[str, Any] | None]:
    retrieval: list[tuple[dict[str, Any], str, str]] = []
    compute = None
    for t in tools:
        name, desc = str(t.get("name", "")), str(t.get("description", ""))
        props = (t.get("parameters") or {}).get("properties") or {}
        if "expression" in props or _COMPUTE.search(name):
            compute = compute or t
            continue
        style = _arg_style(t)
        if style is not None and (_RETRIEVAL.search(name) or _RETRIEVAL.search(desc[:80])):
            retrieval.append((t, *style))
    if not retrieval:  # any tool with a string parameter can serve as a lookup
        for t in tools:
            if t is compute:
                continue
            style = _arg_style(t)
            if style is not None:
                retrieval.append((t, *style))
    return retrieval, compute


def _entity(sub: str) -> str | None:
    for match in _CAP.finditer(sub):
        words = match.group(0).split()
        while words and words[0].lower() in _SKIP_FIRST:
            words.pop(0)
        if words:
            return " ".join(words).rstrip(".?!,")
    return None


def _ref(tool: dict[str, Any], task_id: int) -> str:
    returns = tool.get("returns")
    if isinstance(returns, dict):
        fields = returns.get("object with fields") or []
        for name in ("value", "result", "answer", "number"):
            if name in fields:
                return f"${task_id}.{name}"
    if returns == "object":
        return f"${task_id}.value"
    return f"${task_id}"


def _retrieval_args(sub: str, choice: tuple[dict[str, Any], str, str]) -> dict[str, Any]:
    tool, arg, style = choice
    if style == "entity":
        return {arg: _entity(sub) or sub.rstrip("?.!")}
    return {arg: sub.rstrip("?.!")}


def _pick(sub: str, retrieval: list[tuple[dict[str, Any], str, str]]) -> tuple[dict[str, Any], str, str]:
    if _entity(sub):
        for choice in retrieval:
            if choice[2] == "entity":
                return choice
    for choice in retrieval:
        if choice[2] == "query":
            return choice
    return retrieval[0]


def _expression(question: str, refs: list[str]) -> str | None:
    if len(refs) < 2:
        return None
    if _MEAN.search(question):
        return f"({' + '.join(refs)}) / {len(refs)}"
    if _RATIO.search(question):
        return f"{refs[0]} / {refs[1]}"
    if _DIFF.search(question):
        return f"{refs[0]} - {refs[1]}"
    if _SUM.search(question):
        return " + ".join(refs)
    return None


def _fresh(question: str, tools: list[dict[str, Any]], next_id: int) -> list[dict[str, Any]]:
    retrieval, compute = _classify(tools)
    if not retrieval:
        return []
    subs, sequential = split_question(question)
    subs = subs or [question]
    tasks: list[dict[str, Any]] = []
    tid = next_id
    if sequential:
        for i, step in enumerate(subs):
            choice = _pick(step, retrieval)
            args = _retrieval_args(step, choice)
            deps: list[int] = []
            if i > 0 and choice[2] == "query":
                args[choice[1]] = f"{args[choice[1]]} (given: ${tid - 1})"
                deps = [tid - 1]
            tasks.append({"id": tid, "tool": choice[0]["name"], "args": args, "deps": deps})
            tid += 1
        return tasks
    refs: list[str] = []
    for sub in subs:
        choice = _pick(sub, retrieval)
        tasks.append({"id": tid, "tool": choice[0]["name"], "args": _retrieval_args(sub, choice), "deps": []})
        refs.append(_ref(choice[0], tid))
        tid += 1
    if compute is not None:
        expression = _expression(question, refs)
        if expression:
            arg = "expression" if "expression" in ((compute.get("parameters") or {}).get("properties") or {}) else (_string_params(compute) or ["expression"])[0]
            tasks.append({"id": tid, "tool": compute["name"], "args": {arg: expression}, "deps": list(range(next_id, tid))})
    return tasks


def is_empty_result(value: Any) -> bool:
    """Whether a task result holds nothing: None or an empty string, list or dict."""
    if value is None:
        return True
    if isinstance(value, str | list | dict) and not value:
        return True
    if isinstance(value, dict):
        inner = [v for k, v in value.items() if k in ("results", "passages", "items", "hits")]
        if inner and all(isinstance(v, list | dict) and not v for v in inner):
            return True
    return False


def _replan(question: str, tools: list[dict[str, Any]], executed: list[dict[str, Any]], next_id: int) -> list[dict[str, Any]]:
    """Replacements for failed or empty retrievals, then the dependents that needed them."""
    retrieval, compute = _classify(tools)
    by_name = {t["name"]: t for t in tools}
    done = {(e.get("tool"), canonical_args(e.get("args") or {})) for e in executed}
    latest = max((int(e.get("plan", 1)) for e in executed), default=1)
    tasks: list[dict[str, Any]] = []
    replaced: dict[str, str] = {}
    tid = next_id
    for entry in executed:
        if int(entry.get("plan", latest)) != latest:
            continue
        status = entry.get("status")
        bad = status == "error" or (status == "ok" and is_empty_result(entry.get("result")))
        if not bad or "DependencyFailed" in str(entry.get("error", "")):
            continue
        tool = by_name.get(str(entry.get("tool")))
        if tool is None or tool is compute:
            continue
        old_args = entry.get("args") or {}
        text = next((str(v) for v in old_args.values() if isinstance(v, str)), "")
        options = [c for c in retrieval if c[0]["name"] != tool["name"]] + [c for c in retrieval if c[0]["name"] == tool["name"]]
        for choice in options:
            args = _retrieval_args(text, choice) if choice[2] == "entity" else {choice[1]: text if choice[0]["name"] != tool["name"] else question.rstrip("?.!") + " " + text}
            key = (choice[0]["name"], canonical_args(args))
            if key in done:
                continue
            done.add(key)
            tasks.append({"id": tid, "tool": choice[0]["name"], "args": args, "deps": []})
            if choice[0].get("returns") == tool.get("returns"):  # same shape: dependents can use it
                replaced[str(entry.get("id"))] = str(tid)
            tid += 1
            break
    if not replaced:
        return tasks
    pattern = re.compile(r"\$(\w+)")
    for entry in executed:
        if int(entry.get("plan", latest)) != latest or entry.get("status") != "error":
            continue
        args_text = json.dumps(entry.get("args") or {})
        refs = set(pattern.findall(args_text))
        if not refs & set(replaced):
            continue
        new_args = json.loads(pattern.sub(lambda m: "$" + replaced.get(m.group(1), m.group(1)), args_text))
        deps = sorted({int(replaced.get(r, r)) for r in refs if str(replaced.get(r, r)).isdigit()})
        tasks.append({"id": tid, "tool": entry.get("tool"), "args": new_args, "deps": deps})
        tid += 1
    return tasks


def plan_tasks(request: ModelRequest) -> list[dict[str, Any]]:
    """The tasks this request should get (fresh plan, replan or repair)."""
    question = question_of(request)
    tools = _tools(request)
    user_lines = [line for m in request.messages if m.role == "user" and m.content for line in m.content.splitlines()]
    executed = parse_prefixed(user_lines, RESULT_PREFIX)
    next_id = 0
    for line in user_lines:
        if line.startswith(NEXT_ID) and line[len(NEXT_ID):].strip().isdigit():
            next_id = int(line[len(NEXT_ID):].strip())
    next_id = next_id or (max((int(e.get("id", 0)) for e in executed if str(e.get("id", "")).isdigit()), default=0) + 1)
    tasks = _replan(question, tools, executed, next_id) if executed else _fresh(question, tools, next_id)
    last = request.messages[-1].content or "" if request.messages else ""
    accepted = re.search(r"Tasks ([\d, ]+) were accepted", last)
    if accepted:  # a streamed repair: resend only what was not accepted
        keep = {int(x) for x in re.findall(r"\d+", accepted.group(1))}
        tasks = [t for t in tasks if t["id"] not in keep]
    return tasks


def respond(request: ModelRequest) -> Completion:
    """The plan as JSON Lines (streaming) or one ``{"tasks": [...]}`` object."""
    tasks = plan_tasks(request)
    wants_lines = any(m.role == "system" and m.content and PLAN_FORMAT_JSONL in m.content for m in request.messages)
    if request.stream or wants_lines:
        text = "\n".join(json.dumps(t, ensure_ascii=False) for t in tasks)
    else:
        text = json.dumps({"tasks": tasks}, ensure_ascii=False)
    return Completion(text=text, finish_reason="stop")

"""The text formats DAGPlanner sends: the tool listing, executed-task results and the planner
and joiner instructions. Any model (the offline one too) reads the same lines, so the format
lives here, below both the planner and the models."""

from __future__ import annotations

import json
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from agentloom.tools.base import Tool, ToolResult

__all__ = [
    "FEEDBACK",
    "NEXT_ID",
    "QUESTION",
    "JOIN_INSTRUCTIONS",
    "PLAN_FORMAT_JSON",
    "PLAN_FORMAT_JSONL",
    "PLAN_INSTRUCTIONS",
    "RESULT_PREFIX",
    "TOOL_PREFIX",
    "parse_prefixed",
    "result_line",
    "tool_line",
]

TOOL_PREFIX = "tool: "
RESULT_PREFIX = "result: "
NEXT_ID = "Next task id: "
QUESTION = "Question: "
FEEDBACK = "Joiner feedback: "

PLAN_INSTRUCTIONS = """You plan tool calls as a dependency graph so that independent calls run in parallel.
Do not answer the question yourself: a joiner answers from the results.
Each task has:
- "id": an integer; start at the "Next task id" given and increase by one;
- "tool": the name of one of the tools listed below;
- "args": an object matching that tool's parameters. To use an earlier task's result, write "$3"
  for the whole result of task 3, or "$3.field" for one field of it; inside a longer string the
  reference is replaced by the result's text;
- "deps": the ids of earlier tasks it needs (references in args count too).
Rules: a task may only reference tasks with smaller ids or executed tasks; tasks that do not
need each other must not depend on each other; never repeat an executed task (reference its
result instead)."""

PLAN_FORMAT_JSONL = """Output format: JSON Lines. Write one task per line as a single JSON object, e.g.
{"id": 1, "tool": "search", "args": {"query": "..."}, "deps": []}
and nothing else: no prose, no code fences, no enclosing list."""

PLAN_FORMAT_JSON = """Output format: one JSON object {"tasks": [ ... ]} listing the tasks in order, each
{"id": 1, "tool": "search", "args": {"query": "..."}, "deps": []}."""

JOIN_INSTRUCTIONS = """You are the joiner. Read the question and the results of the executed tasks.
If the results answer the question, reply {"action": "finish", "answer": "..."}: answer only from
the results and cite every claim with its source id in square brackets, e.g. [p_0123456789].
If a task failed or the evidence is missing, reply {"action": "replan", "feedback": "...", "answer": "..."}
naming what failed and what to try instead, with the best answer so far in "answer".
When no replans are left, you must finish with the best answer the results support."""


def _returns(tool: Tool) -> Any:
    """A short description of what ``tool`` returns, from its return annotation."""
    try:
        hint = typing.get_type_hints(tool.fn).get("return")
    except Exception:
        hint = None
    if hint is None:
        return None
    origin = typing.get_origin(hint) or hint
    if hint in (int, float):
        return "number"
    if hint is str:
        return "string"
    if hint is bool:
        return "boolean"
    if isinstance(origin, type) and issubclass(origin, Mapping):
        return "object"
    if isinstance(origin, type) and issubclass(origin, list | tuple):
        return "array"
    schema = getattr(hint, "model_json_schema", None)
    if callable(schema):
        return {"object with fields": sorted(schema().get("properties", {}))}
    keys = getattr(hint, "__annotations__", None)
    if isinstance(keys, dict) and keys:
        return {"object with fields": sorted(keys)}
    return getattr(hint, "__name__", str(hint))


def tool_line(tool: Tool) -> str:
    """One line describing a tool: name, description, JSON-schema parameters, return shape."""
    function = tool.schema()["function"]
    entry: dict[str, Any] = {"name": tool.name, "description": function.get("description", ""), "parameters": function.get("parameters", {})}
    returns = _returns(tool)
    if returns is not None:
        entry["returns"] = returns
    return TOOL_PREFIX + json.dumps(entry, ensure_ascii=False, default=str)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        if hasattr(value, "model_dump"):
            return value.model_dump(mode="json")
        return str(value)


def result_line(
    task_id: str,
    tool: str,
    args: Mapping[str, Any],
    result: ToolResult | None,
    *,
    limit: int = 4000,
    reused_from: str | None = None,
    plan_round: int | None = None,
) -> str:
    """One line describing an executed task and its result (or error), at most ``limit``
    characters of result; ``plan_round`` is the (0-based) plan that issued it."""
    entry: dict[str, Any] = {"id": int(task_id) if task_id.isdigit() else task_id, "tool": tool, "args": _jsonable(dict(args))}
    if plan_round is not None:
        entry["plan"] = plan_round + 1
    if reused_from is not None:
        entry["reused_from"] = int(reused_from) if reused_from.isdigit() else reused_from
    if result is None:
        entry["status"] = "not run"
    elif result.ok:
        entry["status"] = "ok"
        value = _jsonable(result.value)
        text = json.dumps(value, ensure_ascii=False, default=str)
        entry["result"] = value if len(text) <= limit else text[:limit] + " ...(truncated)"
    else:
        entry["status"] = "error"
        entry["error"] = f"{result.error_type}: {result.error}"
    return RESULT_PREFIX + json.dumps(entry, ensure_ascii=False, default=str)


def parse_prefixed(lines: Iterable[str], prefix: str) -> list[dict[str, Any]]:
    """The JSON objects of every line that starts with ``prefix`` (malformed ones skipped)."""
    out: list[dict[str, Any]] = []
    for raw in lines:
        line = raw.strip()
        if not line.startswith(prefix):
            continue
        try:
            value = json.loads(line[len(prefix):])
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out

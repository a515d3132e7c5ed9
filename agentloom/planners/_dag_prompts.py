"""DAGPlanner's prompt lines: the tool listing and executed-task results, formatted from tools
and their results with the prefixes of ``agentloom.text.dag_lines`` (which the models read)."""

from __future__ import annotations

import json
import typing
from collections.abc import Mapping
from typing import Any

from agentloom.text.dag_lines import RESULT_PREFIX, TOOL_PREFIX
from agentloom.tools.base import Tool, ToolResult

__all__ = ["result_line", "tool_line"]


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

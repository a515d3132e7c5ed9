"""The text formats DAGPlanner sends: line prefixes, the planner and joiner instructions, and the
parser for prefixed lines (tool and result lines are formatted by the planner). Any model (the offline one too) reads the same lines, so the format
lives here, below both the planner and the models."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

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

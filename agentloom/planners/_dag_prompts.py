"""Moved to ``agentloom.text.dag_lines`` (shared with the offline model); re-exported here for existing imports."""

from agentloom.text.dag_lines import (  # noqa: F401
    FEEDBACK,
    JOIN_INSTRUCTIONS,
    NEXT_ID,
    PLAN_FORMAT_JSON,
    PLAN_FORMAT_JSONL,
    PLAN_INSTRUCTIONS,
    QUESTION,
    RESULT_PREFIX,
    TOOL_PREFIX,
    parse_prefixed,
    result_line,
    tool_line,
)

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

"""Tools: ``@tool``, the ``ToolExecutor`` (batches and DAGs), and the built-in tools."""

from __future__ import annotations

from agentloom._lazy import lazy_exports
from agentloom.tools.base import (
    CachePolicy,
    Tool,
    ToolArgumentError,
    ToolResult,
    canonical_args,
    fingerprint,
    tool,
)

# Eager, not lazy: importing the submodule binds the package attribute ``calculator`` to the
# module, which would shadow a lazy ``__getattr__``; this from-import rebinds it to the Tool.
from agentloom.tools.calculator import calculator
from agentloom.tools.executor import Task, ToolCache, ToolExecutor, references_in, resolve_references

__all__ = [
    "CachePolicy",
    "Task",
    "Tool",
    "ToolArgumentError",
    "ToolCache",
    "ToolExecutor",
    "ToolResult",
    "calculator",
    "canonical_args",
    "corpus_tools",
    "CorpusIndex",
    "fingerprint",
    "references_in",
    "resolve_references",
    "tool",
    "configured_provider",
    "web_tools",
    "web_search",
    "http_fetch",
    "mcp_tools",
]

_LAZY = {
    "corpus_tools": "agentloom.tools.corpus",
    "CorpusIndex": "agentloom.tools.corpus",
    "configured_provider": "agentloom.tools.web",
    "web_tools": "agentloom.tools.web",
    "web_search": "agentloom.tools.web",
    "http_fetch": "agentloom.tools.web",
    "mcp_tools": "agentloom.tools.mcp",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())

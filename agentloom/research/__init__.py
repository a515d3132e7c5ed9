"""Deep research: the pipeline graph, the ``research()`` entry point, evaluation and timelines."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentloom._lazy import lazy_exports

if TYPE_CHECKING:
    from agentloom.research.evaluate import evaluate, score_report
    from agentloom.research.pipeline import deep_research_graph
    from agentloom.research.run import research, research_sync

__all__ = ["deep_research_graph", "evaluate", "research", "research_sync", "score_report"]

_LAZY = {
    "deep_research_graph": "agentloom.research.pipeline",
    "evaluate": "agentloom.research.evaluate",
    "score_report": "agentloom.research.evaluate",
    "research": "agentloom.research.run",
    "research_sync": "agentloom.research.run",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())

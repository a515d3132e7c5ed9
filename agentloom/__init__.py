"""agentloom: agents that scale reasoning wide and deep under a budget, on LangGraph.

The public API is small and stable; everything else lives in its subpackage
(``agentloom.models``, ``.tools``, ``.memory``, ``.planners``, ``.agents``, ``.graph``,
``.research``). Heavy modules load on first use so ``import agentloom`` stays fast.
"""

from __future__ import annotations

import os as _os
from typing import TYPE_CHECKING

from agentloom._lazy import lazy_exports

# litellm must never fetch its price map from the network; set before it is ever imported.
_os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from agentloom.budget import Budget  # noqa: E402
from agentloom.errors import AgentloomError, BudgetExceeded  # noqa: E402

if TYPE_CHECKING:
    from agentloom.agents.agent import Agent
    from agentloom.graph.builder import Graph
    from agentloom.graph.loader import load_graph
    from agentloom.memory.bank import MemoryBank
    from agentloom.rate_limits import RateLimit
    from agentloom.research.run import research
    from agentloom.result import Result
    from agentloom.tools.base import CachePolicy, tool

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentloomError",
    "Budget",
    "BudgetExceeded",
    "CachePolicy",
    "Graph",
    "MemoryBank",
    "RateLimit",
    "Result",
    "__version__",
    "load_graph",
    "research",
    "tool",
]

_LAZY = {
    "Agent": "agentloom.agents.agent",
    "Graph": "agentloom.graph.builder",
    "load_graph": "agentloom.graph.loader",
    "MemoryBank": "agentloom.memory.bank",
    "CachePolicy": "agentloom.tools.base",
    "RateLimit": "agentloom.rate_limits",
    "research": "agentloom.research.run",
    "Result": "agentloom.result",
    "tool": "agentloom.tools.base",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())

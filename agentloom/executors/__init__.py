"""Where branches and heavy tools run: in this process (``LocalExecutor``, the default) or on a
Ray cluster (``RayExecutor``). Select with ``AGENTLOOM_EXECUTOR`` / ``loom --executor`` or a
graph's ``executor:`` block. Ray is imported only when a Ray task is submitted."""

from __future__ import annotations

from agentloom._lazy import lazy_exports
from agentloom.executors._select import KINDS, current, executor_for, select, use
from agentloom.executors.base import Executor, LocalExecutor, Placement

__all__ = ["KINDS", "Executor", "LocalExecutor", "Placement", "RayExecutor", "current", "executor_for", "select", "use"]

__getattr__, __dir__ = lazy_exports(__name__, {"RayExecutor": "agentloom.executors._ray"}, globals())

"""Shared memory for parallel teams and runs (Learning to Share): a ``MemoryBank`` that serves
and coalesces identical tool calls, shows teams a bounded list of keys, and admits new entries
through an ``AdmissionPolicy`` — up to one learned from the bank's own usage logs.

Names load on first use, so light helpers (e.g. the offline model's memory hints) can import a
submodule without pulling in SQLite and numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentloom._lazy import lazy_exports

if TYPE_CHECKING:
    from agentloom.memory.admission import (
        AdmissionModel,
        AdmissionPolicy,
        AdmitAll,
        AdmitNone,
        HeuristicAdmission,
        LearnedAdmission,
    )
    from agentloom.memory.agent_hooks import admit_step, memory_prompt, memory_tools
    from agentloom.memory.bank import SCOPES, MemoryBank, tool_key
    from agentloom.memory.context import current_task, use_task
    from agentloom.memory.features import FEATURE_NAMES
    from agentloom.memory.training import TrainReport, train
    from agentloom.memory.types import KINDS, AdmissionCandidate, Decision, Embedder, MemoryEntry

__all__ = [
    "FEATURE_NAMES",
    "KINDS",
    "SCOPES",
    "AdmissionModel",
    "AdmissionPolicy",
    "AdmitAll",
    "AdmitNone",
    "AdmissionCandidate",
    "Decision",
    "Embedder",
    "HeuristicAdmission",
    "LearnedAdmission",
    "MemoryBank",
    "MemoryEntry",
    "TrainReport",
    "admit_step",
    "current_task",
    "memory_prompt",
    "memory_tools",
    "tool_key",
    "train",
    "use_task",
]

_LAZY = {
    "AdmissionModel": "agentloom.memory.admission",
    "AdmissionPolicy": "agentloom.memory.admission",
    "AdmitAll": "agentloom.memory.admission",
    "AdmitNone": "agentloom.memory.admission",
    "HeuristicAdmission": "agentloom.memory.admission",
    "LearnedAdmission": "agentloom.memory.admission",
    "admit_step": "agentloom.memory.agent_hooks",
    "memory_prompt": "agentloom.memory.agent_hooks",
    "memory_tools": "agentloom.memory.agent_hooks",
    "SCOPES": "agentloom.memory.bank",
    "MemoryBank": "agentloom.memory.bank",
    "tool_key": "agentloom.memory.bank",
    "current_task": "agentloom.memory.context",
    "use_task": "agentloom.memory.context",
    "FEATURE_NAMES": "agentloom.memory.features",
    "TrainReport": "agentloom.memory.training",
    "train": "agentloom.memory.training",
    "KINDS": "agentloom.memory.types",
    "AdmissionCandidate": "agentloom.memory.types",
    "Decision": "agentloom.memory.types",
    "Embedder": "agentloom.memory.types",
    "MemoryEntry": "agentloom.memory.types",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())

"""Selection policies and early stopping over candidate-producing branches.

Policies (``top_k``, ``threshold``, ``first_finish``, ``quorum``, ``best_of_n``) say which
candidates to keep and whether enough is known to stop. ``select_streaming`` runs branches
concurrently, verifies each candidate as it finishes and cancels the branches still in flight
once the policy is satisfied: their budget reservations are released, each cancellation is
recorded, and the spend saved is estimated (and labelled an estimate).
"""

from __future__ import annotations

from agentloom.agents.selection.batch import select
from agentloom.agents.selection.policies import (
    BestOfN,
    Entry,
    FirstFinish,
    Policy,
    Quorum,
    Threshold,
    TopK,
    agreement,
    best_of_n,
    first_finish,
    quorum,
    ranked,
    threshold,
    top_k,
)
from agentloom.agents.selection.results import SavedEstimate, SelectionResult
from agentloom.agents.selection.streaming import BranchWork, select_streaming

__all__ = [
    "BestOfN",
    "BranchWork",
    "Entry",
    "FirstFinish",
    "Policy",
    "Quorum",
    "SavedEstimate",
    "SelectionResult",
    "Threshold",
    "TopK",
    "agreement",
    "best_of_n",
    "first_finish",
    "quorum",
    "ranked",
    "select",
    "select_streaming",
    "threshold",
    "top_k",
]

"""Crossover: combine candidates into a better one instead of only picking one.

``MergeCrossover`` merges the top-k candidates with a model (purpose ``merge``), keeping every
citation id and flagging disagreements it could not resolve. ``DistillRefine``
(Parallel-Distill-Refine) distils candidates into a bounded workspace, then refines a draft
from it (purpose ``refine``). ``FieldCrossover`` builds a structured answer field by field
from the candidates the verifier preferred for each field. ``Variation`` declares how the
candidates of a node differ (temperature, top_p/top_k, model, prompt style).
"""

from __future__ import annotations

from agentloom.agents.crossover._base import Crossover
from agentloom.agents.crossover.distill_refine import DistillRefine, Workspace
from agentloom.agents.crossover.fields import FieldCrossover
from agentloom.agents.crossover.merge import Disagreement, MergeCrossover, MergeOutput
from agentloom.agents.crossover.variation import STYLES, Variation

__all__ = [
    "STYLES",
    "Crossover",
    "Disagreement",
    "DistillRefine",
    "FieldCrossover",
    "MergeCrossover",
    "MergeOutput",
    "Variation",
    "Workspace",
]

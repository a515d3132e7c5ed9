"""Agents and the nodes around them: candidates, verifiers, selection with early stopping,
crossover, the evolve loop and Parallel-Distill-Refine (PDR). Names load on first use, so importing a helper module of this
package stays cheap (the offline model's handlers import ``agentloom.agents._verify_text``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentloom._lazy import lazy_exports

if TYPE_CHECKING:
    from agentloom.agents.agent import Agent
    from agentloom.agents.candidates import Candidate, Verdict, mean_score, pass_rate
    from agentloom.agents.crossover import (
        STYLES,
        Crossover,
        Disagreement,
        DistillRefine,
        FieldCrossover,
        MergeCrossover,
        MergeOutput,
        Variation,
        Workspace,
    )
    from agentloom.agents.evolve import Evolve, EvolveInput, EvolveResult, GenerationRecord
    from agentloom.agents.pdr import PDR, PDRRound
    from agentloom.agents.selection import (
        BestOfN,
        FirstFinish,
        Policy,
        Quorum,
        SavedEstimate,
        SelectionResult,
        Threshold,
        TopK,
        agreement,
        best_of_n,
        first_finish,
        quorum,
        select,
        select_streaming,
        threshold,
        top_k,
    )
    from agentloom.agents.verifiers import (
        CitationVerifier,
        Consensus,
        ConsensusVerifier,
        EntailmentJudgment,
        EquivalenceJudgment,
        FunctionVerifier,
        JudgeScore,
        JudgeVerifier,
        PairwiseJudgment,
        Verifier,
    )
    from agentloom.agents.writer import Report, Writer

_LAZY: dict[str, str] = {
    "Agent": "agentloom.agents.agent",
    "Writer": "agentloom.agents.writer",
    "Report": "agentloom.agents.writer",
    **dict.fromkeys(["Candidate", "Verdict", "mean_score", "pass_rate"], "agentloom.agents.candidates"),
    **dict.fromkeys(
        [
            "STYLES",
            "Crossover",
            "Disagreement",
            "DistillRefine",
            "FieldCrossover",
            "MergeCrossover",
            "MergeOutput",
            "Variation",
            "Workspace",
        ],
        "agentloom.agents.crossover",
    ),
    **dict.fromkeys(["Evolve", "EvolveInput", "EvolveResult", "GenerationRecord"], "agentloom.agents.evolve"),
    **dict.fromkeys(["PDR", "PDRRound"], "agentloom.agents.pdr"),
    **dict.fromkeys(
        [
            "BestOfN",
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
            "select",
            "select_streaming",
            "threshold",
            "top_k",
        ],
        "agentloom.agents.selection",
    ),
    **dict.fromkeys(
        [
            "CitationVerifier",
            "Consensus",
            "ConsensusVerifier",
            "EntailmentJudgment",
            "EquivalenceJudgment",
            "FunctionVerifier",
            "JudgeScore",
            "JudgeVerifier",
            "PairwiseJudgment",
            "Verifier",
        ],
        "agentloom.agents.verifiers",
    ),
}

__all__ = [
    "Agent",
    "Report",
    "Writer",
    "BestOfN",
    "Candidate",
    "CitationVerifier",
    "Consensus",
    "ConsensusVerifier",
    "Crossover",
    "Disagreement",
    "DistillRefine",
    "EntailmentJudgment",
    "EquivalenceJudgment",
    "Evolve",
    "PDR",
    "PDRRound",
    "EvolveInput",
    "EvolveResult",
    "FieldCrossover",
    "FirstFinish",
    "FunctionVerifier",
    "GenerationRecord",
    "JudgeScore",
    "JudgeVerifier",
    "MergeCrossover",
    "MergeOutput",
    "PairwiseJudgment",
    "Policy",
    "Quorum",
    "STYLES",
    "SavedEstimate",
    "SelectionResult",
    "Threshold",
    "TopK",
    "Variation",
    "Verdict",
    "Verifier",
    "Workspace",
    "agreement",
    "best_of_n",
    "first_finish",
    "mean_score",
    "pass_rate",
    "quorum",
    "select",
    "select_streaming",
    "threshold",
    "top_k",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())

"""Verifiers: judge a list of candidates and return one ``Verdict`` each.

``JudgeVerifier`` asks a model (purpose ``verify``) for a structured score, pointwise or by
pairwise comparison; ``FunctionVerifier`` runs user code or a test suite; ``ConsensusVerifier``
clusters normalised answers (optionally asking a model whether two answers are equivalent);
``CitationVerifier`` checks that every cited claim is supported by the passage it cites.
Every verdict is recorded as a ``verdict`` event. An unverifiable candidate gets
``passed=None`` and is never counted as passing.
"""

from __future__ import annotations

from agentloom.agents.verifiers._base import Verifier, VerifierBase, record_verdict
from agentloom.agents.verifiers.citation import CitationVerifier
from agentloom.agents.verifiers.consensus import Cluster, Consensus, ConsensusVerifier
from agentloom.agents.verifiers.function import FunctionVerifier
from agentloom.agents.verifiers.judge import DEFAULT_RUBRIC, JudgeVerifier
from agentloom.agents.verifiers.schemas import (
    EntailmentJudgment,
    EquivalenceJudgment,
    JudgeScore,
    PairwiseJudgment,
)

__all__ = [
    "DEFAULT_RUBRIC",
    "CitationVerifier",
    "Cluster",
    "Consensus",
    "ConsensusVerifier",
    "EntailmentJudgment",
    "EquivalenceJudgment",
    "FunctionVerifier",
    "JudgeScore",
    "JudgeVerifier",
    "PairwiseJudgment",
    "Verifier",
    "VerifierBase",
    "record_verdict",
]

"""Admission features, shared by the heuristic and the learned policy: novelty against the bank
(exact hash, then similarity), relevance to the run's task, cost to produce, size."""

from __future__ import annotations

import math

import numpy as np

from agentloom.memory._text import jaccard, term_set
from agentloom.memory.types import AdmissionCandidate, cost_scalar
from agentloom.tokens import count_tokens

__all__ = ["FEATURE_NAMES", "compute_features", "feature_vector", "relevance"]

#: The learned model's inputs, in order. Every decision logs these (plus raw extras).
FEATURE_NAMES: tuple[str, ...] = (
    "novelty",
    "relevance",
    "cost",
    "size",
    "kind_tool",
    "kind_finding",
    "kind_answer",
    "cited",
)

_COST_SCALE = math.log1p(30.0)  # 30 seconds-equivalent saturates the cost feature
_SIZE_SCALE = math.log1p(20000.0)  # 20k tokens saturate the size feature


def relevance(task_terms: frozenset[str], candidate_terms: frozenset[str]) -> float:
    """Share of the task's content words (up to 8 of them count) that the candidate mentions."""
    if not task_terms:
        return 0.5  # no task known: neither relevant nor irrelevant
    hit = len(task_terms & candidate_terms)
    return min(1.0, hit / min(len(task_terms), 8))


def compute_features(
    candidate: AdmissionCandidate,
    *,
    exact: bool,
    neighbours: list[frozenset[str]],
    candidate_terms: frozenset[str] | None = None,
) -> dict[str, float]:
    """The feature dict for ``candidate`` given what the bank already holds: ``exact`` (same
    content hash exists) and the term sets of its nearest stored entries."""
    cand_terms = candidate_terms if candidate_terms is not None else term_set(candidate.key + " " + candidate.value[:1500])
    similarity = max((jaccard(cand_terms, n) for n in neighbours), default=0.0)
    novelty = 0.0 if exact else 1.0 - similarity
    task_terms = term_set(candidate.task, limit=64)
    value_tokens = count_tokens(candidate.value)
    cost = cost_scalar(candidate.cost_seconds, candidate.cost_tokens, candidate.cost_usd)
    return {
        "novelty": round(novelty, 6),
        "relevance": round(relevance(task_terms, cand_terms), 6),
        "cost": round(min(1.0, math.log1p(max(cost, 0.0)) / _COST_SCALE), 6),
        "size": round(min(1.0, math.log1p(value_tokens) / _SIZE_SCALE), 6),
        "kind_tool": 1.0 if candidate.kind == "tool_result" else 0.0,
        "kind_finding": 1.0 if candidate.kind == "finding" else 0.0,
        "kind_answer": 1.0 if candidate.kind == "answer" else 0.0,
        "cited": 1.0 if candidate.citations else 0.0,
        # raw extras: logged for audits and hard rules, not model inputs
        "exact": 1.0 if exact else 0.0,
        "similarity": round(similarity, 6),
        "value_tokens": float(value_tokens),
        "key_tokens": float(count_tokens(candidate.key)),
        "cost_raw": round(cost, 6),
    }


def feature_vector(features: dict[str, float], names: tuple[str, ...] | list[str] = FEATURE_NAMES) -> np.ndarray:
    """The model inputs in ``names`` order (missing features count as 0)."""
    return np.array([float(features.get(n, 0.0)) for n in names], dtype=np.float64)

"""Admission policies: what goes into the bank. ``AdmitAll``, ``AdmitNone``, a feature-weighted
``HeuristicAdmission``, and ``LearnedAdmission`` (logistic regression trained from the bank's
own decision and read logs; heuristic fallback, announced, until a model exists)."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from agentloom import tracing
from agentloom.memory.features import FEATURE_NAMES, feature_vector
from agentloom.memory.types import Decision

if TYPE_CHECKING:
    from agentloom.memory.bank import MemoryBank

__all__ = [
    "AdmissionPolicy",
    "AdmitAll",
    "AdmitNone",
    "HeuristicAdmission",
    "LearnedAdmission",
    "AdmissionModel",
]

log = logging.getLogger("agentloom.memory")


class AdmissionPolicy:
    """Decides, from a candidate's features, whether the bank stores it. Subclass and implement
    ``decide``; ``bind`` is called once with the bank that uses the policy."""

    name = "policy"
    fallback = False

    def bind(self, bank: MemoryBank) -> None:  # noqa: B027 - optional hook
        """Called when a bank adopts the policy (the learned policy loads its model here)."""

    def decide(self, features: dict[str, float]) -> Decision:
        raise NotImplementedError


class AdmitAll(AdmissionPolicy):
    """Store every successful step, except exact duplicates (which the bank dedups anyway)."""

    name = "admit_all"

    def decide(self, features: dict[str, float]) -> Decision:
        if features.get("exact"):
            return Decision(False, 0.0, "duplicate", self.name, features)
        return Decision(True, 1.0, "admit all", self.name, features)


class AdmitNone(AdmissionPolicy):
    """Store nothing (in-flight coalescing still works: it needs no stored entry)."""

    name = "admit_none"

    def decide(self, features: dict[str, float]) -> Decision:
        return Decision(False, 0.0, "admit none", self.name, features)


@dataclass
class HeuristicAdmission(AdmissionPolicy):
    """Weigh novelty, relevance to the run's task, cost to produce and size; refuse exact and
    near duplicates and oversized values outright."""

    threshold: float = 0.5
    near_duplicate: float = 0.85
    max_tokens: int = 8000
    weights: dict[str, float] = field(
        default_factory=lambda: {"novelty": 0.4, "relevance": 0.45, "cost": 0.35, "size": -0.1, "cited": 0.05}
    )
    name: str = "heuristic"

    def score(self, features: dict[str, float]) -> float:
        return sum(w * float(features.get(n, 0.0)) for n, w in self.weights.items())

    def decide(self, features: dict[str, float]) -> Decision:
        if features.get("exact"):
            return Decision(False, 0.0, "duplicate", self.name, features)
        if features.get("similarity", 0.0) >= self.near_duplicate:
            return Decision(False, 0.0, f"near-duplicate (similarity {features['similarity']:.2f})", self.name, features)
        if features.get("value_tokens", 0.0) > self.max_tokens:
            return Decision(False, 0.0, f"too large ({int(features['value_tokens'])} tokens > {self.max_tokens})", self.name, features)
        s = self.score(features)
        if s >= self.threshold:
            return Decision(True, s, f"score {s:.2f} >= {self.threshold}", self.name, features)
        return Decision(False, s, f"score {s:.2f} < {self.threshold}", self.name, features)


@dataclass
class AdmissionModel:
    """A trained logistic regression over ``features``; admit when P(useful) >= ``threshold``."""

    weights: np.ndarray
    bias: float
    threshold: float = 0.5
    features: tuple[str, ...] = FEATURE_NAMES
    version: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    penalty: float = 0.0
    created: float = field(default_factory=time.time)

    def probability(self, features: dict[str, float]) -> float:
        z = float(feature_vector(features, self.features) @ self.weights) + self.bias
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def to_row(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "kind": "logistic",
            "features": json.dumps(list(self.features)),
            "weights": json.dumps([float(w) for w in self.weights]),
            "bias": float(self.bias),
            "threshold": float(self.threshold),
            "penalty": float(self.penalty),
            "n_decisions": int(self.metrics.get("n_decisions", 0)),
            "n_positive": int(self.metrics.get("n_positive", 0)),
            "metrics": json.dumps(self.metrics),
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AdmissionModel:
        return cls(
            weights=np.array(json.loads(row["weights"]), dtype=np.float64),
            bias=float(row["bias"]),
            threshold=float(row["threshold"]),
            features=tuple(json.loads(row["features"])),
            version=int(row["version"]),
            metrics=json.loads(row["metrics"] or "{}"),
            penalty=float(row["penalty"] or 0.0),
            created=float(row["created"] or 0.0),
        )


class LearnedAdmission(AdmissionPolicy):
    """Admit what a model trained on this bank's logs predicts other teams will reuse.

    ``model`` may be given; otherwise the newest (or ``version``) model stored in the bank is
    loaded when the policy is bound. With none, it falls back to ``HeuristicAdmission`` and says
    so: ``fallback`` is True, a log line is written and a ``memory_policy`` event is emitted.
    """

    name = "learned"

    def __init__(
        self,
        model: AdmissionModel | None = None,
        *,
        version: int | None = None,
        heuristic: HeuristicAdmission | None = None,
        threshold: float | None = None,
    ) -> None:
        self.model = model
        self.version = version
        self.heuristic = heuristic or HeuristicAdmission()
        self.threshold = threshold
        self.fallback = model is None
        self.fallback_reason = "no trained model yet" if model is None else ""
        self._announced = False

    def bind(self, bank: MemoryBank) -> None:
        if self.model is not None:
            return
        self.model = bank.load_model(self.version)
        self.fallback = self.model is None
        if self.model is None:
            wanted = f"admission model version {self.version}" if self.version is not None else "trained admission model"
            self.fallback_reason = f"{bank.path} has no {wanted} yet (run `loom memory train`); using HeuristicAdmission"
            log.info("LearnedAdmission: %s", self.fallback_reason)

    def decide(self, features: dict[str, float]) -> Decision:
        if self.model is None:
            if not self._announced:
                self._announced = True
                tracing.emit("memory_policy", self.name, status="fallback",
                             data={"fallback": True, "reason": self.fallback_reason, "using": self.heuristic.name})
            decision = self.heuristic.decide(features)
            decision.policy = self.name
            decision.fallback = True
            decision.reason = f"fallback to heuristic: {decision.reason}"
            return decision
        if features.get("exact"):
            return Decision(False, 0.0, "duplicate", self.name, features)
        p = self.model.probability(features)
        threshold = self.threshold if self.threshold is not None else self.model.threshold
        version = self.model.version
        if p >= threshold:
            return Decision(True, p, f"model v{version}: p={p:.2f} >= {threshold:.2f}", self.name, features)
        return Decision(False, p, f"model v{version}: p={p:.2f} < {threshold:.2f}", self.name, features)

"""Training ``LearnedAdmission`` from the bank's own logs.

Each logged admission decision gets a usage-aware credit:

    credit = uses by other teams × cost saved − penalty × context tokens the entry adds

For an admitted entry, "uses by other teams" are its hits and ``memory_read`` reads by teams
other than the one that produced it; for a rejected candidate, they are the times other teams
later had to produce the same content again (and the reads of the copy they stored) — what
storing it would have saved. For both, joins of the decision's own in-flight call by other
teams (``coalesced`` reads) count too: they are other teams using this very result, and whether
that use arrives while the call runs (teams that start together) or after the entry is stored
(teams that start later) is timing, which the label must not depend on. A coalesced read is
linked to the decision on the same scope, run and fingerprint nearest to it in time (the
leader logs its decision right after its waiters are served). Context tokens are the key's
tokens once — the key block in a prompt is capped (8 keys), so a stored key takes a slot another
key would have had rather than growing every prompt it is shown in — plus the value's tokens
each time it was read lazily (that text does enter the reader's context). A logistic regression (numpy,
Newton steps with L2) then predicts ``credit > 0`` from the decision's features. The admission
threshold is, among those that capture at least 90% of the positive credit on the logs, the one
with the most net credit: with few positives this never degenerates into admitting nothing, and
only when no decision earned positive credit does the model admit nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from agentloom.errors import ConfigError
from agentloom.memory.admission import AdmissionModel
from agentloom.memory.features import FEATURE_NAMES, feature_vector
from agentloom.memory.types import cost_scalar

if TYPE_CHECKING:
    from agentloom.memory.bank import MemoryBank

__all__ = ["CreditRow", "TrainReport", "credits", "fit_logistic", "train"]

_USE_VIA = ("hit", "memory_read")


@dataclass(slots=True)
class CreditRow:
    """One decision with its features and the credit it earned (or would have)."""

    decision_id: int
    team: str | None
    admitted: bool
    other_uses: int
    saved: float
    context_tokens: int
    credit: float
    features: dict[str, float]


@dataclass
class TrainReport:
    """What ``train`` fitted and how well it fits the logs it learned from."""

    version: int | None
    n_decisions: int
    n_positive: int
    threshold: float
    weights: dict[str, float]
    bias: float
    metrics: dict[str, Any] = field(default_factory=dict)
    model: AdmissionModel | None = None

    def summary(self) -> str:
        w = ", ".join(f"{k}={v:+.2f}" for k, v in self.weights.items())
        m = self.metrics
        return (
            f"model v{self.version}: {self.n_decisions} decisions, {self.n_positive} useful; threshold {self.threshold:.2f}; "
            f"admits {m.get('admit_fraction', 0):.0%} of candidates, capturing {m.get('credit_captured', 0):.0%} of the "
            f"positive credit (accuracy {m.get('accuracy', 0):.0%}, AUC {m.get('auc', 0):.2f}); weights: {w}, bias={self.bias:+.2f}"
        )


def credits(bank: MemoryBank, *, penalty: float = 0.001, token_seconds: float = 0.001, usd_seconds: float = 100.0) -> list[CreditRow]:
    """The usage-aware credit of every logged admission decision in the bank's scope."""
    where, params = bank.db.where("d.")
    rows = bank.db.read(
        "SELECT d.id, d.ns, d.team, d.content_hash, d.created, d.admitted, d.entry_id, d.key_tokens, d.value_tokens, "
        "d.cost_seconds, d.cost_tokens, d.cost_usd, d.features "
        f"FROM decisions d WHERE {where} "
        "AND d.reason NOT LIKE 'error:%' AND d.features != '{}' ORDER BY d.id",
        params,
    )
    # uses of stored entries, per entry and reading team
    reads: dict[str, list[tuple[str | None, str, float]]] = {}
    for entry_id, team, via, created in bank.db.read(
        "SELECT r.entry_id, r.team, r.via, r.created FROM reads r WHERE r.entry_id IS NOT NULL AND r.via IN (?, ?)", list(_USE_VIA)
    ):
        reads.setdefault(entry_id, []).append((team, via, created))
    # every decision per (scope, content hash), to find later reproductions
    by_content: dict[tuple[str, str], list[tuple[int, str | None, str | None]]] = {}
    for row in rows:
        by_content.setdefault((row[1], row[3]), []).append((row[0], row[2], row[6]))
    joins = _coalesced_joins(bank, where, params)
    out: list[CreditRow] = []
    for (did, ns, team, chash, _created, admitted, entry_id, key_tokens, value_tokens, c_s, c_t, c_u, feats) in rows:
        saved = cost_scalar(c_s or 0.0, c_t or 0, c_u or 0.0, token_seconds=token_seconds, usd_seconds=usd_seconds)
        if admitted and entry_id:
            uses = reads.get(entry_id, [])
            other = sum(1 for t, _via, _at in uses if t != team)
            lazy = sum(1 for _t, via, _at in uses if via == "memory_read")
            context = int(key_tokens or 0) + int(value_tokens or 0) * lazy
        else:
            other = 0
            for later_id, later_team, later_entry in by_content.get((ns, chash), []):
                if later_id <= did:
                    continue
                if later_team != team:
                    other += 1
                if later_entry:
                    other += sum(1 for t, _via, _at in reads.get(later_entry, []) if t != team and t != later_team)
            context = int(key_tokens or 0)
        other += sum(1 for t in joins.get(did, []) if t != team)
        credit = other * saved - penalty * context
        out.append(CreditRow(did, team, bool(admitted), other, round(saved, 6), context, round(credit, 6), json.loads(feats)))
    return out


def _coalesced_joins(bank: MemoryBank, where: str, params: list[Any]) -> dict[int, list[str | None]]:
    """The reading teams of every ``coalesced`` read, per decision id: each read goes to the
    decision on the same (scope, run, fingerprint) logged nearest to it in time."""
    flights: dict[tuple[str, str | None, str], list[tuple[float, int]]] = {}
    for did, ns, run, fp, created in bank.db.read(
        f"SELECT d.id, d.ns, d.run, d.fingerprint, d.created FROM decisions d WHERE {where} "
        "AND d.fingerprint IS NOT NULL AND d.reason NOT LIKE 'error:%'",
        params,
    ):
        flights.setdefault((ns, run, fp), []).append((float(created), int(did)))
    out: dict[int, list[str | None]] = {}
    if not flights:
        return out
    for ns, run, fp, team, created in bank.db.read(
        "SELECT r.ns, r.run, r.fingerprint, r.team, r.created FROM reads r WHERE r.via = 'coalesced' AND r.fingerprint IS NOT NULL"
    ):
        candidates = flights.get((ns, run, fp))
        if candidates:
            _at, did = min(candidates, key=lambda c: (abs(c[0] - float(created)), c[1]))
            out.setdefault(did, []).append(team)
    return out


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))
    return out


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 0.01, max_iter: int = 100) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method (deterministic); the bias is not
    regularised. Returns (weights, bias)."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    reg = np.full(d + 1, l2 * max(n, 1))
    reg[-1] = 1e-9
    for _ in range(max_iter):
        p = _sigmoid(xb @ w)
        grad = xb.T @ (p - y) + reg * w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.max(np.abs(step))) < 1e-9:
            break
    return w[:-1], float(w[-1])


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="stable")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _best_threshold(p: np.ndarray, credit: np.ndarray, *, capture: float = 0.9) -> float:
    """Among the admission thresholds that capture at least ``capture`` of the positive credit on
    the logs, the one with the most net credit (ties: store less), placed midway to the next lower
    probability so new data near the edge falls the same way. 0.99 (admit nothing) only when no
    decision earned positive credit: sparse positives never yield a model that stores nothing."""
    positive = float(credit[credit > 0].sum())
    if positive <= 0:
        return 0.99  # nothing was worth storing
    levels = sorted({float(v) for v in p}, reverse=True)
    best_i, best_gain = len(levels) - 1, float("-inf")
    for i, t in enumerate(levels):
        admitted = p >= t
        if float(credit[admitted & (credit > 0)].sum()) < capture * positive - 1e-12:
            continue
        gain = float(credit[admitted].sum())
        if gain > best_gain + 1e-12:
            best_i, best_gain = i, gain
    below = levels[best_i + 1] if best_i + 1 < len(levels) else 0.0
    return float(min((levels[best_i] + below) / 2, 0.99))  # never above the chosen level's midpoint


def train(
    bank: MemoryBank,
    *,
    penalty: float = 0.001,
    token_seconds: float = 0.001,
    usd_seconds: float = 100.0,
    l2: float = 0.01,
    min_decisions: int = 20,
    save: bool = True,
) -> TrainReport:
    """Fit an admission model on the bank's decision and read logs and store it, versioned, in
    the bank's ``models`` table. Raises ``ConfigError`` when there are too few decisions."""
    rows = credits(bank, penalty=penalty, token_seconds=token_seconds, usd_seconds=usd_seconds)
    if len(rows) < min_decisions:
        raise ConfigError(
            f"{bank.path}: only {len(rows)} admission decisions logged (need {min_decisions}); run teams with "
            "memory on (AdmitAll or HeuristicAdmission) first, then train"
        )
    x = np.vstack([feature_vector(r.features) for r in rows])
    y = np.array([1.0 if r.credit > 0 else 0.0 for r in rows])
    credit = np.array([r.credit for r in rows])
    weights, bias = fit_logistic(x, y, l2=l2)
    p = _sigmoid(x @ weights + bias)
    threshold = _best_threshold(p, credit)
    admit = p >= threshold
    positive_credit = float(credit[credit > 0].sum())
    metrics: dict[str, Any] = {
        "n_decisions": len(rows),
        "n_positive": int(y.sum()),
        "accuracy": round(float(((p >= threshold) == (y == 1)).mean()), 4),
        "auc": round(_auc(p, y), 4) if 0 < y.sum() < len(y) else None,
        "admit_fraction": round(float(admit.mean()), 4),
        "credit_captured": round(float(credit[admit & (credit > 0)].sum()) / positive_credit, 4) if positive_credit else 0.0,
        "penalty": penalty,
        "trained_at": time.time(),
    }
    if y.sum() == 0 or y.sum() == len(y):
        metrics["warning"] = "every decision has the same label; the model can only repeat it"
    model = AdmissionModel(weights=weights, bias=bias, threshold=threshold, features=FEATURE_NAMES, metrics=metrics, penalty=penalty)
    version = bank.save_model(model) if save else None
    return TrainReport(
        version=version,
        n_decisions=len(rows),
        n_positive=int(y.sum()),
        threshold=threshold,
        weights={n: round(float(w), 4) for n, w in zip(FEATURE_NAMES, weights, strict=True)},
        bias=round(bias, 4),
        metrics=metrics,
        model=model,
    )

"""``ConsensusVerifier``: majority agreement as a verifier. Answers are normalised and
clustered; an optional judge model (purpose ``equivalence``) merges differently worded
clusters and places candidates that only have a partial trace."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentloom import tracing
from agentloom.agents.candidates import Candidate, Verdict
from agentloom.agents.verifiers._base import VerifierBase
from agentloom.agents.verifiers._calls import ask_judge, resolve
from agentloom.agents.verifiers.schemas import EquivalenceJudgment
from agentloom.answers import answer_key

__all__ = ["Cluster", "Consensus", "ConsensusVerifier"]


@dataclass
class Cluster:
    """Equivalent answers: their normalised key, a representative answer and the members."""

    key: str
    answer: str
    members: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.members)


@dataclass
class Consensus:
    """Clusters of equivalent answers, largest first; ``agreement`` is the majority's share of
    the candidates that had an answer; ``tie`` when two clusters share the top size."""

    clusters: list[Cluster]
    majority: str | None
    agreement: float
    answered: int
    tie: bool = False
    judge_merges: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def cluster_of(self, candidate_id: str) -> Cluster | None:
        for cluster in self.clusters:
            if candidate_id in cluster.members:
                return cluster
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "majority": self.majority,
            "agreement": round(self.agreement, 6),
            "answered": self.answered,
            "tie": self.tie,
            "clusters": [{"key": c.key, "answer": c.answer, "size": c.size, "members": c.members} for c in self.clusters],
            "judge_merges": [list(m) for m in self.judge_merges],
            "errors": self.errors,
        }


class ConsensusVerifier(VerifierBase):
    """Majority agreement as a verifier. Answers are normalised (numbers in any notation, case,
    whitespace, punctuation, units where given) and clustered; with a ``judge`` model (purpose
    ``equivalence``) differently worded clusters may be merged and candidates that only have a
    partial ``trace`` are assigned to the cluster the judge predicts they will reach.

    A candidate's score is its cluster's share; it passes when it is in the majority cluster
    and that share reaches ``min_agreement``. Tied top clusters are unverified (no majority).
    """

    batch_only = True

    def __init__(
        self,
        *,
        judge: Any = None,
        units: bool = True,
        key: Callable[[str], str] | None = None,
        min_agreement: float = 0.0,
        max_judge_pairs: int = 12,
        name: str = "consensus",
    ) -> None:
        self.judge = resolve(judge) if judge is not None else None
        self.units = units
        self.key = key
        self.min_agreement = min_agreement
        self.max_judge_pairs = max_judge_pairs
        self.name = name

    def answer_key(self, candidate: Candidate) -> str | None:
        """The normalised answer of ``candidate``; None when it has no answer yet."""
        text = candidate.final_answer()
        if not text.strip():
            return None
        return self.key(text) if self.key else answer_key(text, units=self.units)

    async def predict_equivalent(self, a: Candidate, b: Candidate, *, question: str | None = None) -> bool | None:
        """Ask the judge whether ``a`` and ``b`` (answers or partial traces) reach the same
        answer; None without a judge or when it fails."""
        if self.judge is None:
            return None
        payload = {
            "task": "equivalence",
            "question": question,
            "a": {"id": a.id, "answer": a.final_answer(), "trace": a.trace[-8:]},
            "b": {"id": b.id, "answer": b.final_answer(), "trace": b.trace[-8:]},
        }
        system = (
            "Decide whether two answers (or partial reasoning traces) to the same question reach the same "
            "final answer, allowing different wording, notation and units. Reply with JSON only."
        )
        out = await ask_judge(
            self.judge, system, payload, EquivalenceJudgment, purpose="equivalence", question=question, node=self.name
        )
        return None if out is None else out.equivalent

    async def cluster(self, candidates: Sequence[Candidate], *, question: str | None = None) -> Consensus:
        """Cluster the candidates' answers and find the majority."""
        clusters: dict[str, Cluster] = {}
        pending: list[Candidate] = []
        for c in candidates:
            key = self.answer_key(c)
            if key is None:
                if c.trace:
                    pending.append(c)
                continue
            clusters.setdefault(key, Cluster(key, c.final_answer().strip())).members.append(c.id)
        by_id = {c.id: c for c in candidates}
        merges: list[tuple[str, str]] = []
        errors: list[str] = []
        ordered = sorted(clusters.values(), key=lambda cl: -cl.size)
        if self.judge is not None and len(ordered) > 1:
            ordered, merges = await self._judge_merge(ordered, by_id, question)
        if self.judge is not None and pending and ordered:
            for c in pending:
                for cl in ordered:
                    same = await self.predict_equivalent(c, by_id[cl.members[0]], question=question)
                    if same:
                        cl.members.append(c.id)
                        break
        elif pending:
            errors.append(f"{len(pending)} candidate(s) had only a partial trace and no judge to place them")
        ordered.sort(key=lambda cl: -cl.size)  # stable: ties keep first-seen order
        answered = sum(cl.size for cl in ordered)
        top = ordered[0] if ordered else None
        tie = len(ordered) > 1 and ordered[1].size == ordered[0].size
        return Consensus(
            clusters=ordered,
            majority=None if top is None or tie else top.answer,
            agreement=(top.size / answered) if top and answered else 0.0,
            answered=answered,
            tie=tie,
            judge_merges=merges,
            errors=errors,
        )

    async def _judge_merge(
        self, ordered: list[Cluster], by_id: dict[str, Candidate], question: str | None
    ) -> tuple[list[Cluster], list[tuple[str, str]]]:
        parent = list(range(len(ordered)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        pairs = []
        for i in range(len(ordered)):
            for j in range(i + 1, len(ordered)):
                a, b = ordered[i].key, ordered[j].key
                if a.startswith("num:") and b.startswith("num:") and a.split(":")[1] == b.split(":")[1]:
                    continue  # two different numbers in the same unit are never equivalent
                pairs.append((i, j))
        pairs = pairs[: self.max_judge_pairs]
        results = await asyncio.gather(
            *(
                self.predict_equivalent(by_id[ordered[i].members[0]], by_id[ordered[j].members[0]], question=question)
                for i, j in pairs
            )
        )
        merges = []
        for (i, j), same in zip(pairs, results, strict=True):
            if same and find(i) != find(j):
                parent[find(j)] = find(i)
                merges.append((ordered[j].key, ordered[i].key))
        merged: dict[int, Cluster] = {}
        for i, cl in enumerate(ordered):
            root = find(i)
            if root not in merged:
                merged[root] = Cluster(ordered[root].key, ordered[root].answer, [])
            merged[root].members.extend(cl.members)
        return list(merged.values()), merges

    async def _verify(self, candidates: list[Candidate], question: str | None) -> list[Verdict]:
        consensus = await self.cluster(candidates, question=question)
        top = consensus.clusters[0] if consensus.clusters else None
        verdicts = []
        for c in candidates:
            cl = consensus.cluster_of(c.id)
            meta = {"agreement": consensus.agreement, "majority": consensus.majority, "tie": consensus.tie}
            if cl is None:
                verdicts.append(Verdict(c.id, 0.0, None, feedback="no answer to compare", meta=meta))
                continue
            share = cl.size / consensus.answered
            meta |= {"cluster": cl.key, "cluster_size": cl.size}
            if consensus.tie and top is not None and cl.size == top.size:
                verdicts.append(
                    Verdict(c.id, share, None, feedback=f"tied: {cl.size} of {consensus.answered} give this answer; no majority", meta=meta)
                )
            elif cl is top:
                passed = share >= self.min_agreement
                note = f"in the majority: {cl.size} of {consensus.answered} candidates agree"
                if not passed:
                    note += f" (below the required agreement {self.min_agreement:g})"
                verdicts.append(Verdict(c.id, share, passed, feedback=note, meta=meta))
            else:
                majority = consensus.majority or (top.answer if top else "")
                verdicts.append(
                    Verdict(
                        c.id,
                        share,
                        False,
                        feedback=f"minority answer ({cl.size} of {consensus.answered}); the majority answer is {majority!r}",
                        meta=meta,
                    )
                )
        tracing.emit("consensus", self.name, data=consensus.to_dict())
        return verdicts

"""Verifier and crossover nodes: build verifiers, selection policies and crossovers from
their specs, and judge, select or combine the candidates a node is fed."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any

from agentloom.errors import ConfigError, VerifierError
from agentloom.graph._interp import render
from agentloom.graph._nodes._common import Output, as_int, node_question
from agentloom.graph._resources import Resources
from agentloom.graph._state import candidate_state, candidates_from
from agentloom.graph.spec import (
    CitationVerifierSpec,
    ConsensusVerifierSpec,
    CrossoverNode,
    DistillRefineSpec,
    FieldCrossoverSpec,
    FunctionVerifierSpec,
    JudgeVerifierSpec,
    MergeCrossoverSpec,
    SelectSpec,
    VerifierNode,
)

__all__ = ["CombinedVerifier", "build_crossover", "build_verifier", "run_crossover", "run_verifier", "selection_policy"]


def build_verifier(v: Any, res: Resources) -> Any:
    """The verifier object for a verifier spec."""
    from agentloom.agents import verifiers as V

    def some(**kwargs: Any) -> dict[str, Any]:
        return {k: val for k, val in kwargs.items() if val is not None}

    if isinstance(v, JudgeVerifierSpec):
        return V.JudgeVerifier(
            res.model(v.model),
            v.rubric if v.rubric is not None else V.DEFAULT_RUBRIC,
            mode=v.mode,
            pairing=v.pairing,
            both_orders=v.both_orders,
            **some(threshold=v.threshold, max_concurrency=v.max_concurrency, max_tokens=v.max_tokens),
        )
    if isinstance(v, FunctionVerifierSpec):
        return V.FunctionVerifier(
            res.refs[v.fn], timeout=v.timeout, in_thread=v.in_thread,
            **some(threshold=v.threshold, max_concurrency=v.max_concurrency),
        )
    if isinstance(v, ConsensusVerifierSpec):
        return V.ConsensusVerifier(
            judge=res.model(v.judge) if v.judge else None,
            units=v.units,
            key=res.refs.get(v.key) if v.key else None,
            min_agreement=v.min_agreement,
            max_judge_pairs=v.max_judge_pairs,
        )
    if isinstance(v, CitationVerifierSpec):
        return V.CitationVerifier(
            res.model(v.model) if v.model else None,
            require_citations=v.require_citations,
            **some(threshold=v.threshold, max_concurrency=v.max_concurrency),
        )
    raise ConfigError(f"unknown verifier {v!r}")


class CombinedVerifier:
    """Several verifiers as one: a candidate's score is the mean of its verified scores; it
    passes only when every verifier that could judge it passed it (None when none could)."""

    def __init__(self, verifiers: list[Any], name: str) -> None:
        self.verifiers = verifiers
        self.name = name

    async def verify(self, candidates: Any, *, question: str | None = None) -> list[Any]:
        return _fail_ungrounded(candidates, await self._verify(candidates, question=question))

    async def _verify(self, candidates: Any, *, question: str | None = None) -> list[Any]:
        from agentloom.agents.candidates import Verdict

        if len(self.verifiers) == 1:
            return list(await self.verifiers[0].verify(candidates, question=question))
        results = await asyncio.gather(*(v.verify(candidates, question=question) for v in self.verifiers))
        combined = []
        for i, candidate in enumerate(candidates):
            own = [r[i] for r in results if i < len(r)]
            judged = [v for v in own if v.passed is not None]
            score = sum(v.score for v in judged) / len(judged) if judged else 0.0
            passed: bool | None = None
            if judged:
                passed = all(v.passed for v in judged)
            fields: dict[str, list[float]] = {}
            for v in own:
                for key, value in v.field_scores.items():
                    fields.setdefault(key, []).append(value)
            combined.append(
                Verdict(
                    candidate.id,
                    score,
                    passed,
                    feedback="\n".join(f"{v.verifier}: {v.feedback}" for v in own if v.feedback),
                    error="; ".join(v.error for v in own if v.error) or None,
                    verifier="+".join(v.verifier for v in own),
                    field_scores={k: sum(vals) / len(vals) for k, vals in fields.items()},
                    meta={v.verifier or str(j): {"score": v.score, "passed": v.passed} for j, v in enumerate(own)},
                )
            )
        return combined


def _fail_ungrounded(candidates: Any, verdicts: list[Any]) -> list[Any]:
    """An answer its agent marked ungrounded (it cites nothing the run looked up) fails and scores
    0, whatever the verifiers thought of its text: so it is never ranked above a grounded answer,
    and a planner never reads it as a confident branch (its text score stays in ``meta``)."""
    out = []
    for candidate, verdict in zip(candidates, verdicts, strict=False):
        if getattr(candidate, "meta", {}).get("grounded") is False and (verdict.passed is not False or verdict.score):
            note = "ungrounded: the answer cites nothing the run looked up"
            verdict = dataclasses.replace(verdict, passed=False, score=0.0, feedback=f"{verdict.feedback}\n{note}".strip(),
                                          meta={**verdict.meta, "text_score": verdict.score})
        out.append(verdict)
    return out + list(verdicts[len(out):])


def selection_policy(select: SelectSpec | None, n_candidates: int) -> Any:
    from agentloom.agents import selection as S

    if select is None:
        return S.top_k(max(1, n_candidates))
    if select.policy == "top_k":
        return S.top_k(select.k or 3)
    if select.policy == "threshold":
        return S.threshold(select.threshold if select.threshold is not None else 0.5)
    if select.policy == "quorum":
        return S.quorum(select.k or 2)
    if select.policy == "best_of_n":
        return S.best_of_n(select.n or max(1, n_candidates))
    return S.first_finish(min_score=select.threshold)


async def run_verifier(n: VerifierNode, name: str, scope: Mapping[str, Any], res: Resources, partial: bool) -> Output:
    from agentloom.agents.selection import select

    source = n.candidates.strip("{} ")
    candidates, _ = candidates_from(render("{" + source + "}", scope), source.split(".")[0])
    if not candidates and partial:  # the budget ran out before any branch produced something
        return {"candidates": [], "verdicts": [], "selected": [], "best": None, "text": "", "passed": None, "score": 0.0,
                "pass_rate": None, "agreement": 0.0, "majority": None, "policy": "none", "satisfied": False}, True
    if not candidates:
        raise VerifierError(f"verifier node '{name}' received no candidates from '{source}'; check the nodes feeding it")
    question = node_question(n.question, scope, name, required=False)
    verifier = CombinedVerifier([build_verifier(v, res) for v in n.verifiers], name)
    chosen = await select(candidates, verifier, selection_policy(n.select, len(candidates)), question=question, name=name)
    verdicts = {v.candidate_id: v for v in chosen.verdicts}
    best = chosen.best
    best_verdict = verdicts.get(best.id) if best is not None else None
    judged = [v for v in chosen.verdicts if v.passed is not None]
    return (
        {
            "candidates": [candidate_state(c) for c in chosen.candidates],
            "verdicts": [v.to_dict() for v in chosen.verdicts],
            "selected": [candidate_state(c) for c in chosen.chosen],
            "best": candidate_state(best) if best is not None else None,
            "text": best.content if best is not None else "",
            "passed": best_verdict.passed if best_verdict is not None else None,
            "score": round(best_verdict.score, 6) if best_verdict is not None else 0.0,
            "pass_rate": round(sum(1 for v in judged if v.passed) / len(judged), 6) if judged else None,
            "agreement": round(chosen.agreement, 6),
            "majority": chosen.majority,
            "policy": chosen.policy,
            "satisfied": chosen.satisfied,
        },
        chosen.budget_limited,
    )


# --------------------------------------------------------------------------- crossover
def build_crossover(c: Any, res: Resources) -> Any:
    """The crossover object for a crossover spec."""
    from agentloom.agents import crossover as X

    if isinstance(c, MergeCrossoverSpec):
        return X.MergeCrossover(res.model(c.model), as_int(c.k, "k"), max_tokens=as_int(c.max_tokens, "max_tokens"))
    if isinstance(c, DistillRefineSpec):
        return X.DistillRefine(
            res.model(c.model),
            workspace_tokens=c.workspace_tokens,
            k=as_int(c.k, "k") if c.k is not None else None,
            max_tokens=as_int(c.max_tokens, "max_tokens"),
        )
    if isinstance(c, FieldCrossoverSpec):
        return X.FieldCrossover(res.refs.get(c.output_type) if c.output_type else None)
    raise ConfigError(f"unknown crossover {c!r}")


async def run_crossover(n: CrossoverNode, name: str, scope: Mapping[str, Any], res: Resources, partial: bool) -> Output:
    source = n.candidates.strip("{} ")
    candidates, verdicts = candidates_from(render("{" + source + "}", scope), source.split(".")[0])
    if not candidates and partial:
        return None, True
    if not candidates:
        raise VerifierError(f"crossover node '{name}' received no candidates from '{source}'; check the nodes feeding it")
    question = node_question(n.question, scope, name, required=False)
    crossover = build_crossover(n.crossover, res)
    crossover.name = name
    child = await crossover.combine(candidates, verdicts or None, question=question)
    return candidate_state(child), False

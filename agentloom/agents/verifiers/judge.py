"""``JudgeVerifier``: a model (purpose ``verify``) scores candidates, pointwise against a
rubric or by pairwise comparison (round robin or single-elimination tournament)."""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Literal

from pydantic import BaseModel

from agentloom.agents._verify_text import payload_request
from agentloom.agents.candidates import Candidate, Verdict
from agentloom.agents.verifiers._base import VerifierBase
from agentloom.agents.verifiers._calls import (
    bounded,
    candidate_passages,
    candidate_payload,
    passage_payload,
    resolve,
)
from agentloom.agents.verifiers.schemas import JudgeScore, PairwiseJudgment
from agentloom.errors import ConfigError, ModelError, ModelOutputError
from agentloom.models.base import call_model
from agentloom.models.types import Model, ModelRequest

__all__ = ["DEFAULT_RUBRIC", "JudgeVerifier"]

DEFAULT_RUBRIC = (
    "The answer addresses the question fully and correctly; every claim is supported by the "
    "passage it cites; nothing is invented."
)


class JudgeVerifier(VerifierBase):
    """An LLM judge (purpose ``verify``, structured output).

    ``mode="pointwise"`` scores each candidate on its own against ``rubric``;
    ``mode="pairwise"`` compares candidates two at a time (``pairing="round_robin"``: every
    pair, score = share of games won; ``"tournament"``: single elimination, score = share of
    rounds won) and turns wins into scores. A candidate passes when the judge says so and its
    score reaches ``threshold``. Malformed judge output is repaired once by the model; if it
    is still malformed the candidate is unverified (``passed=None``), never passing.
    """

    def __init__(
        self,
        model: str | Model | None = None,
        rubric: str = DEFAULT_RUBRIC,
        *,
        mode: Literal["pointwise", "pairwise"] = "pointwise",
        threshold: float = 0.5,
        pairing: Literal["round_robin", "tournament"] = "round_robin",
        both_orders: bool = False,
        max_concurrency: int = 8,
        max_tokens: int = 800,
        name: str = "judge",
    ) -> None:
        if mode not in ("pointwise", "pairwise"):
            raise ConfigError(f"JudgeVerifier mode={mode!r} is unknown; use 'pointwise' or 'pairwise'")
        if pairing not in ("round_robin", "tournament"):
            raise ConfigError(f"JudgeVerifier pairing={pairing!r} is unknown; use 'round_robin' or 'tournament'")
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"JudgeVerifier threshold={threshold} must be between 0 and 1")
        self.model = resolve(model)
        self.rubric = rubric
        self.mode = mode
        self.threshold = threshold
        self.pairing = pairing
        self.both_orders = both_orders
        self.max_concurrency = max_concurrency
        self.max_tokens = max_tokens
        self.name = name

    def _request(self, payload: dict[str, Any], output_type: type[BaseModel], instruction: str, question: str | None) -> ModelRequest:
        system = (
            "You are a strict verifier. Judge only what the input shows; do not reward length or style. "
            f"Rubric: {self.rubric} Reply with a JSON object matching the schema, nothing else."
        )
        return payload_request(
            system,
            payload,
            output_type=output_type,
            instruction=instruction,
            purpose="verify",
            max_tokens=self.max_tokens,
            metadata={"question": question, "node": self.name, "rubric": self.rubric},
        )

    async def _verify(self, candidates: list[Candidate], question: str | None) -> list[Verdict]:
        if self.mode == "pointwise" or len(candidates) == 1:
            return await bounded(self.max_concurrency, [partial(self._pointwise, c, question) for c in candidates])
        if self.pairing == "tournament":
            return await self._tournament(candidates, question)
        return await self._round_robin(candidates, question)

    async def _pointwise(self, candidate: Candidate, question: str | None) -> Verdict:
        payload = {
            "task": "score",
            "question": question,
            "threshold": self.threshold,
            "candidate": candidate_payload(candidate),
            "passages": passage_payload(candidate_passages(candidate)),
        }
        instruction = (
            "Score the candidate answer from 0 to 1 against the rubric, say whether it passes, and give "
            "feedback listing each problem on its own line. For a structured answer, also score each field."
        )
        request = self._request(payload, JudgeScore, instruction, question)
        try:
            completion = await call_model(self.model, request)
        except ModelOutputError as exc:
            return Verdict(candidate.id, 0.0, None, feedback="the judge's output stayed malformed after one repair", error=str(exc))
        except ModelError as exc:
            return Verdict(candidate.id, 0.0, None, feedback="the judge could not be reached", error=str(exc))
        out = completion.parsed
        assert isinstance(out, JudgeScore)
        passed = bool(out.passed) and out.score >= self.threshold
        return Verdict(candidate.id, out.score, passed, feedback=out.feedback, field_scores=dict(out.field_scores))

    async def _compare(self, a: Candidate, b: Candidate, question: str | None) -> PairwiseJudgment | str:
        """The judge's verdict on A (``a``) vs B (``b``), or the error text."""
        passages = {p.id: p for p in [*candidate_passages(a), *candidate_passages(b)]}
        payload = {
            "task": "compare",
            "question": question,
            "A": candidate_payload(a),
            "B": candidate_payload(b),
            "passages": passage_payload(list(passages.values())),
        }
        instruction = "Which candidate, A or B, better meets the rubric? Answer 'tie' only if they are equally good."
        try:
            completion = await call_model(self.model, self._request(payload, PairwiseJudgment, instruction, question))
        except ModelError as exc:
            return str(exc)
        out = completion.parsed
        assert isinstance(out, PairwiseJudgment)
        return out

    async def _round_robin(self, candidates: list[Candidate], question: str | None) -> list[Verdict]:
        n = len(candidates)
        games = [(i, j) for i in range(n) for j in range(i + 1, n)]
        if self.both_orders:
            games += [(j, i) for i, j in games]
        results = await bounded(
            self.max_concurrency, [partial(self._compare, candidates[i], candidates[j], question) for i, j in games]
        )
        wins, played = [0.0] * n, [0] * n
        notes: list[list[str]] = [[] for _ in range(n)]
        errors: list[list[str]] = [[] for _ in range(n)]
        for (i, j), out in zip(games, results, strict=True):
            if isinstance(out, str):
                errors[i].append(out)
                errors[j].append(out)
                continue
            played[i] += 1
            played[j] += 1
            if out.winner == "tie":
                wins[i] += 0.5
                wins[j] += 0.5
            else:
                winner, loser = (i, j) if out.winner == "A" else (j, i)
                wins[winner] += 1
                if out.feedback:
                    notes[loser].append(f"lost to {candidates[winner].id}: {out.feedback}")
        return [self._pair_verdict(c, wins[k], played[k], notes[k], errors[k]) for k, c in enumerate(candidates)]

    async def _tournament(self, candidates: list[Candidate], question: str | None) -> list[Verdict]:
        n = len(candidates)
        rounds = math.ceil(math.log2(n))
        won = [0] * n
        notes: list[list[str]] = [[] for _ in range(n)]
        errors: list[list[str]] = [[] for _ in range(n)]
        alive = list(range(n))
        while len(alive) > 1:
            pairs = [(alive[k], alive[k + 1]) for k in range(0, len(alive) - 1, 2)]
            results = await bounded(
                self.max_concurrency, [partial(self._compare, candidates[i], candidates[j], question) for i, j in pairs]
            )
            nxt: list[int] = []
            for (i, j), out in zip(pairs, results, strict=True):
                if isinstance(out, str):
                    errors[i].append(out)
                    errors[j].append(out)
                    notes[i].append(f"advanced by default: the judge failed on {candidates[j].id}")
                    nxt.append(i)
                    continue
                winner, loser = (j, i) if out.winner == "B" else (i, j)
                if out.winner == "tie":
                    notes[i].append(f"tied with {candidates[j].id}; advanced by seeding")
                elif out.feedback:
                    notes[loser].append(f"lost to {candidates[winner].id}: {out.feedback}")
                won[winner] += 1
                nxt.append(winner)
            if len(alive) % 2:
                won[alive[-1]] += 1  # a bye counts as a round won
                nxt.append(alive[-1])
            alive = nxt
        verdicts = []
        for k, c in enumerate(candidates):
            judged = not errors[k] or won[k] > 0
            verdicts.append(self._pair_verdict(c, float(won[k]), rounds if judged else 0, notes[k], errors[k]))
        return verdicts

    def _pair_verdict(self, c: Candidate, wins: float, played: int, notes: list[str], errors: list[str]) -> Verdict:
        if played == 0:
            return Verdict(
                c.id,
                0.0,
                None,
                feedback="no comparison of this candidate could be judged",
                error="; ".join(errors) or "no comparisons",
                meta={"mode": "pairwise"},
            )
        score = wins / played
        meta = {"mode": "pairwise", "pairing": self.pairing, "wins": wins, "games": played}
        return Verdict(
            c.id,
            score,
            score >= self.threshold,
            feedback="\n".join(notes),
            error="; ".join(errors) if errors else None,
            meta=meta,
        )

"""Verifiers: judge a list of candidates and return one ``Verdict`` each.

``JudgeVerifier`` asks a model (purpose ``verify``) for a structured score, pointwise or by
pairwise comparison; ``FunctionVerifier`` runs user code or a test suite; ``ConsensusVerifier``
clusters normalised answers (optionally asking a model whether two answers are equivalent);
``CitationVerifier`` checks that every cited claim is supported by the passage it cites.
Every verdict is recorded as a ``verdict`` event. An unverifiable candidate gets
``passed=None`` and is never counted as passing.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from agentloom import tracing
from agentloom.agents._answer_norm import answer_key
from agentloom.agents._verify_text import claim_support, render_payload, split_sentences, strip_markers
from agentloom.agents.candidates import Candidate, Verdict
from agentloom.citations import Citation, cited_ids
from agentloom.errors import BudgetExceeded, ConfigError, ModelError, ModelOutputError, VerifierError
from agentloom.models.base import call_model
from agentloom.models.types import Message, ModelRequest

__all__ = [
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

DEFAULT_RUBRIC = (
    "The answer addresses the question fully and correctly; every claim is supported by the "
    "passage it cites; nothing is invented."
)


# --------------------------------------------------------------------------- judge schemas
class JudgeScore(BaseModel):
    """A pointwise judgement of one candidate."""

    score: float = Field(ge=0.0, le=1.0, description="overall quality from 0 (wrong) to 1 (fully correct)")
    passed: bool = Field(description="whether the candidate meets the rubric")
    feedback: str = Field("", description="what is wrong or missing, one issue per line")
    field_scores: dict[str, float] = Field(
        default_factory=dict, description="for structured answers: a 0..1 score per field"
    )


class PairwiseJudgment(BaseModel):
    """Which of two candidates (A or B) better meets the rubric."""

    winner: Literal["A", "B", "tie"]
    confidence: float = Field(0.5, ge=0.0, le=1.0)
    feedback: str = Field("", description="why the loser lost")


class EquivalenceJudgment(BaseModel):
    """Whether two (possibly partial) answers reach the same final answer."""

    equivalent: bool
    confidence: float = Field(0.5, ge=0.0, le=1.0)
    reason: str = ""


class EntailmentJudgment(BaseModel):
    """Whether the cited passages entail a claim."""

    entailed: bool
    confidence: float = Field(0.5, ge=0.0, le=1.0)
    reason: str = ""


# --------------------------------------------------------------------------- protocol and base
@runtime_checkable
class Verifier(Protocol):
    """Anything that judges candidates: one verdict per candidate, in order."""

    name: str

    async def verify(self, candidates: Sequence[Candidate], *, question: str | None = None) -> list[Verdict]: ...


def record_verdict(verdict: Verdict, node: str) -> None:
    """Write ``verdict`` to the run as a ``verdict`` event of node ``node``."""
    status = "error" if verdict.error else "ok" if verdict.passed else "unverified" if verdict.passed is None else "failed"
    data = verdict.to_dict()
    data["feedback"] = data["feedback"][:1000]
    data["node"] = node
    tracing.emit("verdict", node, status=status, data=data, error=verdict.error)


class VerifierBase:
    """Shared behaviour: refuse an empty candidate list (naming the node), label and record
    every verdict. Subclasses implement ``_verify``. ``batch_only`` verifiers judge candidates
    relative to each other (consensus), so streaming selection re-runs them on the whole pool."""

    name: str = "verifier"
    batch_only: bool = False

    async def verify(self, candidates: Sequence[Candidate], *, question: str | None = None) -> list[Verdict]:
        """One verdict per candidate, in the candidates' order."""
        items = list(candidates)
        if not items:
            raise VerifierError(
                f"verifier node '{self.name}' ({type(self).__name__}) received no candidates; "
                "check that the branches feeding it produced output"
            )
        verdicts = await self._verify(items, question)
        for verdict in verdicts:
            verdict.verifier = verdict.verifier or self.name
            record_verdict(verdict, self.name)
        return verdicts

    async def _verify(self, candidates: list[Candidate], question: str | None) -> list[Verdict]:
        raise NotImplementedError

    async def __call__(self, candidates: Sequence[Candidate], *, question: str | None = None) -> list[Verdict]:
        return await self.verify(candidates, question=question)


def _resolve(model: Any) -> Any:
    from agentloom.models.resolve import resolve_model

    return resolve_model(model)


def _passage_payload(passages: Sequence[Citation], limit: int = 4000) -> list[dict[str, Any]]:
    out = []
    for p in passages:
        item: dict[str, Any] = {"id": p.id, "text": p.text[:limit]}
        if p.path:
            item["path"] = p.path
        if p.url:
            item["url"] = p.url
        out.append(item)
    return out


def _candidate_passages(candidate: Candidate) -> list[Citation]:
    """The cited passages, or every carried passage when the candidate cites none."""
    cited = candidate.cited_passages()
    return cited if cited else list(candidate.passages.values())[:12]


def _candidate_payload(candidate: Candidate) -> dict[str, Any]:
    data = candidate.output_dict()
    return {
        "id": candidate.id,
        "text": candidate.content,
        "fields": sorted(data) if data else None,
        "output": data,
    }


async def _bounded(limit: int, jobs: Sequence[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run ``jobs`` with at most ``limit`` at once; results in order."""
    gate = asyncio.Semaphore(max(1, limit))

    async def run(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(run(job) for job in jobs)))


# --------------------------------------------------------------------------- JudgeVerifier
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
        model: Any = None,
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
        self.model = _resolve(model)
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
        return ModelRequest(
            messages=[Message.system(system), Message.user(f"{instruction}\n\n{render_payload(payload)}")],
            output_type=output_type,
            temperature=0.0,
            max_tokens=self.max_tokens,
            purpose="verify",
            metadata={"question": question, "node": self.name, "rubric": self.rubric},
        )

    async def _verify(self, candidates: list[Candidate], question: str | None) -> list[Verdict]:
        if self.mode == "pointwise" or len(candidates) == 1:
            return await _bounded(self.max_concurrency, [partial(self._pointwise, c, question) for c in candidates])
        if self.pairing == "tournament":
            return await self._tournament(candidates, question)
        return await self._round_robin(candidates, question)

    async def _pointwise(self, candidate: Candidate, question: str | None) -> Verdict:
        payload = {
            "task": "score",
            "question": question,
            "threshold": self.threshold,
            "candidate": _candidate_payload(candidate),
            "passages": _passage_payload(_candidate_passages(candidate)),
        }
        instruction = (
            "Score the candidate answer from 0 to 1 against the rubric, say whether it passes, and give "
            "feedback listing each problem on its own line. For a structured answer, also score each field."
        )
        request = self._request(payload, JudgeScore, instruction, question)
        try:
            completion = await call_model(self.model, request)
        except BudgetExceeded:
            raise
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
        passages = {p.id: p for p in [*_candidate_passages(a), *_candidate_passages(b)]}
        payload = {
            "task": "compare",
            "question": question,
            "A": _candidate_payload(a),
            "B": _candidate_payload(b),
            "passages": _passage_payload(list(passages.values())),
        }
        instruction = "Which candidate, A or B, better meets the rubric? Answer 'tie' only if they are equally good."
        try:
            completion = await call_model(self.model, self._request(payload, PairwiseJudgment, instruction, question))
        except BudgetExceeded:
            raise
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
        results = await _bounded(
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
            results = await _bounded(
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


# --------------------------------------------------------------------------- FunctionVerifier
def _question_mode(fn: Callable[..., Any]) -> str:
    """How ``fn`` takes the question: ``"keyword"``, ``"positional"`` (second argument) or ``"none"``."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return "none"
    for p in params:
        if p.name == "question":
            return "keyword" if p.kind == p.KEYWORD_ONLY else "positional"
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params):
        return "positional"
    return "none"


class FunctionVerifier(VerifierBase):
    """A user function or test suite as a verifier: ``fn(candidate)`` or
    ``fn(candidate, question)``, sync or async, returning a bool, a 0..1 float, a
    ``(score_or_bool, feedback)`` pair, a dict of Verdict fields, or a ``Verdict``.

    A function that raises gives that candidate a failed verdict with the error recorded; the
    other candidates are still verified. Sync functions run in a worker thread unless
    ``in_thread=False``; ``timeout`` (seconds) fails a candidate whose check takes too long.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        threshold: float = 0.5,
        name: str | None = None,
        max_concurrency: int = 8,
        timeout: float | None = None,
        in_thread: bool = True,
    ) -> None:
        if not callable(fn):
            raise ConfigError(f"FunctionVerifier needs a callable, not {type(fn).__name__}")
        self.fn = fn
        self.threshold = threshold
        self.name = name or getattr(fn, "__name__", "function") or "function"
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.in_thread = in_thread
        self._question_mode = _question_mode(fn)

    async def _call(self, candidate: Candidate, question: str | None) -> Any:
        args: tuple[Any, ...] = (candidate, question) if self._question_mode == "positional" else (candidate,)
        kwargs: dict[str, Any] = {"question": question} if self._question_mode == "keyword" else {}
        if inspect.iscoroutinefunction(self.fn):
            return await self.fn(*args, **kwargs)
        if self.in_thread:
            result = await asyncio.to_thread(self.fn, *args, **kwargs)
        else:
            result = self.fn(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _one(self, candidate: Candidate, question: str | None) -> Verdict:
        try:
            if self.timeout is not None:
                result = await asyncio.wait_for(self._call(candidate, question), self.timeout)
            else:
                result = await self._call(candidate, question)
        except BudgetExceeded:
            raise
        except TimeoutError:
            return Verdict(candidate.id, 0.0, False, feedback=f"verifier timed out after {self.timeout:g}s", error="timeout")
        except Exception as exc:  # a broken check fails this candidate, not the run
            error = f"{type(exc).__name__}: {exc}"
            return Verdict(candidate.id, 0.0, False, feedback=f"verifier '{self.name}' raised {error}", error=error)
        return self._coerce(candidate, result)

    def _coerce(self, candidate: Candidate, result: Any) -> Verdict:
        feedback = ""
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], str):
            result, feedback = result
        if isinstance(result, Verdict):
            result.candidate_id = candidate.id
            return result
        if result is None:
            return Verdict(candidate.id, 0.0, None, feedback=feedback or "the verifier returned None (no judgement)")
        if isinstance(result, bool):
            return Verdict(candidate.id, 1.0 if result else 0.0, result, feedback=feedback)
        if isinstance(result, int | float):
            score = float(result)
            return Verdict(candidate.id, score, score >= self.threshold, feedback=feedback)
        if isinstance(result, Mapping):
            data = dict(result)
            passed = data.get("passed")
            raw_score = data.get("score")
            score = float(raw_score) if raw_score is not None else 1.0 if passed else 0.0
            if "passed" not in data:
                passed = score >= self.threshold
            return Verdict(
                candidate.id,
                score,
                None if passed is None else bool(passed),
                feedback=str(data.get("feedback", feedback)),
                error=data.get("error"),
                field_scores={str(k): float(v) for k, v in (data.get("field_scores") or {}).items()},
                meta=dict(data.get("meta") or {}),
            )
        error = f"returned {type(result).__name__}; expected bool, float, dict or Verdict"
        return Verdict(candidate.id, 0.0, False, feedback=f"verifier '{self.name}' {error}", error=error)

    async def _verify(self, candidates: list[Candidate], question: str | None) -> list[Verdict]:
        return await _bounded(self.max_concurrency, [partial(self._one, c, question) for c in candidates])


# --------------------------------------------------------------------------- ConsensusVerifier
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
        self.judge = _resolve(judge) if judge is not None else None
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
        request = ModelRequest(
            messages=[
                Message.system(
                    "Decide whether two answers (or partial reasoning traces) to the same question reach the same "
                    "final answer, allowing different wording, notation and units. Reply with JSON only."
                ),
                Message.user(render_payload(payload)),
            ],
            output_type=EquivalenceJudgment,
            temperature=0.0,
            max_tokens=300,
            purpose="equivalence",
            metadata={"question": question, "node": self.name},
        )
        try:
            completion = await call_model(self.judge, request)
        except BudgetExceeded:
            raise
        except ModelError:
            return None
        out = completion.parsed
        assert isinstance(out, EquivalenceJudgment)
        return out.equivalent

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


# --------------------------------------------------------------------------- CitationVerifier
@dataclass
class _Claim:
    sentence: str
    ids: list[str]


class CitationVerifier(VerifierBase):
    """Every sentence with a citation marker must be supported by the passages it cites.

    Offline (no ``model``): lexical support — the share of the claim's content words found in
    the cited passages must reach ``threshold``, every number in it must appear there, or the
    claim must appear verbatim. With a ``model``: entailment, one structured ``verify`` call per
    claim. Score = supported claims / checked claims; passes only when all are supported. A
    candidate with no cited claim is unverified, or failed when ``require_citations``.
    """

    def __init__(
        self,
        model: Any = None,
        *,
        threshold: float = 0.6,
        require_citations: bool = False,
        passages: Any = None,
        max_concurrency: int = 8,
        name: str = "citations",
    ) -> None:
        from agentloom.agents.candidates import coerce_passages

        self.model = _resolve(model) if model is not None else None
        self.threshold = threshold
        self.require_citations = require_citations
        self.passages = coerce_passages(passages)
        self.max_concurrency = max_concurrency
        self.name = name

    async def _entailed(self, claim: str, passages: list[Citation], question: str | None) -> bool | None:
        payload = {"task": "entailment", "claim": claim, "passages": _passage_payload(passages)}
        request = ModelRequest(
            messages=[
                Message.system("Decide whether the passages entail the claim. Reply with JSON only."),
                Message.user(render_payload(payload)),
            ],
            output_type=EntailmentJudgment,
            temperature=0.0,
            max_tokens=300,
            purpose="verify",
            metadata={"question": question, "node": self.name},
        )
        try:
            completion = await call_model(self.model, request)
        except BudgetExceeded:
            raise
        except ModelError:
            return None
        out = completion.parsed
        assert isinstance(out, EntailmentJudgment)
        return out.entailed

    async def _check(self, claim: _Claim, known: dict[str, Citation], question: str | None) -> tuple[bool | None, str]:
        unknown = [i for i in claim.ids if i not in known]
        if unknown:
            return False, f"cites unknown passage(s) {', '.join(unknown)}"
        cited = [known[i] for i in claim.ids]
        text = strip_markers(claim.sentence)
        if self.model is not None:
            entailed = await self._entailed(text, cited, question)
            return entailed, "" if entailed else ("not entailed" if entailed is False else "the entailment judge failed")
        support = claim_support(text, [p.text for p in cited])
        if support.supported(self.threshold):
            return True, ""
        why = f"only {support.fraction:.0%} of its content words are in the cited passage"
        if support.missing_numbers:
            why += f"; {', '.join(support.missing_numbers)} not found there"
        return False, why

    async def _one(self, candidate: Candidate, question: str | None) -> Verdict:
        known = {**self.passages, **candidate.passages}
        claims, uncited = [], []
        for sentence in split_sentences(candidate.content):
            ids = cited_ids(sentence)
            if ids:
                claims.append(_Claim(sentence, ids))
            elif len(strip_markers(sentence).split()) >= 3:
                uncited.append(sentence)
        if not claims and not (self.require_citations and uncited):
            return Verdict(candidate.id, 0.0, None, feedback="no cited claims to check", meta={"uncited": len(uncited)})
        checks = await _bounded(self.max_concurrency, [partial(self._check, c, known, question) for c in claims])
        lines, supported, unverified = [], 0, 0
        for claim, (ok, why) in zip(claims, checks, strict=True):
            if ok:
                supported += 1
            elif ok is None:
                unverified += 1
                lines.append(f"unverified: {strip_markers(claim.sentence)} ({why})")
            else:
                lines.append(f"unsupported: {strip_markers(claim.sentence)} [{', '.join(claim.ids)}] ({why})")
        total = len(claims)
        if self.require_citations:
            total += len(uncited)
            lines += [f"uncited: {strip_markers(s)}" for s in uncited]
        failed = total - supported - unverified
        passed: bool | None = None if failed == 0 and unverified else failed == 0
        meta = {"claims": len(claims), "supported": supported, "unverified": unverified, "uncited": len(uncited)}
        return Verdict(candidate.id, supported / total if total else 0.0, passed, feedback="\n".join(lines), meta=meta)

    async def _verify(self, candidates: list[Candidate], question: str | None) -> list[Verdict]:
        return [await self._one(c, question) for c in candidates]

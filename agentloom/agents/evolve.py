"""``Evolve``: generations of generate → verify → select → crossover → refine with feedback.

Each generation samples a population (varied per ``Variation``), verifies it, keeps the
selected candidates, combines them with a crossover, and seeds the next generation with the
best-so-far and its verifier feedback. It stops at a verifier threshold, on a plateau
(``patience`` generations without improvement), after ``generations``, or when the budget
runs out — then it returns the best so far, marked budget-limited.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agentloom import tracing
from agentloom.agents.candidates import Candidate, Verdict, rank_key
from agentloom.agents.crossover import Crossover, Variation
from agentloom.agents.selection import Entry, Policy, ranked, top_k
from agentloom.agents.selection.judging import as_candidate, judge, verify_into
from agentloom.agents.verifiers import FunctionVerifier
from agentloom.budget import Budget, Cost
from agentloom.errors import BudgetExceeded, ConfigError
from agentloom.result import Result, UsageSummary

__all__ = ["Evolve", "EvolveInput", "EvolveResult", "GenerationRecord"]


@dataclass
class EvolveInput:
    """What ``generate`` is asked for: the task prompt, and from the second generation on the
    parent to improve and the verifier's feedback on it. ``str()`` gives the full prompt."""

    prompt: str
    generation: int = 0
    sample: int = 0
    parent: Candidate | None = None
    feedback: str = ""
    question: str | None = None

    @property
    def text(self) -> str:
        if self.parent is None:
            return self.prompt
        parts = [self.prompt, f"Previous best answer:\n{self.parent.content}"]
        if self.feedback:
            parts.append(f"Verifier feedback on it:\n{self.feedback}")
        parts.append("Write an improved answer that fixes every issue the feedback raises.")
        return "\n\n".join(parts)

    def __str__(self) -> str:
        return self.text


@dataclass
class GenerationRecord:
    """One generation: its candidates and scores, the crossover child, and the best so far."""

    generation: int
    candidates: list[str]
    scores: list[float]
    passed: int
    child: str | None
    child_score: float | None
    best: str | None
    best_score: float
    improved: bool
    spent: dict[str, Any]
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "candidates": self.candidates,
            "scores": [round(s, 6) for s in self.scores],
            "passed": self.passed,
            "child": self.child,
            "child_score": None if self.child_score is None else round(self.child_score, 6),
            "best": self.best,
            "best_score": round(self.best_score, 6),
            "improved": self.improved,
            "spent": self.spent,
            "errors": self.errors,
        }


@dataclass
class EvolveResult:
    """The best candidate found, its verdict, the per-generation history and why it stopped
    (``threshold``, ``plateau``, ``generations`` or ``budget``)."""

    best: Candidate | None
    verdict: Verdict | None
    history: list[GenerationRecord]
    stop_reason: str
    budget_limited: bool
    spent: Cost
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def score(self) -> float:
        return self.verdict.score if self.verdict else 0.0

    @property
    def generations(self) -> int:
        return len(self.history)

    def to_result(self) -> Result:
        """As an agentloom ``Result`` (output: the best candidate's structured output or text)."""
        best = self.best
        output: Any = None
        if best is not None:
            output = best.output if best.output is not None else best.text
        usage = UsageSummary(
            usd=round(self.spent.usd, 8),
            input_tokens=self.spent.input_tokens,
            output_tokens=self.spent.output_tokens,
            llm_calls=self.spent.llm_calls,
            tool_calls=self.spent.tool_calls,
        )
        return Result(
            output=output,
            usage=usage,
            citations=best.cited_passages() if best else [],
            budget_limited=self.budget_limited,
            partial=self.budget_limited or best is None,
            stop_reason=self.stop_reason,
            meta={"score": self.score, "history": [h.to_dict() for h in self.history]},
        )


Generate = Callable[[EvolveInput, Variation], Awaitable[Any]]


class Evolve:
    """Evolve candidates over ``generations`` with a ``population`` per generation.

    ``generate(inp: EvolveInput, variation: Variation)`` is any async callable returning a
    ``Candidate`` (or text / a ``Completion``), so it can wrap a model call or an ``Agent``.
    ``verify`` is a verifier (or a plain function, wrapped in ``FunctionVerifier``);
    ``crossover`` is optional. ``select`` defaults to ``top_k`` of the crossover's ``k`` (or the
    whole pool); ``elites`` of the best carry over to the next generation's pool. Each call gets
    ``variations[i % len]`` with its seed offset by the sample number, so samples differ.
    """

    def __init__(
        self,
        generate: Generate,
        verify: Any,
        crossover: Crossover | None = None,
        generations: int = 3,
        population: int = 4,
        *,
        threshold: float = 1.0,
        patience: int = 2,
        select: Policy | None = None,
        variations: Sequence[Variation] | None = None,
        elites: int = 2,
        min_improvement: float = 1e-6,
        name: str = "evolve",
    ) -> None:
        if generations < 1 or population < 1:
            raise ConfigError(f"Evolve needs generations >= 1 and population >= 1, got {generations} and {population}")
        if patience < 1:
            raise ConfigError(f"Evolve patience={patience} must be 1 or more")
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"Evolve threshold={threshold} must be between 0 and 1")
        self.generate = generate
        self.verifier = verify if hasattr(verify, "verify") else FunctionVerifier(verify, name=f"{name}.verify")
        self.crossover = crossover
        self.generations = generations
        self.population = population
        self.threshold = threshold
        self.patience = patience
        k = getattr(crossover, "k", None)
        self.select = select or top_k(k if isinstance(k, int) else population + elites)
        self.variations = list(variations) if variations else Variation.spread(population)
        self.elites = max(1, elites)
        self.min_improvement = min_improvement
        self.name = name

    async def run(self, prompt: str, *, question: str | None = None) -> EvolveResult:
        """Evolve answers to ``prompt`` (``question`` is what verifiers judge against; default: the prompt)."""
        question = question if question is not None else prompt
        ctx = tracing.current()
        parent_budget = ctx.budget if ctx is not None else None
        meter = parent_budget.child(self.name) if parent_budget is not None else Budget(name=self.name)
        base = ctx if ctx is not None else tracing.RunContext()
        with tracing.use(base.derive(budget=meter)), tracing.span("evolve", self.name, generations=self.generations):
            result = await self._loop(prompt, question, meter)
        tracing.emit(
            "evolve_result",
            self.name,
            data={
                "stop_reason": result.stop_reason,
                "budget_limited": result.budget_limited,
                "best": result.best.id if result.best else None,
                "score": result.score,
                "generations": result.generations,
                "spent": result.spent.to_dict(),
            },
        )
        return result

    __call__ = run

    async def _sample(self, inp: EvolveInput, variation: Variation) -> Candidate:
        value = self.generate(inp, variation)
        if inspect.isawaitable(value):
            value = await value
        candidate = as_candidate(value, inp.sample)
        candidate = replace(
            candidate,
            params=candidate.params or variation.params(),
            source=candidate.source if candidate.source and not candidate.source.startswith("branch-") else variation.label(),
        )
        candidate.meta.setdefault("generation", inp.generation)
        return candidate

    async def _loop(self, prompt: str, question: str, meter: Budget) -> EvolveResult:
        best: Entry | None = None
        carried: list[Entry] = []
        history: list[GenerationRecord] = []
        everyone: list[Candidate] = []
        stale, sample = 0, 0
        stop_reason, budget_hit = "generations", False
        for generation in range(self.generations):
            if meter.exhausted:
                budget_hit, stop_reason = True, "budget"
                break
            before = Cost() + meter.spent
            population = self._population(prompt, question, generation, sample, best)
            sample += len(population)
            fresh, errors, hit, failure = await self._sample_all(population)
            budget_hit = budget_hit or hit
            if not fresh and not carried:
                if budget_hit:
                    stop_reason = "budget"
                    break
                assert failure is not None
                raise failure
            everyone.extend(fresh)
            pool = await self._verify_pool(carried, fresh, question)
            if pool is None:
                budget_hit, stop_reason = True, "budget"
                pool = carried + [(c, Verdict(c.id, 0.0, None, feedback="not verified: the budget ran out")) for c in fresh]
            child_entry: Entry | None = None
            chosen = self.select.choose(pool)
            if self.crossover is not None and len(chosen) >= 2 and not budget_hit:
                child_entry, hit = await self._cross(chosen, pool, question)
                budget_hit = budget_hit or hit
                if child_entry is not None:
                    everyone.append(child_entry[0])
                    pool.append(child_entry)
            top = ranked(pool)[0]
            improved = best is None or _better(top[1], best[1], self.min_improvement)
            if improved:
                best = top
            assert best is not None
            history.append(_record(generation, fresh, pool, child_entry, best, improved, meter.spent - before, errors))
            tracing.emit("evolve_generation", self.name, data=history[-1].to_dict())
            if best[1].passed is True and best[1].score >= self.threshold:
                stop_reason = "threshold"
                break
            if budget_hit:
                stop_reason = "budget"
                break
            stale = 0 if improved else stale + 1
            if generation > 0 and stale >= self.patience:
                stop_reason = "plateau"
                break
            carried = ranked(pool)[: self.elites]
        return EvolveResult(
            best=best[0] if best else None,
            verdict=best[1] if best else None,
            history=history,
            stop_reason=stop_reason,
            budget_limited=budget_hit,
            spent=Cost() + meter.spent,
            candidates=everyone,
        )

    def _population(self, prompt: str, question: str, generation: int, first_sample: int,
                    best: Entry | None) -> list[tuple[EvolveInput, Variation]]:
        """This generation's inputs (each sees the best so far and its feedback) with their
        variations, numbered on from ``first_sample``."""
        out = []
        for i in range(self.population):
            sample = first_sample + i
            base_var = self.variations[i % len(self.variations)]
            out.append((
                EvolveInput(prompt, generation=generation, sample=sample, parent=best[0] if best else None,
                            feedback=best[1].feedback if best else "", question=question),
                replace(base_var, seed=(base_var.seed or 0) + sample),
            ))
        return out

    async def _sample_all(self, population: list[tuple[EvolveInput, Variation]]
                          ) -> tuple[list[Candidate], list[str], bool, BaseException | None]:
        """Sample the population concurrently: the candidates, the errors, whether the budget
        ran out, and the first failure (cancellation and Ctrl-C are re-raised at once)."""
        outcomes = await asyncio.gather(*(self._sample(inp, var) for inp, var in population), return_exceptions=True)
        fresh: list[Candidate] = []
        errors: list[str] = []
        budget_hit = False
        for outcome in outcomes:
            if isinstance(outcome, Candidate):
                fresh.append(outcome)
            elif isinstance(outcome, BudgetExceeded):
                budget_hit = True
                errors.append(f"BudgetExceeded: {outcome}")
            elif isinstance(outcome, BaseException):
                if isinstance(outcome, asyncio.CancelledError | KeyboardInterrupt):
                    raise outcome
                errors.append(f"{type(outcome).__name__}: {outcome}")
        failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
        return fresh, errors, budget_hit, failure

    async def _verify_pool(self, carried: list[Entry], fresh: list[Candidate], question: str) -> list[Entry] | None:
        """Verdicts for the new candidates (the whole pool for relative verifiers); None when
        the budget ran out while verifying."""
        if not fresh:
            return list(carried)
        pool, hit = await verify_into(self.verifier, carried, fresh, question, self.name)
        return None if hit else pool

    async def _cross(self, chosen: list[Candidate], pool: list[Entry], question: str) -> tuple[Entry | None, bool]:
        """The crossover child with its verdict (None when the crossover handed back an input
        unchanged), and whether the budget ran out."""
        assert self.crossover is not None
        verdicts = {c.id: v for c, v in pool}
        try:
            child = await self.crossover.combine(chosen, verdicts, question=question)
        except BudgetExceeded:
            return None, True
        if child.id in verdicts:
            return None, False
        judged, hit = await judge(self.verifier, [child], question, self.name)
        if hit:
            return None, True
        return (child, judged[0]), False


def _better(new: Verdict, old: Verdict, margin: float) -> bool:
    tier_new, score_new = rank_key(new)
    tier_old, score_old = rank_key(old)
    if tier_new != tier_old:
        return tier_new > tier_old
    return score_new > score_old + margin


def _record(generation: int, fresh: list[Candidate], pool: list[Entry], child: Entry | None, best: Entry,
            improved: bool, spent: Cost, errors: list[str]) -> GenerationRecord:
    """What one generation did, for the history and its ``evolve_generation`` event."""
    fresh_ids = {c.id for c in fresh}
    return GenerationRecord(
        generation=generation,
        candidates=[c.id for c in fresh],
        scores=[v.score for c, v in pool if c.id in fresh_ids],
        passed=sum(1 for c, v in pool if c.id in fresh_ids and v.passed),
        child=child[0].id if child else None,
        child_score=child[1].score if child else None,
        best=best[0].id,
        best_score=best[1].score,
        improved=improved,
        spent=spent.to_dict(),
        errors=errors,
    )

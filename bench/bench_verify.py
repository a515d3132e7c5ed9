"""Verifier-based selection, early stopping and crossover at equal budget.

Workload: a noisy generator (``FunctionModel``) that is right with probability p per sample,
decided by hashing (task, sample seed), with programmatic ground truth. Every strategy gets the
same hard budget of N model calls per task (``Budget(llm_calls=N)``).

* ``single``: solve ``a*x + b = c``; right answers come in varied notations (``1,204``,
  ``1204.0``, ``x = 1204``, words); wrong ones are x plus a nonzero offset. The verifier plugs
  the answer back into the equation.
* ``fields``: a 4-field record; each field is right with probability p independently (wrong
  values drawn from 3 alternatives). The verifier checks each field (per-field scores); a task is
  solved only when every field is right. The generator ignores feedback (pure resampling), so
  Evolve's gain comes from crossover alone.

Strategies: best-of-N with the verifier; majority vote over N (ConsensusVerifier); quorum(3)
early stopping (verifier-free, 3 in flight; ``quorum_seq``: one at a time); first_finish with the verifier (2 in flight);
Evolve (population 4 x 4 generations) with FieldCrossover, and without crossover as an ablation.
``calls`` are model calls the budget settled; ``started`` also counts calls cancelled in flight.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from agentloom import tracing
from agentloom.agents import (
    Candidate,
    ConsensusVerifier,
    Evolve,
    EvolveInput,
    FieldCrossover,
    FunctionVerifier,
    Variation,
    best_of_n,
    first_finish,
    quorum,
    select_streaming,
    top_k,
)
from agentloom.answers import answer_key, parse_quantity
from agentloom.budget import Budget
from agentloom.models.base import call_model
from agentloom.models.function import FunctionModel
from agentloom.models.types import Message, ModelRequest

N = 16
QUORUM_K = 3
FIELDS = ("capital", "river", "peak", "lake")
_WORDS = "zero one two three four five six seven eight nine ten eleven twelve".split()


def coin(*parts: Any) -> float:
    """A deterministic uniform draw in [0, 1) from ``parts``."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def pick(options: list[Any], *parts: Any) -> Any:
    return options[int(coin("pick", *parts) * len(options))]


# --------------------------------------------------------------------------- workloads
@dataclass(frozen=True)
class Equation:
    """Solve ``a*x + b = c`` for x."""

    id: str
    a: int
    b: int
    x: int

    @property
    def c(self) -> int:
        return self.a * self.x + self.b

    @property
    def prompt(self) -> str:
        return f"[{self.id}] Solve for x: {self.a}x + {self.b} = {self.c}. End with 'Answer: <x>'."


def equations(count: int) -> list[Equation]:
    out = []
    for i in range(count):
        a = 2 + int(coin("a", i) * 11)
        b = int(coin("b", i) * 500)
        x = int(coin("x", i) * 3000) - 500
        out.append(Equation(f"eq{i}", a, b, x))
    return out


def notation(value: int, *parts: Any) -> str:
    forms = [f"{value:,}", f"{value}.0", f"x = {value}", f"{value}"]
    if 0 <= value < len(_WORDS):
        forms.append(_WORDS[value])
    return pick(forms, "form", *parts)


def equation_model(tasks: dict[str, Equation], p: float) -> FunctionModel:
    """Right with probability ``p`` per sample (hash of task and seed); varied notations."""

    def respond(request: ModelRequest) -> str:
        match = re.search(r"\[(eq\d+)\]", request.last_user_text())
        task = tasks[match.group(1) if match else ""]
        seed = request.seed or 0
        right = coin("right", task.id, seed) < p
        offset = 0 if right else pick([d for d in range(-30, 31) if d], "offset", task.id, seed)
        value = task.x + offset
        steps = int(coin("len", task.id, seed) * 4) + 2
        work = " ".join(f"Step {k}: subtract {task.b} and divide by {task.a}, checking the arithmetic." for k in range(steps))
        return f"{work}\nAnswer: {notation(value, task.id, seed)}"

    def latency(request: ModelRequest) -> float:
        return 0.001 + 0.003 * coin("latency", request.last_user_text(), request.seed)

    return FunctionModel(respond, latency=latency, name="noisy-solver")


@dataclass(frozen=True)
class Record:
    """A 4-field record with one right value and three wrong ones per field."""

    id: str
    truth: dict[str, str]
    wrong: dict[str, list[str]]

    @property
    def prompt(self) -> str:
        return f"[{self.id}] Fill the record {', '.join(FIELDS)} as JSON."


def records(count: int) -> list[Record]:
    out = []
    for i in range(count):
        truth = {f: f"{f}-{i}-true" for f in FIELDS}
        wrong = {f: [f"{f}-{i}-wrong{j}" for j in range(3)] for f in FIELDS}
        out.append(Record(f"rec{i}", truth, wrong))
    return out


def record_model(tasks: dict[str, Record], p: float) -> FunctionModel:
    """Each field right with probability ``p`` per sample, independently; feedback is ignored."""

    def respond(request: ModelRequest) -> str:
        match = re.search(r"\[(rec\d+)\]", request.last_user_text())
        task = tasks[match.group(1) if match else ""]
        seed = request.seed or 0
        out = {}
        for f in FIELDS:
            right = coin("field", task.id, f, seed) < p
            out[f] = task.truth[f] if right else pick(task.wrong[f], "wrongval", task.id, f, seed)
        return json.dumps(out)

    def latency(request: ModelRequest) -> float:
        return 0.001 + 0.003 * coin("latency", request.last_user_text(), request.seed)

    return FunctionModel(respond, latency=latency, name="noisy-filler")


# --------------------------------------------------------------------------- verifiers
def equation_verifier(task: Equation) -> FunctionVerifier:
    def plug_in(candidate: Candidate) -> tuple[bool, str]:
        quantity = parse_quantity(re.sub(r"^x\s*=\s*", "", candidate.final_answer().strip()))
        if quantity is None or quantity[0]:
            return False, "no number found"
        ok = abs(task.a * quantity[1] + task.b - task.c) < 1e-9
        return ok, "" if ok else f"{task.a}*{quantity[1]:g} + {task.b} != {task.c}"

    return FunctionVerifier(plug_in, name="plug_in", in_thread=False)


def record_verifier(task: Record) -> FunctionVerifier:
    def check(candidate: Candidate) -> dict[str, Any]:
        data = candidate.output_dict() or {}
        scores = {f: 1.0 if data.get(f) == task.truth[f] else 0.0 for f in FIELDS}
        wrong = [f for f, s in scores.items() if not s]
        return {
            "score": sum(scores.values()) / len(FIELDS),
            "passed": not wrong,
            "field_scores": scores,
            "feedback": "\n".join(f"wrong: {f}" for f in wrong),
        }

    return FunctionVerifier(check, name="fields", in_thread=False)


# --------------------------------------------------------------------------- plumbing
def answer_of(text: str | None) -> str:
    match = re.findall(r"Answer:\s*(.+)", text or "")
    return match[-1].strip() if match else (text or "")


def sampler(model: FunctionModel, prompt: str, structured: bool) -> Callable[[int], Callable[[], Awaitable[Candidate]]]:
    def make(seed: int) -> Callable[[], Awaitable[Candidate]]:
        async def run() -> Candidate:
            completion = await call_model(model, ModelRequest(messages=[Message.user(prompt)], seed=seed, max_tokens=200))
            if structured:
                return Candidate(output=json.loads(completion.text or "{}"), source=f"s{seed}")
            return Candidate(text=completion.text, answer=answer_of(completion.text), source=f"s{seed}")

        return run

    return make


@dataclass
class Outcome:
    correct: bool
    calls: int
    started: int
    tokens: int
    saved_tokens: float = 0.0
    wall_s: float = 0.0


async def run_strategy(
    strategy: str, model: FunctionModel, prompt: str, verifier: FunctionVerifier, is_right: Callable[[Candidate | None], bool], structured: bool
) -> Outcome:
    budget = Budget(llm_calls=N, name=strategy)
    make = sampler(model, prompt, structured)
    start = time.perf_counter()
    saved = 0.0
    best: Candidate | None
    with tracing.use(tracing.RunContext(budget=budget)):
        if strategy == "best_of_n":
            result = await select_streaming([make(i) for i in range(N)], verifier, best_of_n(N))
            best = result.best
        elif strategy == "majority":
            # structured answers are compared whole (their sorted JSON); text answers are normalised
            consensus = ConsensusVerifier(key=(lambda text: text) if structured else None)
            result = await select_streaming([make(i) for i in range(N)], consensus, top_k(1))
            best = result.best
        elif strategy in ("quorum", "quorum_seq"):
            width = QUORUM_K if strategy == "quorum" else 1
            result = await select_streaming([make(i) for i in range(N)], None, quorum(QUORUM_K), max_concurrency=width)
            best, saved = result.best, result.saved.tokens
        elif strategy == "first_finish":
            result = await select_streaming([make(i) for i in range(N)], verifier, first_finish(), max_concurrency=2)
            best, saved = result.best, result.saved.tokens
        elif strategy.startswith("evolve"):
            crossover = FieldCrossover() if strategy == "evolve+crossover" else None

            async def generate(inp: EvolveInput, variation: Variation) -> Candidate:
                return await make(variation.seed or 0)()

            evolve = Evolve(generate, verifier, crossover, generations=N // 4, population=4, threshold=1.0, patience=N)
            evolved = await evolve.run(prompt)
            best = evolved.best
        else:
            raise ValueError(strategy)
    started = sum(1 for row in budget.ledger if row.what.startswith("model"))
    wall = time.perf_counter() - start
    return Outcome(is_right(best), budget.spent.llm_calls, started, budget.spent.tokens, saved, wall)


def summarise(workload: str, p: float, strategy: str, outcomes: list[Outcome]) -> dict[str, Any]:
    return {
        "workload": workload,
        "p": p,
        "strategy": strategy,
        "accuracy": round(sum(o.correct for o in outcomes) / len(outcomes), 4),
        "calls": round(statistics.mean(o.calls for o in outcomes), 2),
        "started": round(statistics.mean(o.started for o in outcomes), 2),
        "tokens": round(statistics.mean(o.tokens for o in outcomes), 1),
        "saved_tokens_est": round(statistics.mean(o.saved_tokens for o in outcomes), 1),
        "wall_ms": round(1000 * statistics.mean(o.wall_s for o in outcomes), 2),
    }


async def bench_single(p: float, count: int) -> list[dict[str, Any]]:
    tasks = equations(count)
    model = equation_model({t.id: t for t in tasks}, p)
    rows = []
    for strategy in ("best_of_n", "majority", "quorum", "quorum_seq", "first_finish", "evolve"):
        outcomes = []
        for task in tasks:

            def right(c: Candidate | None, task: Equation = task) -> bool:
                return c is not None and answer_key(c.final_answer()) == answer_key(str(task.x))

            outcomes.append(await run_strategy(strategy, model, task.prompt, equation_verifier(task), right, False))
        rows.append(summarise("single", p, strategy, outcomes))
    base = next(r for r in rows if r["strategy"] == "majority")
    for row in rows:
        row["ratio"] = round(row["calls"] / base["calls"], 3)
        row["ratio_of"] = "calls / majority@N calls"
    return rows


async def bench_fields(p: float, count: int) -> list[dict[str, Any]]:
    tasks = records(count)
    model = record_model({t.id: t for t in tasks}, p)
    rows = []
    for strategy in ("best_of_n", "majority", "quorum", "first_finish", "evolve", "evolve+crossover"):
        outcomes = []
        for task in tasks:

            def right(c: Candidate | None, task: Record = task) -> bool:
                return c is not None and c.output_dict() == task.truth

            outcomes.append(await run_strategy(strategy, model, task.prompt, record_verifier(task), right, True))
        rows.append(summarise("fields", p, strategy, outcomes))
    base = next(r for r in rows if r["strategy"] == "best_of_n")
    for row in rows:
        row["ratio"] = round(row["accuracy"] / base["accuracy"], 3) if base["accuracy"] else None
        row["ratio_of"] = "accuracy / best_of_n accuracy"
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    count = 40 if quick else 200
    single_ps = [0.6] if quick else [0.4, 0.6, 0.8]

    async def main() -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for p in single_ps:
            rows += await bench_single(p, count)
        rows += await bench_fields(0.5, count)
        return rows

    return asyncio.run(main())


if __name__ == "__main__":
    import sys

    from bench.run import format_table

    start = time.perf_counter()
    print(format_table(run(quick="--quick" in sys.argv)))
    print(f"({time.perf_counter() - start:.1f}s)")

"""What each node kind does when it runs: build its agentloom class from the spec, feed it
from the state, and return its output as plain state data.

Every runner returns ``(output, budget_limited)``. A run that hit its budget is not an error
here: the node returns what it has, and the graph goes on so later nodes can still write a
(partial) result.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from typing import Any

from agentloom import tracing
from agentloom.errors import BudgetExceeded, ConfigError, VerifierError
from agentloom.graph._interp import render
from agentloom.graph._resources import Resources, signature_accepts
from agentloom.graph._state import candidate_state, candidates_from, jsonable, to_candidate
from agentloom.graph.spec import (
    AgentNode,
    BudgetPlannerNode,
    CitationVerifierSpec,
    ConsensusVerifierSpec,
    CrossoverNode,
    DAGPlannerNode,
    DistillRefineSpec,
    EvolveNode,
    FieldCrossoverSpec,
    FixedPlannerNode,
    FunctionNode,
    FunctionVerifierSpec,
    JudgeVerifierSpec,
    MergeCrossoverSpec,
    PDRNode,
    ScheduledPlannerNode,
    SelectSpec,
    VerifierNode,
    WriterNode,
)

__all__ = ["execute", "text_of"]

Output = tuple[Any, bool]


def text_of(value: Any) -> str:
    """A state value as text: strings as they are, outputs by their ``text``, else JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        for key in ("text", "markdown", "answer"):
            if isinstance(value.get(key), str):
                return str(value[key])
    import json

    return json.dumps(value, ensure_ascii=False, default=str)


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{where} must be a whole number, not {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ConfigError(f"{where} must be a whole number, but it is {value!r}")


def _question(template: str | None, scope: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = render(template if template is not None else "{question}", scope)
    text = text_of(value).strip()
    if not text and required:
        raise ConfigError(f"node '{name}' has an empty question; pass --input question=... or set question:")
    return text or None


# --------------------------------------------------------------------------- agent
async def _agent(n: AgentNode, name: str, scope: Mapping[str, Any], res: Resources, team: str | None,
                 overrides: Mapping[str, Any]) -> Output:
    from agentloom.agents.agent import DEFAULT_INSTRUCTIONS, Agent

    default_task = "{item}" if "item" in scope else "{question}"
    task = text_of(render(n.task if n.task is not None else default_task, scope)).strip()
    if not task:
        raise ConfigError(f"agent node '{name}' got an empty task (from {n.task or default_task!r})")
    width = render(n.width, scope)
    if isinstance(width, str):
        width = None if width.strip() in ("auto", "") else int(width) if width.strip().isdigit() else width
    kwargs: dict[str, Any] = {
        "model": res.model(n.model),
        "tools": res.tools_for(n.tools),
        "instructions": text_of(render(n.instructions, scope)) if n.instructions else DEFAULT_INSTRUCTIONS,
        "name": name,
        "width": width if width is not None else "descending",
        "max_turns": _int(render(n.max_turns, scope), f"{name}.max_turns"),
        "max_tokens": _int(render(n.max_tokens, scope), f"{name}.max_tokens"),
        "temperature": overrides.get("temperature", n.temperature),
        "memory": res.memory if n.memory else None,
        "team": text_of(render(n.team, scope)) if n.team else team,
        "max_concurrency": n.max_concurrency,
        "output_type": res.refs.get(n.output_type) if n.output_type else None,
    }
    if n.threads is not None:
        kwargs["threads"] = n.threads
        kwargs["max_spawn_depth"] = n.max_spawn_depth
    if n.planner == "dag":
        from agentloom.planners.dag import DAGPlanner

        kwargs["planner"] = DAGPlanner(model=kwargs["model"])
    agent = Agent(**kwargs)
    result = await agent.run(task)
    output = result.output
    text = output if isinstance(output, str) else text_of(jsonable(output))
    cited = [c.to_dict() for c in result.citations]
    return (
        {
            "text": text,
            "output": None if isinstance(output, str) else jsonable(output),
            "task": task,
            "team": kwargs["team"],
            "citations": cited,
            "passages": cited,
            "stop_reason": result.stop_reason,
            "budget_limited": result.budget_limited,
            "usage": result.usage.to_dict(),
            "meta": jsonable(result.meta),
        },
        result.budget_limited,
    )


# --------------------------------------------------------------------------- function
async def _function(n: FunctionNode, name: str, scope: Mapping[str, Any], res: Resources, config: Mapping[str, Any]) -> Output:
    fn = res.refs[n.fn]
    if not callable(fn):
        raise ConfigError(f"function node '{name}': {n.fn} is not callable")
    args = render(n.args, scope)
    if signature_accepts(fn, "state") and "state" not in args:
        args["state"] = dict(scope)
    if signature_accepts(fn, "config") and "config" not in args and config:
        args["config"] = dict(config)
    if inspect.iscoroutinefunction(fn):
        value = await fn(**args)
    else:
        value = await asyncio.to_thread(fn, **args)
        if inspect.isawaitable(value):
            value = await value
    return jsonable(value), False


# --------------------------------------------------------------------------- planners
class _Verdictish:
    """A verdict as planners read it (anything with ``score`` and ``passed``)."""

    def __init__(self, score: float, passed: bool | None) -> None:
        self.score = score
        self.passed = passed


def _feedback(n: Any, name: str, scope: Mapping[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    from agentloom.planners.types import Feedback

    previous = scope.get(name) if isinstance(scope.get(name), Mapping) else None
    rounds: list[dict[str, Any]] = list(previous.get("rounds", [])) if previous else []
    source = getattr(n, "feedback", None)
    if previous is not None and source:
        verified = render("{" + source.strip("{}") + "}", scope)
        if isinstance(verified, Mapping):
            verdicts = [
                {"score": float(v.get("score", 0.0)), "passed": v.get("passed")}
                for v in verified.get("verdicts") or []
                if isinstance(v, Mapping)
            ]
            answers = [text_of(c)[:500] for c in verified.get("candidates") or []]
            rounds.append(
                {"width": previous.get("width", len(answers)), "refine": bool(previous.get("refine")), "verdicts": verdicts,
                 "answers": answers}
            )
    feedback = Feedback()
    for r in rounds:
        feedback.add(
            [_Verdictish(v["score"], v["passed"]) for v in r.get("verdicts", [])],
            r.get("answers", []),
            width=int(r.get("width", 0)),
            refine=bool(r.get("refine")),
        )
    if previous and isinstance(previous.get("sub_tasks"), list) and previous["sub_tasks"]:
        feedback.sub_tasks = list(previous["sub_tasks"])
    return feedback, rounds


def _width_planner(n: FixedPlannerNode | ScheduledPlannerNode | BudgetPlannerNode, name: str, scope: Mapping[str, Any],
                   res: Resources) -> Any:
    from agentloom.planners import BudgetPlanner, FixedPlanner, ScheduledPlanner

    common: dict[str, Any] = {
        "model": res.model(n.model),
        "stop_on_pass": n.stop_on_pass,
        "unit": n.unit,
        "cost_per_branch": n.cost_per_branch,
        "max_width": _int(render(n.max_width, scope), f"{name}.max_width"),
        "name": name,
    }
    if isinstance(n, FixedPlannerNode):
        return FixedPlanner(_int(render(n.width, scope), f"{name}.width"), _int(render(n.depth, scope), f"{name}.depth"), **common)
    if isinstance(n, ScheduledPlannerNode):
        rounds = _int(render(n.rounds, scope), f"{name}.rounds") if n.rounds is not None else None
        return ScheduledPlanner(n.schedule, rounds=rounds, peak=_int(render(n.peak, scope), f"{name}.peak"),
                                refine_after_first=n.refine_after_first, **common)
    width = render(n.width, scope)
    depth = render(n.depth, scope)
    fixed_width = None if width is None or str(width).strip() in ("", "auto") else _int(width, f"{name}.width")
    fixed_depth = None if depth is None or str(depth).strip() in ("", "auto") else _int(depth, f"{name}.depth")
    if fixed_width is not None:
        return FixedPlanner(fixed_width, fixed_depth or 1, **common)
    max_rounds = fixed_depth or _int(render(n.max_rounds, scope), f"{name}.max_rounds")
    return BudgetPlanner(
        prior_p=n.prior_p,
        prior_strength=n.prior_strength,
        f_max=n.f_max,
        min_gain_per_cost=n.min_gain_per_cost,
        saturation_eps=n.saturation_eps,
        saturation_baseline=n.saturation_baseline,
        confident_score=n.confident_score,
        min_improvement=n.min_improvement,
        agreement_stop=n.agreement_stop,
        min_votes=n.min_votes,
        max_rounds=max_rounds,
        learn=n.learn,
        **common,
    )


def _branches(sub_tasks: list[str], question: str, width: int) -> list[str]:
    """One task per branch: every sub-task at least once (one team per sub-question), then
    round-robin up to the width; without sub-tasks, the question ``width`` times."""
    if width < 1:
        return []
    if not sub_tasks:
        return [question] * width
    return [sub_tasks[i % len(sub_tasks)] for i in range(max(width, len(sub_tasks)))]


async def _planner(n: Any, name: str, scope: Mapping[str, Any], res: Resources) -> Output:
    if isinstance(n, DAGPlannerNode):
        return await _dag(n, name, scope, res)
    if isinstance(n, PDRNode):
        return await _pdr(n, name, scope, res)
    question = _question(n.question, scope, name) or ""
    planner = _width_planner(n, name, scope, res)
    feedback, rounds = _feedback(n, name, scope)
    ctx = tracing.current()
    plan = await planner.next_plan(question, ctx.budget if ctx is not None else None, feedback)
    sub_tasks = list(plan.sub_tasks) or list(feedback.sub_tasks)
    branches = _branches(sub_tasks, question, 0 if plan.stop else plan.width)
    out = jsonable(plan.to_dict())
    out.update(
        {
            "question": question,
            "planner": type(planner).__name__,
            "sub_tasks": sub_tasks,
            "branches": branches,
            "rounds": rounds,
            "text": plan.reason,
        }
    )
    return out, False


async def _dag(n: DAGPlannerNode, name: str, scope: Mapping[str, Any], res: Resources) -> Output:
    from agentloom.planners.dag import DAGPlanner

    question = _question(n.question, scope, name) or ""
    planner = DAGPlanner(
        model=res.model(n.model),
        max_replans=_int(render(n.max_replans, scope), f"{name}.max_replans"),
        stream=n.stream,
        max_tasks=_int(render(n.max_tasks, scope), f"{name}.max_tasks"),
        max_tokens=_int(render(n.max_tokens, scope), f"{name}.max_tokens"),
        temperature=n.temperature,
        result_chars=n.result_chars,
        instructions=text_of(render(n.instructions, scope)) if n.instructions else None,
        max_concurrency=n.max_concurrency,
        name=name,
    )
    run = await planner.run(question, tools=res.tools_for(n.tools))
    cited = [c.to_dict() for c in run.citations]
    return (
        {
            "text": run.answer,
            "answer": run.answer,
            "citations": cited,
            "passages": [p.to_dict() for p in run.passages.values()],
            "tasks": [jsonable(t) for t in run.tasks],
            "replans": run.replans,
            "stop_reason": run.stop_reason,
            "budget_limited": run.budget_limited,
        },
        run.budget_limited,
    )


async def _pdr(n: PDRNode, name: str, scope: Mapping[str, Any], res: Resources) -> Output:
    from agentloom.planners.pdr import PDR

    question = _question(n.question, scope, name) or ""
    pdr = PDR(
        _int(render(n.width, scope), f"{name}.width"),
        _int(render(n.rounds, scope), f"{name}.rounds"),
        _int(render(n.workspace_tokens, scope), f"{name}.workspace_tokens"),
        model=res.model(n.model),
        tools=res.tools_for(n.tools),
        instructions=text_of(render(n.instructions, scope)) if n.instructions else None,
        verifier=build_verifier(n.verifier, res) if n.verifier is not None else None,
        draft_max_turns=_int(render(n.draft_max_turns, scope), f"{name}.draft_max_turns"),
        max_tokens=_int(render(n.max_tokens, scope), f"{name}.max_tokens"),
        name=name,
    )
    result = await pdr.run(question)
    output = result.output
    return (
        {
            "text": output if isinstance(output, str) else text_of(jsonable(output)),
            "citations": [c.to_dict() for c in result.citations],
            "passages": [c.to_dict() for c in result.citations],
            "stop_reason": result.stop_reason,
            "budget_limited": result.budget_limited,
            "meta": jsonable(result.meta),
        },
        result.budget_limited,
    )


# --------------------------------------------------------------------------- verifiers
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


def _policy(select: SelectSpec | None, n_candidates: int) -> Any:
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


async def _verifier(n: VerifierNode, name: str, scope: Mapping[str, Any], res: Resources, partial: bool) -> Output:
    from agentloom.agents.selection import select

    source = n.candidates.strip("{} ")
    candidates, _ = candidates_from(render("{" + source + "}", scope), source.split(".")[0])
    if not candidates and partial:  # the budget ran out before any branch produced something
        return {"candidates": [], "verdicts": [], "selected": [], "best": None, "text": "", "passed": None, "score": 0.0,
                "pass_rate": None, "agreement": 0.0, "majority": None, "policy": "none", "satisfied": False}, True
    if not candidates:
        raise VerifierError(f"verifier node '{name}' received no candidates from '{source}'; check the nodes feeding it")
    question = _question(n.question, scope, name, required=False)
    verifier = CombinedVerifier([build_verifier(v, res) for v in n.verifiers], name)
    chosen = await select(candidates, verifier, _policy(n.select, len(candidates)), question=question, name=name)
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
        return X.MergeCrossover(res.model(c.model), _int(c.k, "k"), max_tokens=_int(c.max_tokens, "max_tokens"))
    if isinstance(c, DistillRefineSpec):
        return X.DistillRefine(
            res.model(c.model),
            workspace_tokens=c.workspace_tokens,
            k=_int(c.k, "k") if c.k is not None else None,
            max_tokens=_int(c.max_tokens, "max_tokens"),
        )
    if isinstance(c, FieldCrossoverSpec):
        return X.FieldCrossover(res.refs.get(c.output_type) if c.output_type else None)
    raise ConfigError(f"unknown crossover {c!r}")


async def _crossover(n: CrossoverNode, name: str, scope: Mapping[str, Any], res: Resources, partial: bool) -> Output:
    source = n.candidates.strip("{} ")
    candidates, verdicts = candidates_from(render("{" + source + "}", scope), source.split(".")[0])
    if not candidates and partial:
        return None, True
    if not candidates:
        raise VerifierError(f"crossover node '{name}' received no candidates from '{source}'; check the nodes feeding it")
    question = _question(n.question, scope, name, required=False)
    crossover = build_crossover(n.crossover, res)
    crossover.name = name
    child = await crossover.combine(candidates, verdicts or None, question=question)
    return candidate_state(child), False


# --------------------------------------------------------------------------- writer
def _findings(value: Any, source: str) -> list[dict[str, str]]:
    """Writer findings (``{title, text}``) from a state value: agent outputs are titled by
    their task, a verifier's output gives its selected candidates."""
    if isinstance(value, Mapping) and isinstance(value.get("selected"), list) and "verdicts" in value:
        value = value["selected"]
    items = value if isinstance(value, list) else [value] if value is not None else []
    out = []
    for item in items:
        if item is None:
            continue
        title = ""
        if isinstance(item, Mapping):
            title = str(item.get("task") or item.get("question") or item.get("title") or "")
        out.append({"title": title, "text": text_of(item)})
    return out


def _usage_for_report(scope: Mapping[str, Any]) -> dict[str, Any]:
    from agentloom.result import UsageSummary

    ctx = tracing.current()
    budget = ctx.budget if ctx is not None else None
    while budget is not None and budget.parent is not None:
        budget = budget.parent
    usage: dict[str, Any] = UsageSummary.from_budget(budget).to_dict() if budget is not None else {}
    hits = 0
    for value in scope.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Mapping) and isinstance(item.get("usage"), Mapping):
                hits += int(item["usage"].get("memory_hits") or 0)
            if isinstance(item, Mapping) and isinstance(item.get("branches"), list) and "rounds" in item:
                usage.setdefault("width", len(item["branches"]))
                usage.setdefault("depth", len(item.get("rounds") or []) + 1)
    usage["memory_hits"] = hits
    return usage


async def _writer(n: WriterNode, name: str, scope: Mapping[str, Any], res: Resources, partial: bool) -> Output:
    from agentloom.agents.writer import WRITER_INSTRUCTIONS, Writer

    question = _question(n.question, scope, name) or ""
    paths = [n.findings] if isinstance(n.findings, str) else list(n.findings)
    findings: list[dict[str, str]] = []
    passages: dict[str, Any] = {}
    sources = [*paths, *([n.passages] if n.passages is not None else [])]
    for i, path in enumerate(sources):
        source = path.strip("{} ")
        value = render("{" + source + "}", scope)
        if i < len(paths):
            findings.extend(_findings(value, source))
        for c in candidates_from(value, source.split(".")[0])[0]:
            for pid, p in c.passages.items():
                passages.setdefault(pid, p)
    writer = Writer(
        res.model(n.model),
        max_tokens=_int(render(n.max_tokens, scope), f"{name}.max_tokens"),
        instructions=text_of(render(n.instructions, scope)) if n.instructions else WRITER_INSTRUCTIONS,
    )
    limited = False
    try:
        # usage is read after the writer's own model call, so the footer counts it too
        report = await writer.write(question, findings, passages, usage=lambda: _usage_for_report(scope), partial=partial)
    except BudgetExceeded:
        # No budget left for the model: still write the report, extractively and marked partial.
        from agentloom.agents.writer import finalize
        from agentloom.models.offline.write import Finding
        from agentloom.models.offline.write import render as extractive

        body = extractive(question, [Finding(f["title"], f["text"]) for f in findings])
        report = finalize(body, passages, question=question, usage=_usage_for_report(scope), partial=True)
        limited = True
    return (
        {
            "title": report.title,
            "short_answer": report.short_answer,
            "markdown": report.markdown,
            "text": report.markdown,
            "citations": [c.to_dict() for c in report.citations],
        },
        limited,
    )


# --------------------------------------------------------------------------- evolve
async def _evolve(n: EvolveNode, name: str, scope: Mapping[str, Any], res: Resources, config: Mapping[str, Any]) -> Output:
    from agentloom.agents.evolve import Evolve

    question = _question(n.question, scope, name) or ""
    body = n.generate

    async def generate(inp: Any, variation: Any) -> Any:
        sub = {**scope, "item": inp.text, "index": inp.sample, "generation": inp.generation}
        overrides = {"temperature": variation.temperature} if getattr(variation, "temperature", None) is not None else {}
        label = f"{name}-g{inp.generation}-{inp.sample}"
        output, _ = await execute(body, f"{name}.generate", sub, res, team=label, overrides=overrides, config=config)
        return to_candidate(output, inp.sample, label)

    crossover = build_crossover(n.crossover, res) if n.crossover is not None else None
    evolve = Evolve(
        generate,
        build_verifier(n.verify, res),
        crossover,
        _int(render(n.generations, scope), f"{name}.generations"),
        _int(render(n.population, scope), f"{name}.population"),
        threshold=n.threshold,
        patience=_int(n.patience, f"{name}.patience"),
        select=_policy(n.select, 0) if n.select is not None else None,
        elites=_int(n.elites, f"{name}.elites"),
        name=name,
    )
    result = await evolve.run(question, question=question)
    best = result.best
    verdict = result.verdict
    return (
        {
            "best": candidate_state(best) if best is not None else None,
            "text": best.content if best is not None else "",
            "output": (best.output_dict() if best is not None else None),
            "score": round(result.score, 6),
            "passed": verdict.passed if verdict is not None else None,
            "verdict": verdict.to_dict() if verdict is not None else None,
            "stop_reason": result.stop_reason,
            "generations": result.generations,
            "history": [h.to_dict() for h in result.history],
            "budget_limited": result.budget_limited,
        },
        result.budget_limited,
    )


# --------------------------------------------------------------------------- dispatch
async def execute(
    node: Any,
    name: str,
    scope: Mapping[str, Any],
    res: Resources,
    *,
    team: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    partial: bool = False,
) -> Output:
    """Run one (non-map) node on ``scope`` and return ``(output, budget_limited)``."""
    kind = node.kind
    if kind == "agent":
        return await _agent(node, name, scope, res, team, overrides or {})
    if kind == "function":
        return await _function(node, name, scope, res, config or {})
    if kind == "planner":
        return await _planner(node, name, scope, res)
    if kind == "verifier":
        return await _verifier(node, name, scope, res, partial)
    if kind == "crossover":
        return await _crossover(node, name, scope, res, partial)
    if kind == "writer":
        return await _writer(node, name, scope, res, partial)
    if kind == "evolve":
        return await _evolve(node, name, scope, res, config or {})
    raise ConfigError(f"node '{name}' of kind '{kind}' cannot run here")

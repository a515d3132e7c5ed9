"""The evolve node: generations of candidates from its ``generate`` body node, verified,
selected and crossed over by ``Evolve``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from agentloom.graph._interp import render
from agentloom.graph._nodes._common import Output, as_int, node_question
from agentloom.graph._nodes.verify import build_crossover, build_verifier, selection_policy
from agentloom.graph._resources import Resources
from agentloom.graph._state import candidate_state, to_candidate
from agentloom.graph.spec import EvolveNode

__all__ = ["Execute", "run_evolve"]

#: The node dispatcher (``graph._nodes.execute``), passed in so this module does not import its package.
Execute = Callable[..., Awaitable[Output]]


async def run_evolve(n: EvolveNode, name: str, scope: Mapping[str, Any], res: Resources, config: Mapping[str, Any],
                     execute: Execute) -> Output:
    """Evolve a population whose members are made by the ``generate`` body node (run through ``execute``)."""
    from agentloom.agents.evolve import Evolve

    question = node_question(n.question, scope, name) or ""
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
        as_int(render(n.generations, scope), f"{name}.generations"),
        as_int(render(n.population, scope), f"{name}.population"),
        threshold=n.threshold,
        patience=as_int(n.patience, f"{name}.patience"),
        select=selection_policy(n.select, 0) if n.select is not None else None,
        elites=as_int(n.elites, f"{name}.elites"),
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

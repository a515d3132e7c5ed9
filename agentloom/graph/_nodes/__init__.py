"""What each node kind does when it runs: build its agentloom class from the spec, feed it
from the state, and return its output as plain state data.

Every runner returns ``(output, budget_limited)``. A run that hit its budget is not an error
here: the node returns what it has, and the graph goes on so later nodes can still write a
(partial) result. The runners live in one module per node family; this package keeps
the dispatcher.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentloom.errors import ConfigError
from agentloom.graph._nodes._common import Output, text_of
from agentloom.graph._nodes.agent import run_agent
from agentloom.graph._nodes.evolve import run_evolve
from agentloom.graph._nodes.function import run_function
from agentloom.graph._nodes.planner import run_planner
from agentloom.graph._nodes.verify import (
    CombinedVerifier,
    build_crossover,
    build_verifier,
    run_crossover,
    run_verifier,
)
from agentloom.graph._nodes.writer import run_writer
from agentloom.graph._resources import Resources

__all__ = ["CombinedVerifier", "Output", "build_crossover", "build_verifier", "execute", "text_of"]


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
    remote: bool = False,
    branch_cost: float | None = None,
) -> Output:
    """Run one (non-map) node on ``scope`` and return ``(output, budget_limited)``; ``remote``
    sends a function node to the run's executor (a map branch under Ray); ``branch_cost`` is a
    width planner's projected cost of one branch (see ``run_planner``)."""
    kind = node.kind
    if kind == "agent":
        return await run_agent(node, name, scope, res, team, overrides or {})
    if kind == "function":
        return await run_function(node, name, scope, res, config or {}, remote=remote)
    if kind == "planner":
        return await run_planner(node, name, scope, res, branch_cost=branch_cost)
    if kind == "verifier":
        return await run_verifier(node, name, scope, res, partial)
    if kind == "crossover":
        return await run_crossover(node, name, scope, res, partial)
    if kind == "writer":
        return await run_writer(node, name, scope, res, partial)
    if kind == "evolve":
        return await run_evolve(node, name, scope, res, config or {}, execute)
    raise ConfigError(f"node '{name}' of kind '{kind}' cannot run here")

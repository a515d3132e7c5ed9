"""A map branch whose turns run on a remote executor (an agent or research team on a Ray async
actor). The driver sends a picklable ``BranchJob``; the worker rebuilds the run's models, tools
and memory bank from the spec and runs the branch inside the driver's run (see
``agentloom.remote_run``: the run's budget through the database, its events sent back)."""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentloom import remote_run

if TYPE_CHECKING:
    from agentloom.graph._resources import Resources
    from agentloom.graph.spec import GraphSpec

__all__ = ["BranchJob", "eligible", "run_on_worker", "scope_of"]

#: Runs whose resources a worker keeps, most recent first (a worker serves many branches of a run).
KEEP_RUNS = 8


def eligible(spec: GraphSpec, res: Resources, body_kind: str) -> bool:
    """Whether a branch of this kind can leave the driver: its session-owning parts (MCP
    sessions, a tool approval gate that pauses the LangGraph run, a memory bank given as an
    object) stay with the run in the driver, and so do the branches that use them."""
    if body_kind == "function":
        return False  # a function branch goes to the executor on its own (see the function node)
    if res.mcp or (spec.approve is not None and spec.approve.tools):
        return False
    return res.memory is None or spec.memory is not None


@dataclass(frozen=True)
class BranchJob:
    """What a worker needs to run one branch as the driver would."""

    link: remote_run.RunLink
    spec: GraphSpec
    refs: dict[str, Any]
    base_dir: Path
    inputs: dict[str, Any]
    model: Any
    node: Any
    label: str
    scope: dict[str, Any]
    team: str
    configurable: dict[str, Any]


@dataclass
class _WorkerRun:
    """One run's resources as a worker holds them, and a builder over them."""

    resources: Any
    builder: Any


_runs: OrderedDict[tuple[str, str], _WorkerRun] = OrderedDict()
_runs_lock = threading.Lock()


def _worker_run(job: BranchJob) -> _WorkerRun:
    from agentloom.graph._compile import _Builder
    from agentloom.graph._resources import LazyResources, build_resources

    key = (job.link.home, job.link.run_id)
    with _runs_lock:
        found = _runs.get(key)
        if found is not None:
            _runs.move_to_end(key)
            return found
    resources = build_resources(job.spec, job.inputs, job.refs, job.base_dir, model_override=job.model, run_id=job.link.run_id)
    builder = _Builder(job.spec, LazyResources(job.spec, job.refs, job.base_dir, ready=resources, model_override=job.model))
    made = _WorkerRun(resources, builder)
    with _runs_lock:
        found = _runs.setdefault(key, made)
        while len(_runs) > KEEP_RUNS:
            _, old = _runs.popitem(last=False)
            if getattr(old.resources.memory, "close", None) is not None:
                old.resources.memory.close()
    return found


async def run_on_worker(job: BranchJob, send: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """Run the branch here (a Ray worker) and return its output and flags, and its spend."""
    remote_run.join_stores(job.link, f"branch {job.label}")
    run = await asyncio.to_thread(_worker_run, job)
    with remote_run.entered(job.link, job.label, send, memory=run.resources.memory, budget_name=job.spec.name) as budget:
        output, flags = await run.builder._run(job.node, job.label, job.scope, run.resources, team=job.team, partial=False,
                                               config={"configurable": job.configurable}, branch=True)
    return {"value": (output, flags), "spent": budget.spent.to_dict()}


def scope_of(scope: Mapping[str, Any]) -> dict[str, Any]:
    """The branch's scope as plain data (what a worker renders the node's templates against)."""
    from agentloom.graph._state import jsonable

    return {k: jsonable(v) for k, v in scope.items()}

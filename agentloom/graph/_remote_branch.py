"""A map branch whose turns run on a remote executor (an agent or research team on a Ray async
actor). The driver sends a picklable ``BranchJob``; the worker rebuilds the run's models, tools
and memory bank from the spec, charges the run's budget through the database (the run's budget
is shared under the run id), and sends its events back to the driver, which records them in the
run store and hands them to its listeners as if the branch had run here."""

from __future__ import annotations

import socket
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentloom import executors, tracing
from agentloom.budget import Budget, Cost
from agentloom.errors import ConfigError

if TYPE_CHECKING:
    from agentloom.graph._resources import Resources
    from agentloom.graph.spec import GraphSpec

__all__ = ["BranchJob", "budget_of", "eligible", "ray_settings", "run_on_worker", "run_remote", "scope_of", "shared_name"]

#: Runs whose resources a worker keeps, most recent first (a worker serves many branches of a run).
KEEP_RUNS = 8


def shared_name(run_id: str) -> str:
    """The shared budget a run's workers charge when it runs on a remote executor."""
    return f"run:{run_id}"


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
    run_id: str
    parent_span: str | None
    parent_team: str | None
    budget_name: str | None
    budget_limits: dict[str, float | None]
    seconds_left: float | None
    home: str
    database_url: str | None = None
    #: the run's Ray settings (num_cpus, max_retries): the branch's ``remote=True`` tools are Ray tasks too
    ray_settings: tuple[float, int] | None = None
    #: the driver's machine: a worker elsewhere needs a database both reach (Postgres)
    driver_host: str = ""


async def run_remote(executor: executors.Executor, job: BranchJob, ctx: tracing.RunContext | None) -> tuple[Any, dict[str, Any]]:
    """Run ``job`` on ``executor`` (see ``Executor.call_async``); its events reach ``ctx``'s
    store and listeners as they happen, its spend is counted in ``ctx``'s budget, and a
    ``placement`` event names the node, worker and process that ran it."""

    def deliver(event: Any) -> None:
        tracing.emit_event(event, ctx)

    result, where = await executor.call_async(run_on_worker, (job,), relay_to=deliver if ctx is not None else None)
    if ctx is not None and ctx.budget is not None:
        ctx.budget.absorb(Cost(**{k: v for k, v in result["spent"].items() if k != "tokens"}))
    tracing.emit("placement", job.label, data={"what": "branch", **where.as_data()}, ctx=ctx)
    return result["output"], result["flags"]


# ------------------------------------------------------------------ the worker's side


@dataclass
class _WorkerRun:
    """One run as a worker sees it: its resources, a builder over them and its budget."""

    resources: Any
    builder: Any
    budget: Budget


_runs: OrderedDict[tuple[str, str], _WorkerRun] = OrderedDict()
_runs_lock = threading.Lock()


def _worker_run(job: BranchJob) -> _WorkerRun:
    from agentloom.graph._compile import _Builder
    from agentloom.graph._resources import LazyResources, build_resources

    key = (job.home, job.run_id)
    with _runs_lock:
        found = _runs.get(key)
        if found is not None:
            _runs.move_to_end(key)
            return found
    resources = build_resources(job.spec, job.inputs, job.refs, job.base_dir, model_override=job.model, run_id=job.run_id)
    builder = _Builder(job.spec, LazyResources(job.spec, job.refs, job.base_dir, ready=resources, model_override=job.model))
    shared = job.budget_name if any(v is not None for v in job.budget_limits.values()) else None
    budget = Budget.from_limits({**job.budget_limits, "shared": shared}, name=job.spec.name)
    budget.on_charge(tracing.ledger_sink(tracing.RunContext(run_id=job.run_id)))
    made = _WorkerRun(resources, builder, budget)
    with _runs_lock:
        found = _runs.setdefault(key, made)
        while len(_runs) > KEEP_RUNS:
            _, old = _runs.popitem(last=False)
            if getattr(old.resources.memory, "close", None) is not None:
                old.resources.memory.close()
    return found


async def run_on_worker(job: BranchJob, send: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """Run the branch here (a Ray worker) and return its output, flags and spend."""
    import asyncio

    from agentloom._paths import set_home
    from agentloom.storage import prefer_database

    if not job.database_url and job.driver_host and job.driver_host != socket.gethostname():
        raise ConfigError(f"branch {job.label} ran on {socket.gethostname()}, another machine than the run's "
                          f"({job.driver_host}), but the run keeps its budget and memory in SQLite files there; "
                          "point every machine at one database: AGENTLOOM_DATABASE_URL=postgresql://...")
    set_home(job.home)
    if job.database_url:
        prefer_database(job.database_url)
    run = await asyncio.to_thread(_worker_run, job)
    budget = run.budget.child(job.label, seconds=job.seconds_left)
    ctx = tracing.RunContext(run_id=job.run_id, store=None, budget=budget, team=job.parent_team, span_id=job.parent_span,
                             memory=run.resources.memory, listeners=[send] if send is not None else [])
    here: executors.Executor = executors.LocalExecutor()
    if job.ray_settings is not None:
        here = executors.executor_for("ray", num_cpus=job.ray_settings[0], max_retries=job.ray_settings[1])
    with tracing.use(ctx), executors.use(here):
        output, flags = await run.builder._run(job.node, job.label, job.scope, run.resources, team=job.team, partial=False,
                                               config={"configurable": job.configurable}, branch=True)
    return {"output": output, "flags": flags, "spent": budget.spent.to_dict()}


def budget_of(ctx: tracing.RunContext | None) -> tuple[str | None, dict[str, float | None], float | None]:
    """The shared name, metered limits and seconds left of the run's budget, for a job."""
    budget = ctx.budget if ctx is not None else None
    if budget is None:
        return None, {}, None
    root = budget
    while root.parent is not None:
        root = root.parent
    left = budget.remaining().get("seconds")
    return root.shared, root.metered_limits(), left


def ray_settings(executor: executors.Executor) -> tuple[float, int] | None:
    """The CPUs and retries a Ray executor gives tasks (None for another executor)."""
    if executor.name != "ray":
        return None
    return float(getattr(executor, "num_cpus", 1.0)), int(getattr(executor, "max_retries", 3))


def scope_of(scope: Mapping[str, Any]) -> dict[str, Any]:
    """The branch's scope as plain data (what a worker renders the node's templates against)."""
    from agentloom.graph._state import jsonable

    return {k: jsonable(v) for k, v in scope.items()}

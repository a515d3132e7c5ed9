"""A piece of a run sent to another process (a map branch or a spawned thread on a Ray worker).

The driver captures a ``RunLink``: the run's id and span, its budget's shared name and limits,
and where its stores live. The worker enters it: the same stores, the run's budget charged
through the database, and every event sent back to the driver, which records it and hands it
to its listeners as if the piece had run in-process, then counts the piece's spend once.
"""

from __future__ import annotations

import socket
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from agentloom import executors, tracing
from agentloom.budget import Budget, Cost
from agentloom.errors import ConfigError

__all__ = ["RunLink", "call_elsewhere", "entered", "link_here", "shared_name", "share_if_remote"]

#: Runs whose shared budget a worker keeps open, most recent first.
KEEP_RUNS = 8


def shared_name(run_id: str) -> str:
    """The shared budget a run's workers charge when parts of it run in other processes."""
    return f"run:{run_id}"


def share_if_remote(budget: Budget, run_id: str) -> None:
    """Make a new run's root budget a shared one when its executor sends work to other
    processes, so they charge the same limits through the database."""
    if executors.current().remote and budget.parent is None and budget.shared is None \
            and any(v is not None for v in budget.metered_limits().values()):
        budget.share(shared_name(run_id))


@dataclass(frozen=True)
class RunLink:
    """What a worker needs to take part in the driver's run."""

    run_id: str
    parent_span: str | None
    parent_team: str | None
    budget_name: str | None
    budget_limits: dict[str, float | None]
    seconds_left: float | None
    home: str
    database_url: str | None = None
    #: the run's Ray settings (num_cpus, max_retries): ``remote=True`` tools stay Ray tasks there
    ray_settings: tuple[float, int] | None = None
    #: the driver's machine: a worker elsewhere needs a database both reach (Postgres)
    driver_host: str = ""


def link_here() -> RunLink:
    """The link to the running code's run (in the driver)."""
    from agentloom._paths import loom_home
    from agentloom.storage import database_url

    ctx = tracing.current()
    budget = ctx.budget if ctx is not None else None
    root = budget.root() if budget is not None else None
    executor = executors.current()
    ray = (float(getattr(executor, "num_cpus", 1.0)), int(getattr(executor, "max_retries", 3))) if executor.name == "ray" else None
    return RunLink(
        run_id=ctx.run_id if ctx is not None else "", parent_span=ctx.span_id if ctx is not None else None,
        parent_team=ctx.team if ctx is not None else None, budget_name=root.shared if root is not None else None,
        budget_limits=root.metered_limits() if root is not None else {},
        seconds_left=budget.remaining().get("seconds") if budget is not None else None,
        home=str(loom_home().resolve()), database_url=database_url(), ray_settings=ray, driver_host=socket.gethostname())


async def call_elsewhere(executor: executors.Executor, fn: Callable[..., Awaitable[dict[str, Any]]], job: Any, label: str,
                         budget: Budget | None = None) -> Any:
    """Run ``fn(job, send=...)`` on ``executor`` (see ``Executor.call_async``), which returns
    ``{"value": ..., "spent": Cost dict}``. Its events reach this run's store and listeners as
    they happen, its spend is counted in ``budget`` (default: the run's), and a ``placement``
    event names the node, worker and process that ran it."""
    ctx = tracing.current()

    def deliver(event: Any) -> None:
        tracing.emit_event(event, ctx)

    result, where = await executor.call_async(fn, (job,), relay_to=deliver if ctx is not None else None)
    charged = budget if budget is not None else ctx.budget if ctx is not None else None
    if charged is not None:
        charged.absorb(Cost(**{k: v for k, v in result["spent"].items() if k != "tokens"}))
    tracing.emit("placement", label, data={"what": "branch", **where.as_data()}, ctx=ctx)
    return result["value"]


# ------------------------------------------------------------------ the worker's side

_roots: OrderedDict[tuple[str, str], Budget] = OrderedDict()
_roots_lock = threading.Lock()


def _root(link: RunLink, name: str) -> Budget:
    """The run's budget as this worker holds it (one per run: its holds renew together)."""
    key = (link.home, link.run_id)
    with _roots_lock:
        found = _roots.get(key)
        if found is None:
            shared = link.budget_name if any(v is not None for v in link.budget_limits.values()) else None
            found = _roots[key] = Budget.from_limits({**link.budget_limits, "shared": shared}, name=name)
            found.on_charge(tracing.ledger_sink(tracing.RunContext(run_id=link.run_id)))
            while len(_roots) > KEEP_RUNS:
                _roots.popitem(last=False)
        else:
            _roots.move_to_end(key)
        return found


def join_stores(link: RunLink, label: str) -> None:
    """Point this worker at the driver's stores (or refuse, in one line, when it cannot reach them)."""
    import os

    from agentloom._paths import set_home
    from agentloom.storage import ENV

    if not link.database_url and link.driver_host and link.driver_host != socket.gethostname():
        raise ConfigError(f"{label} ran on {socket.gethostname()}, another machine than the run's ({link.driver_host}), "
                          "but the run keeps its budget and memory in SQLite files there; point every machine at one "
                          "database: AGENTLOOM_DATABASE_URL=postgresql://...")
    set_home(link.home)  # exactly the driver's stores: a host serves one run after another
    if link.database_url:
        os.environ[ENV] = link.database_url
    else:
        os.environ.pop(ENV, None)


@contextmanager
def entered(link: RunLink, label: str, send: Callable[[Any], None] | None, *, memory: Any = None,
            budget_name: str = "root", limits: dict[str, float | None] | None = None) -> Iterator[Budget]:
    """The body runs inside the driver's run: under its span and team, on a child of its budget
    (``limits`` on top of the run's seconds left; the child's spend is what to send back), with
    its events going to ``send``. Call ``join_stores`` first."""
    budget = _root(link, budget_name).child(label, **{**(limits or {}), "seconds": link.seconds_left})
    ctx = tracing.RunContext(run_id=link.run_id, store=None, budget=budget, team=link.parent_team, span_id=link.parent_span,
                             memory=memory, listeners=[send] if send is not None else [])
    here: executors.Executor = executors.LocalExecutor()
    if link.ray_settings is not None:
        here = executors.executor_for("ray", num_cpus=link.ray_settings[0], max_retries=link.ray_settings[1])
    with tracing.use(ctx), executors.use(here):
        yield budget

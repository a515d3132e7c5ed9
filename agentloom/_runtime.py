"""``run_scope``: start a recorded run (or a nested span of the current one) around some work.

Agents, graphs and research all run through it, so every run gets the same run-store record,
budget ledger and context, and a run nested inside another records into its parent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from agentloom import observability, remote_run, tracing
from agentloom.budget import Budget, Cost
from agentloom.errors import BudgetExceeded, RunInterrupted
from agentloom.runstore import RunStore, new_run_id
from agentloom.tracing import Listener

__all__ = ["RunScope", "carry_over_usage", "run_scope"]


@dataclass
class RunScope:
    """The handle a run body fills in: ``output``, ``status``, ``meta`` are written at the end."""

    ctx: tracing.RunContext
    budget: Budget
    nested: bool
    output: Any = None
    status: str = "ok"
    meta: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] | None = None

    @property
    def run_id(self) -> str:
        return self.ctx.run_id


@asynccontextmanager
async def run_scope(
    kind: str,
    name: str,
    input: Any,
    *,
    budget: Budget | None = None,
    run_id: str | None = None,
    store: RunStore | None = None,
    team: str | None = None,
    memory: Any = None,
    listeners: list[Listener] | None = None,
    resume: bool = False,
    carry_over: bool = True,
) -> AsyncIterator[RunScope]:
    """A top-level run (new record in the store) or, inside a run, a child span with a child
    budget. The run's final status is ``scope.status`` unless the body raises. ``resume``
    continues the recorded run ``run_id``; with ``carry_over`` its earlier spend and run time
    (not the pause) are charged to ``budget`` first, so limits, usage and wall time count the
    whole run."""
    parent = tracing.current()
    if parent is not None and run_id is None:
        child_budget = budget if budget is not None else (parent.budget.child(name) if parent.budget else Budget(name=name))
        with tracing.span(kind, name, team=team) as ctx:
            ctx.budget = child_budget
            if memory is not None:
                ctx.memory = memory
            yield RunScope(ctx, child_budget, nested=True)
        return

    own_store = store is None
    store = store or RunStore()
    budget = budget if budget is not None else Budget()
    if resume and run_id is not None:
        remote_run.share_if_remote(budget, run_id)  # its branches and threads on other processes charge it too
        before = store.resume_run(run_id)
        if carry_over:
            carry_over_usage(budget, before.usage)
    else:
        run_id = run_id or new_run_id()
        remote_run.share_if_remote(budget, run_id)
        run_id = store.create_run(kind, name=name, input=input, run_id=run_id)
    assert run_id is not None
    listeners = list(listeners or [])
    traced = observability.run_listener()  # OpenTelemetry, when on: one more consumer of the events
    if traced is not None:
        listeners.append(traced)
    ctx = tracing.RunContext(run_id=run_id, store=store, budget=budget, team=team, memory=memory, listeners=listeners)
    detach_ledger = budget.on_charge(tracing.ledger_sink(ctx))
    scope = RunScope(ctx, budget, nested=False)
    started = tracing.emit("run_started", name, data={"kind": kind, "input": input, "resume": resume}, ctx=ctx)
    status, error = scope.status, None
    try:
        with tracing.use(ctx):
            yield scope
    except BudgetExceeded as exc:
        status, error = "budget_exhausted", exc.one_line()
        store.finish_run(run_id, status, output=scope.output, usage=_usage(budget, scope), error=error, meta=scope.meta)
        raise
    except (asyncio.CancelledError, KeyboardInterrupt, RunInterrupted):
        status, error = "interrupted", "interrupted"
        store.finish_run(run_id, status, output=scope.output, usage=_usage(budget, scope), error=error, meta=scope.meta)
        raise
    except BaseException as exc:
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        store.finish_run(run_id, status, output=scope.output, usage=_usage(budget, scope), error=error, meta=scope.meta)
        raise
    else:
        status = scope.status
        store.finish_run(run_id, status, output=scope.output, usage=_usage(budget, scope), meta=scope.meta)
    finally:
        tracing.emit("run_finished", name, start=started.start if started else None, status=status, error=error,
                     data={"kind": kind, "usage": _usage(budget, scope), "remaining": budget.left()}, span_id=started.span_id if started else None, ctx=ctx)
        detach_ledger()  # a budget shared by later runs must not log into this one
        if traced is not None:  # a short CLI run must not exit with its spans still queued
            await asyncio.to_thread(observability.flush, observability.RUN_END_FLUSH_S)
        if own_store:  # closing waits for the queued writes: off the event loop
            await asyncio.to_thread(store.close)


def carry_over_usage(budget: Budget, usage: dict[str, Any] | None) -> None:
    """Charge what a run recorded before it stopped (``usage``) to ``budget``, and start its clock
    that much earlier, so a resumed run's limits and wall time count the run, not the pause. A
    shared budget already holds that spend in its database: only the clock moves."""
    if not usage:
        return
    prior = Cost(usd=float(usage.get("usd") or 0.0), input_tokens=int(usage.get("input_tokens") or 0),
                 output_tokens=int(usage.get("output_tokens") or 0), llm_calls=int(usage.get("llm_calls") or 0),
                 tool_calls=int(usage.get("tool_calls") or 0))
    if budget.shared is None and (prior.tokens or prior.usd or prior.llm_calls or prior.tool_calls):
        # settled, not reserved: spend already made is recorded even past a limit (the run then
        # stops at its first call, as a budget stop, unless it was resumed with a higher limit)
        budget.settle(budget.reserve(Cost(), what="resume"), prior)
    wall = usage.get("wall_s")
    if isinstance(wall, int | float) and wall > 0:
        budget.started -= float(wall)


def _usage(budget: Budget, scope: RunScope) -> dict[str, Any]:
    if scope.usage is not None:
        return scope.usage
    return budget.spent.to_dict() | {"wall_s": round(budget.elapsed(), 4)}

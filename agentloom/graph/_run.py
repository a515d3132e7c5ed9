"""Run a graph durably: LangGraph checkpoints go to ``<home>/checkpoints.db`` through
the storage backend's checkpointer with the run id as the thread id, inside ``run_scope`` so the run store
records it like any other run. ``resume=True`` continues from the last checkpoint: tasks whose
writes were saved are not run again, nor are map branches recorded in ``branches.db``; a run killed
before its first checkpoint starts afresh from the inputs the run store recorded."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentloom import executors, tracing
from agentloom._paths import loom_home
from agentloom._runtime import run_scope
from agentloom.budget import Budget
from agentloom.citations import Citation
from agentloom.errors import AgentloomError, ConfigError, RunNotFoundError
from agentloom.events import Event, ToolResult
from agentloom.graph import _branches
from agentloom.graph._approval_run import approval_resume, waiting_result, with_approve
from agentloom.graph._interp import lookup
from agentloom.graph._resources import LazyResources, build_resources, open_mcp, resolve_inputs
from agentloom.graph._state import jsonable
from agentloom.result import Result, UsageSummary
from agentloom.runstore import new_run_id
from agentloom.tracing import Listener

if TYPE_CHECKING:
    from agentloom.graph.builder import Graph
    from agentloom.graph.spec import GraphSpec
    from agentloom.memory.bank import MemoryBank
    from agentloom.models.types import Model
    from agentloom.runstore import RunStore

__all__ = ["run_graph", "checkpoint_path", "executor_of"]


def checkpoint_path() -> Any:
    """Where graph checkpoints live: ``<loom home>/checkpoints.db``."""
    home = loom_home()
    home.mkdir(parents=True, exist_ok=True)
    return home / "checkpoints.db"


def _langgraph_config(spec: GraphSpec, thread_id: str) -> Any:
    from agentloom.graph._compile import recursion_limit

    configurable = dict(spec.config.configurable) if spec.config is not None else {}
    configurable["thread_id"] = thread_id
    config: dict[str, Any] = {"configurable": configurable, "recursion_limit": recursion_limit(spec)}
    if spec.config is not None and spec.config.max_concurrency is not None:
        config["max_concurrency"] = spec.config.max_concurrency
    return config


@dataclass
class _Run:
    """Everything one run needs once its inputs, budget and resources are settled."""

    graph: Graph
    inputs: dict[str, Any]
    budget: Budget
    resources: Any
    thread_id: str
    nested: bool
    resume: bool
    store: RunStore | None
    listeners: list[Listener]
    hits: int = 0
    afresh: bool = False  # resumed, but killed before its first checkpoint: start from the inputs
    decision: Any = None  # a person's answer to the gates the run waits at
    model: Any = None

    def count_hits(self, event: Event) -> None:
        if isinstance(event, ToolResult) and event.status in ("cached", "coalesced"):
            self.hits += 1


async def run_graph(
    graph: Graph,
    inputs: Mapping[str, Any] | None,
    *,
    budget: Budget | None = None,
    run_id: str | None = None,
    model: str | Model | None = None,
    resume: bool = False,
    store: RunStore | None = None,
    listeners: list[Listener] | None = None,
    memory: MemoryBank | None = None,
    executor: str | executors.Executor | None = None,
    approve: Any = None,
    decision: Any = None,
) -> Result:
    """See :meth:`agentloom.Graph.run`. ``decision`` answers the gates a waiting run waits at
    (see ``agentloom.approvals``)."""
    from agentloom.storage import backend, prefer_database

    if approve is not None:
        graph = with_approve(graph, approve)
    spec = graph.spec
    prefer_database(spec.database_url())  # unless the process chose one (env, --database-url)
    if resume and not run_id:
        raise ConfigError("resuming needs the run id: --resume RUN_ID (see `loom runs list`)")
    nested = tracing.current() is not None and run_id is None
    thread_id = run_id or new_run_id()
    db = checkpoint_path()
    config = _langgraph_config(spec, thread_id)
    afresh = False
    async with backend().checkpointer(db) as saver:
        if resume:
            saved = await saver.aget_tuple(config)
            if saved is None:
                values, afresh = _recorded_inputs(store, thread_id, db), True
            else:
                values = saved.checkpoint.get("channel_values", {})
            resolved = {k: values[k] for k in spec.inputs if values.get(k) is not None}
            if inputs:
                changed = sorted(k for k, v in inputs.items() if resolved.get(k) != v)
                if changed:
                    raise ConfigError(f"a resumed run keeps its inputs; drop --input {', '.join(changed)} or start a new run")
        else:
            resolved = resolve_inputs(spec, inputs, graph.base_dir)
        if budget is None:
            budget = Budget.from_limits(spec.budget.limits() if spec.budget is not None else {}, name=spec.name)
        resources = await asyncio.to_thread(
            build_resources, spec, resolved, graph.refs, graph.base_dir, model_override=model, run_id=thread_id, memory=memory
        )
        chosen = executor_of(spec, executor)
        run = _Run(graph, resolved, budget, resources, thread_id, nested, resume, store, list(listeners or []), afresh=afresh,
                   decision=decision, model=model)
        try:
            with executors.use(chosen):
                return await _execute(run, saver, config)
        finally:
            if memory is None and resources.memory is not None and hasattr(resources.memory, "close"):
                resources.memory.close()


def executor_of(spec: GraphSpec, given: str | executors.Executor | None) -> executors.Executor:
    """The run's executor (see ``executors.select``), with the spec's ``executor:`` settings. Ray
    re-runs a task whose worker died up to ``executor.max_retries`` times, else within the run's
    retry policy (``config.retry.max_attempts`` - 1), else 3 times."""
    block = spec.executor
    retries = block.max_retries if block is not None else None
    if retries is None and spec.config is not None and spec.config.retry is not None:
        retries = spec.config.retry.max_attempts - 1
    return executors.select(given, kind=block.kind if block else None, address=block.address if block else None,
                            num_cpus=block.num_cpus if block else None, max_retries=retries,
                            hosts=block.hosts if block else None)


def _recorded_inputs(store: RunStore | None, run_id: str, db: Any) -> dict[str, Any]:
    """The inputs the run store recorded for a run killed before its first checkpoint (it is
    then started afresh under the same id)."""
    from agentloom.runstore import RunStore

    try:
        record = (store or RunStore()).get_run(run_id)
    except RunNotFoundError:
        raise RunNotFoundError(f"run '{run_id}' has no graph checkpoint in {db} and no record; was it started with `loom run`?") from None
    recorded = record.input.get("inputs") if isinstance(record.input, Mapping) else None
    if record.kind != "graph" or not isinstance(recorded, Mapping):
        raise RunNotFoundError(f"run '{run_id}' has no graph checkpoint in {db}; was it started with `loom run`?")
    return dict(recorded)


async def _execute(run: _Run, saver: Any, config: Any) -> Result:
    """The run itself, inside ``run_scope`` (so the run store records it)."""
    from agentloom.graph._compile import compile_graph

    spec = run.graph.spec
    durability = spec.config.durability if spec.config is not None else "sync"
    async with run_scope(
        "graph",
        spec.name,
        {"inputs": run.inputs},  # whether it was resumed is in the record's meta (``resumed``, ``pauses``)
        budget=run.budget,
        run_id=None if run.nested else run.thread_id,
        store=run.store,
        memory=run.resources.memory,
        listeners=[*run.listeners, run.count_hits],
        resume=run.resume,
        carry_over=run.decision is None,  # an approval's answer charges the spend before its pause itself
    ) as scope, open_mcp(run.resources):  # the run owns its MCP sessions; their errors are recorded in it
        if run.nested:
            scope.ctx.listeners.extend([*run.listeners, run.count_hits])
        lazy = LazyResources(spec, run.graph.refs, run.graph.base_dir, ready=run.resources, model_override=run.model)
        app = compile_graph(spec, lazy, checkpointer=saver)
        value: Any = None if run.resume and not run.afresh else run.inputs
        start_at = None
        if run.decision is not None:
            value = await approval_resume(app, config, run.decision, scope.budget, run.store, run.thread_id)
        elif run.resume and not run.afresh:
            start_at = await _budget_restart(app, config)
        from agentloom.graph._approval import tool_gate
        from agentloom.tools.gate import use_gate

        with use_gate(tool_gate(spec.approve)):
            final = await _invoke(app, value, start_at or config, durability, run.thread_id)
        if final.get("__interrupt__"):
            result = await waiting_result(run, scope, final, app, config)
            scope.status = "waiting"
            return result
        result = build_result(spec, final, scope.budget, run.hits, run_id=run.thread_id)
        result = result.with_(meta={"resumed": run.resume, **({"continued_after_budget_stop": True} if start_at is not None else {})})
        scope.output = jsonable(result.output)
        scope.status = "denied" if result.stop_reason == "denied" else "budget_exhausted" if result.budget_limited else "ok"
        scope.usage = result.usage.to_dict()
        scope.meta = {"graph": spec.name, "stop_reason": result.stop_reason, **result.meta}
    if not result.budget_limited:
        await _branches.forget(run.thread_id)
    return result


async def _budget_restart(app: Any, config: Any) -> Any:
    """For a run that finished because its budget ran out: the config of the last checkpoint
    before the budget was hit, so resuming (with a higher limit) redoes what the budget cut
    short and everything after it. None when the run was killed (LangGraph resumes it as is)
    or finished normally."""
    from agentloom.graph._compile import FLAGS

    current = await app.aget_state(config)
    if current.next or not (current.values.get(FLAGS) or {}).get("budget_exhausted"):
        return None
    async for snapshot in app.aget_state_history(config):
        if snapshot.next and not (snapshot.values.get(FLAGS) or {}).get("budget_exhausted"):
            tracing.emit("resume", "budget_restart", data={"checkpoint_id": snapshot.config["configurable"].get("checkpoint_id"),
                                                             "next": list(snapshot.next)})
            return {**config, "configurable": {**config["configurable"], **snapshot.config["configurable"]}}
    return None


async def _invoke(app: Any, value: Any, config: Any, durability: str, run_id: str) -> dict[str, Any]:
    """``app.ainvoke`` with LangGraph's own failures turned into one-line agentloom errors."""
    from langgraph.errors import GraphRecursionError, NodeTimeoutError

    try:
        final: dict[str, Any] = await app.ainvoke(value, config, durability=durability)
        return final
    except AgentloomError:
        raise
    except GraphRecursionError:
        limit = config.get("recursion_limit")
        raise ConfigError(
            f"the graph ran {limit} steps without finishing; raise config.recursion_limit or lower a loop's limit"
        ) from None
    except NodeTimeoutError as exc:
        raise AgentloomError(
            f"{_task_of(exc)} timed out ({exc}); raise its timeout: or add retry:, then continue with --resume {run_id}"
        ) from exc
    except Exception as exc:
        message = " ".join(str(exc).split())[:300]
        raise AgentloomError(
            f"{_task_of(exc)} failed: {type(exc).__name__}: {message}; fix it and continue with --resume {run_id}"
        ) from exc


def _task_of(exc: BaseException) -> str:
    for note in getattr(exc, "__notes__", []) or []:
        found = re.search(r"During task with name '([^']+)'", note)
        if found:
            return f"node '{found.group(1)}'"
    return "a node"


def _terminal_output(spec: GraphSpec, state: Mapping[str, Any], trail: list[str]) -> Any:
    for name in reversed(trail):
        if state.get(name) is not None:
            return state[name]
    for name in reversed(list(spec.nodes)):
        if state.get(name) is not None:
            return state[name]
    return None


def _collect_citations(value: Any, found: dict[str, Citation], depth: int = 0) -> None:
    if depth > 12:
        return
    if isinstance(value, Mapping):
        items = value.get("citations")
        if isinstance(items, list):
            for item in items:
                if isinstance(item, Mapping) and isinstance(item.get("id"), str) and item["id"] not in found:
                    found[item["id"]] = Citation.from_dict(item)
        for key, v in value.items():
            if key not in ("citations", "passages", "candidates", "verdicts"):
                _collect_citations(v, found, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _collect_citations(v, found, depth + 1)


def build_result(spec: GraphSpec, state: Mapping[str, Any], budget: Budget, memory_hits: int, *, run_id: str) -> Result:
    """The run's ``Result`` from its final state: declared outputs (else the last node's
    output), the citations they carry, usage, and whether the budget cut the run short."""
    from agentloom.graph._compile import FLAGS

    flags = state.get(FLAGS) or {}
    trail = [str(n) for n in flags.get("trail", [])]
    scope = {k: v for k, v in state.items() if not str(k).startswith("loom_")}
    output: Any
    if spec.outputs:
        output = {name: jsonable(lookup(scope, o.from_.strip("{} "))) for name, o in spec.outputs.items()}
    else:
        output = jsonable(_terminal_output(spec, state, trail))
    found: dict[str, Citation] = {}
    _collect_citations(output, found)
    for o in spec.outputs.values():  # an output read from a node field (write.markdown) cites what the node cites
        _collect_citations(scope.get(o.from_.strip("{} ").split(".", 1)[0]), found)
    limited = bool(flags.get("budget_exhausted"))
    meta: dict[str, Any] = {"graph": spec.name, "nodes_run": trail}
    for name, node in spec.nodes.items():
        value = state.get(name)
        if node.kind == "planner" and isinstance(value, Mapping) and isinstance(value.get("branches"), list):
            meta.setdefault("width", len(value["branches"]))
            meta.setdefault("depth", len(value.get("rounds") or []) + 1)
            meta.setdefault("plan_reason", value.get("reason"))
    from agentloom.graph._approval import approvals_meta

    meta.update(approvals_meta(flags, budget))
    if limited:
        meta["budget_stops"] = flags.get("budget_reason", [])
    if flags.get("branch_failures"):
        meta["branch_failures"] = list(flags["branch_failures"])
    return Result(
        output=output,
        usage=UsageSummary.from_budget(budget, memory_hits=memory_hits),
        citations=list(found.values()),
        run_id=run_id,
        budget_limited=limited,
        partial=limited or bool(flags.get("denied")),
        stop_reason="denied" if flags.get("denied") else "budget" if limited else "done",
        meta=meta,
    )

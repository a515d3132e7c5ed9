"""Spec → LangGraph ``StateGraph``.

The state is a ``TypedDict`` with one channel per run input and per node (the node's output,
plain JSON), plus three bookkeeping channels with reducers: ``loom_branches`` (map branch
outputs by index), ``loom_loops`` (how often each limited edge was taken) and ``loom_flags``
(budget exhaustion). A ``map`` node becomes three LangGraph nodes: ``name`` (reads the items),
``name.branch`` (one ``Send`` task per item, each checkpointed on its own) and ``name.join``
(gathers the outputs in item order). A limited edge goes through a ``loop.N`` node that counts.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, TypedDict, TypeVar

from agentloom import executors, remote_run, tracing
from agentloom.errors import (
    AgentloomError,
    ApprovalDenied,
    BranchesFailed,
    BudgetExceeded,
    ConfigError,
    ModelError,
    RunInterrupted,
    ToolError,
    UsageError,
)
from agentloom.graph import _approval, _branches, _interp, _remote_branch
from agentloom.graph._nodes import execute
from agentloom.graph._resources import LazyResources, Resources
from agentloom.graph._state import add_counts, jsonable, last, merge_branches, merge_flags
from agentloom.graph._validate import END as SPEC_END
from agentloom.graph._validate import START as SPEC_START
from agentloom.graph.spec import Condition, EdgeSpec, GraphSpec, MapNode, RetrySpec, TimeoutSpec

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig
    from langgraph.graph.state import CompiledStateGraph

__all__ = ["compile_graph", "recursion_limit", "BRANCHES", "LOOPS", "FLAGS"]

BRANCHES, LOOPS, FLAGS = "loom_branches", "loom_loops", "loom_flags"
T = TypeVar("T")
ITEM, INDEX = "loom_item", "loom_index"


def state_type(spec: GraphSpec) -> type:
    """The graph's state ``TypedDict``: a channel per input and node, plus bookkeeping."""
    fields: dict[str, Any] = {name: Annotated[Any, last] for name in [*spec.inputs, *spec.nodes]}
    fields[BRANCHES] = Annotated[dict, merge_branches]
    fields[LOOPS] = Annotated[dict, add_counts]
    fields[FLAGS] = Annotated[dict, merge_flags]
    return TypedDict(f"{spec.name.replace('-', '_')}_state", fields, total=False)  # type: ignore[operator]


def _retryable(exc: BaseException) -> bool:
    """Retry transient failures (model/tool errors, timeouts, I/O); never user errors or budget."""
    if isinstance(exc, AgentloomError):
        return isinstance(exc, ModelError | ToolError)
    from langgraph.types import default_retry_on

    return isinstance(exc, Exception) and bool(default_retry_on(exc))


#: A map branch that failed; the join leaves it out and the failure is in the run's flags.
_FAILED = "loom:branch-failed"


async def _with_retries(spec: RetrySpec | None, attempt: Callable[[], Awaitable[T]]) -> T:
    """``attempt()`` under a node's retry spec, for agentloom's own retryable errors: a map branch
    catches its final failure itself, so LangGraph's retry policy never sees these."""
    tries = spec.max_attempts if spec is not None else 1
    for number in range(1, tries + 1):
        try:
            return await attempt()
        except AgentloomError as exc:
            if number >= tries or spec is None or not _retryable(exc):
                raise
            wait = min(spec.max_interval, spec.initial_interval * spec.backoff_factor ** (number - 1))
            await asyncio.sleep(wait * (0.5 + random.random()) if spec.jitter else wait)
    raise AssertionError("unreachable")


def _retry(spec: RetrySpec | None) -> Any:
    if spec is None:
        return None
    from langgraph.types import RetryPolicy

    return RetryPolicy(
        initial_interval=spec.initial_interval,
        backoff_factor=spec.backoff_factor,
        max_interval=spec.max_interval,
        max_attempts=spec.max_attempts,
        jitter=spec.jitter,
        retry_on=_retryable,
    )


def _timeout(spec: float | TimeoutSpec | None) -> Any:
    if spec is None:
        return None
    from langgraph.types import TimeoutPolicy

    if isinstance(spec, TimeoutSpec):
        return TimeoutPolicy(run_timeout=spec.run, idle_timeout=spec.idle)
    return TimeoutPolicy(run_timeout=float(spec))


def recursion_limit(spec: GraphSpec) -> int:
    """Supersteps a run may take: the configured limit, else enough for every loop's limit."""
    if spec.config is not None and spec.config.recursion_limit is not None:
        return spec.config.recursion_limit
    steps = sum(3 if isinstance(n, MapNode) else 1 for n in spec.nodes.values()) + 2
    loops = sum(e.limit or 0 for e in spec.edges or [])
    return max(25, steps * (1 + loops) * 2)


class _Builder:
    def __init__(self, spec: GraphSpec, resources: LazyResources) -> None:
        self.spec = spec
        self.resources = resources
        self.node_names = list(spec.nodes)

    # ------------------------------------------------------------------ scope
    def scope(self, state: Mapping[str, Any], inputs: Mapping[str, Any]) -> dict[str, Any]:
        scope: dict[str, Any] = dict(inputs)
        for name in self.node_names:
            if name in state:
                scope[name] = state[name]
        return scope

    async def setup(self, state: Mapping[str, Any], config: Mapping[str, Any] | None) -> tuple[dict[str, Any], Resources]:
        inputs = self.resources.inputs_from(state)
        configurable = (config or {}).get("configurable", {}) if isinstance(config, Mapping) else {}
        run_id = configurable.get("thread_id") if isinstance(configurable, Mapping) else None
        return inputs, await self.resources.get(inputs, run_id=str(run_id) if run_id else None)

    def _configurable(self, config: Any) -> dict[str, Any]:
        conf = config.get("configurable", {}) if isinstance(config, Mapping) else {}
        return {k: v for k, v in conf.items() if not str(k).startswith("__") and k not in ("thread_id", "checkpoint_ns", "checkpoint_id")}

    # ------------------------------------------------------------------ node functions
    async def _run(self, node: Any, name: str, scope: Mapping[str, Any], res: Resources, *, team: str | None,
                   partial: bool, config: Any, branch: bool = False) -> tuple[Any, dict[str, Any]]:
        """Run a node in its own span (and child budget, if it declares one); budget
        exhaustion becomes a flag, not an exception. ``branch``: a map branch, which a function
        node runs on the run's executor."""
        flags: dict[str, Any] = {}
        ctx = tracing.current()
        started = time.time()
        with tracing.span("node", name, team=team, node_kind=node.kind) as span_ctx:
            if node.budget is not None and ctx is not None and ctx.budget is not None:
                span_ctx.budget = ctx.budget.child(name, **node.budget.limits())
            if res.memory is not None and span_ctx.memory is None:
                span_ctx.memory = res.memory
            try:
                with _approval.collect() as approved:
                    cost = await _approval.branch_cost(self.spec, name, node, res) if node.kind == "planner" else None
                    output, limited = await execute(
                        node, name, scope, res, team=team, config=self._configurable(config), partial=partial, remote=branch,
                        branch_cost=cost,
                    )
                if approved:
                    flags["approvals"] = approved
            except BudgetExceeded as exc:
                output, limited = None, True
                flags["budget_reason"] = [f"{name}: {exc.one_line()}"]
            except ApprovalDenied as exc:  # a person refused a tool call: the run ends with what it found
                output, limited = None, False
                flags.update(denied=[exc.record], approvals=[exc.record])
        if limited:
            flags["budget_exhausted"] = True
            flags["stopped_at"] = [name]
        tracing.emit("graph_node", name, start=started, data={"kind": node.kind, "team": team, "budget_limited": limited})
        return output, flags

    def plain_node(self, name: str, node: Any) -> Callable[..., Any]:
        async def run_node(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
            gate = _approval.spend_gate(self.spec.approve, state, name)
            inputs, res = await self.setup(state, config)
            if _approval.denied(state) or gate.get("denied"):
                output, _ = await _approval.run_denied(node, name, self.scope(state, inputs), res)
                return {name: output, FLAGS: {**gate, "trail": [name]}}
            partial = bool((state.get(FLAGS) or {}).get("budget_exhausted"))
            output, flags = await self._run(node, name, self.scope(state, inputs), res, team=None, partial=partial, config=config)
            return {name: output, FLAGS: {**gate, **flags, "trail": [name]}}

        run_node.__name__ = f"node_{name}"
        return run_node

    def map_dispatch(self, name: str, node: MapNode) -> tuple[Callable[..., Any], Callable[..., Any]]:
        refs = self._body_refs(node)

        async def dispatch(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
            more = None
            if self.spec.approve is not None and self.spec.approve.spend_over is not None and not _approval.denied(state):
                more = await self._projection(node, state, config)
            gate = _approval.spend_gate(self.spec.approve, state, name, more)
            return {BRANCHES: {name: None}, **({FLAGS: gate} if gate else {})}

        def fan_out(state: dict[str, Any]) -> Any:
            from langgraph.types import Send

            inputs = self.resources.inputs_from(state)
            scope = self.scope(state, inputs)
            items = [] if _approval.denied(state) else self._items(name, node, scope)
            if not items:
                return [f"{name}.join"]
            shared = {k: scope[k] for k in refs if k in scope}
            return [Send(f"{name}.branch", {**shared, **inputs, ITEM: item, INDEX: i}) for i, item in enumerate(items)]

        return dispatch, fan_out

    def _items(self, name: str, node: MapNode, scope: Mapping[str, Any]) -> list[Any]:
        if node.items is not None:
            items: Any = _interp.render(node.items, scope)
        else:
            assert node.over is not None
            items = _interp.render("{" + node.over.strip("{} ") + "}", scope)
        if items is None:
            items = []
        if isinstance(items, str):
            raise ConfigError(f"map '{name}': over {node.over} is a string, not a list; point it at a list such as plan.branches")
        if isinstance(items, Mapping):
            items = list(items.values())
        if not isinstance(items, list):
            raise ConfigError(f"map '{name}': over {node.over} is a {type(items).__name__}, not a list")
        if node.max_items is not None:
            cap = _interp.render(node.max_items, scope)
            if isinstance(cap, str) and cap.strip().isdigit():
                cap = int(cap)
            if not isinstance(cap, int) or isinstance(cap, bool):
                raise ConfigError(f"map '{name}': max_items is {cap!r}, not a whole number")
            items = items[: max(0, cap)]
        return items

    async def _projection(self, node: MapNode, state: Mapping[str, Any], config: Any) -> dict[str, Any] | None:
        """The projected cost of this fan-out and what follows, when it fans out over a planner's plan."""
        head = (node.over or "").strip("{} ").split(".", 1)[0]
        planner = self.spec.nodes.get(head)
        plan = state.get(head)
        if planner is None or not _approval.gated_planner(planner) or not isinstance(plan, Mapping):
            return None
        seen = await _approval.measure(self.spec, head, (await self.setup(state, config))[1])
        return _approval.project(plan, planner, _approval._root_budget(), **seen)

    def _body_refs(self, node: MapNode) -> set[str]:
        """Node outputs a map body reads (only these travel with each branch's Send)."""
        found: set[str] = set()
        for _path, text in _interp.strings(node.node.model_dump(mode="json")):
            for placeholder in _interp.placeholders(text):
                found.add(placeholder.split(".", 1)[0])
            head = text.strip("{} ").split(".", 1)[0]
            found.add(head)
        return {f for f in found if f in self.spec.nodes}

    def map_branch(self, name: str, node: MapNode) -> Callable[..., Any]:
        body = node.node
        retry = node.retry or (self.spec.config.retry if self.spec.config is not None else None)

        async def branch(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
            key = _branches.branch_key(config, name, int(state[INDEX]), state)
            done = await _branches.recorded(key) if key is not None else None
            if done is not None:  # finished before a kill: never run a branch (and its side effects) twice
                return done
            update = await run_branch(state, config)
            flags = update.get(FLAGS) or {}
            if key is not None and not flags.get("branch_failures") and not flags.get("budget_exhausted"):
                await _branches.record(key, update)
            return update

        async def run_branch(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
            index = int(state[INDEX])
            inputs, res = await self.setup(state, config)
            scope = self.scope(state, inputs)
            scope["item"] = state.get(ITEM)
            scope["index"] = index
            team = _interp.render(node.team, scope) if node.team else f"{name}-{index}"
            executor = executors.current()
            remote = executor.remote and _remote_branch.eligible(self.spec, res, body.kind)
            try:
                if remote:  # its turns run on a worker, which records through the run's database and events
                    job = self._job(body, f"{name}[{index}]", scope, inputs, str(team), config)
                    output, flags = await _with_retries(
                        retry, lambda: remote_run.call_elsewhere(executor, _remote_branch.run_on_worker, job, job.label))
                else:
                    output, flags = await _with_retries(
                        retry, lambda: self._run(body, f"{name}[{index}]", scope, res, team=str(team), partial=False,
                                                 config=config, branch=True))
            except (UsageError, RunInterrupted):
                raise
            except AgentloomError as exc:  # one branch's failure never discards its siblings' results
                failure = {"node": name, "index": index, "item": jsonable(state.get(ITEM)), "error": exc.one_line(),
                           "kind": type(exc).__name__}
                tracing.emit("branch_failed", f"{name}[{index}]", status="error", error=failure["error"])
                return {BRANCHES: {name: {str(index): _FAILED}}, FLAGS: {"branch_failures": [failure]}}
            if executor.remote and body.kind != "function" and not remote:  # its turns ran here; its remote tools say where they ran
                tracing.emit("placement", f"{name}[{index}]", data={"what": "branch", **executor.here().as_data()})
            update: dict[str, Any] = {BRANCHES: {name: {str(index): output}}}
            if flags:
                update[FLAGS] = flags
            return update

        branch.__name__ = f"branch_{name}"
        return branch

    def _job(self, body: Any, label: str, scope: Mapping[str, Any], inputs: Mapping[str, Any], team: str,
             config: Any) -> _remote_branch.BranchJob:
        """A branch as a picklable job for a remote worker (see ``_remote_branch``)."""
        return _remote_branch.BranchJob(
            link=remote_run.link_here(), spec=self.spec, refs=dict(self.resources.refs), base_dir=self.resources.base_dir,
            inputs=dict(inputs), model=self.resources.model_override, node=body, label=label,
            scope=_remote_branch.scope_of(scope), team=team, configurable=self._configurable(config))

    def map_join(self, name: str) -> Callable[..., Any]:
        async def join(state: dict[str, Any]) -> dict[str, Any]:
            results = (state.get(BRANCHES) or {}).get(name) or {}
            ordered = [results[k] for k in sorted(results, key=int)]
            finished = [r for r in ordered if r != _FAILED]
            if ordered and not finished:
                failures = [f for f in (state.get(FLAGS) or {}).get("branch_failures", []) if f.get("node") == name]
                first = failures[0]["error"] if failures else "every branch failed"
                raise BranchesFailed(f"map '{name}': all {len(ordered)} branches failed; the first: {first}")
            return {name: finished, FLAGS: {"trail": [name]}}

        join.__name__ = f"join_{name}"
        return join

    # ------------------------------------------------------------------ edges
    def entry(self, name: str) -> str:
        return name

    def exit(self, name: str) -> str:
        if self.plan_gated(name):
            return f"{name}.approve"
        return f"{name}.join" if isinstance(self.spec.nodes.get(name), MapNode) else name

    def plan_gated(self, name: str) -> bool:
        """Whether planner ``name`` is followed by a plan approval gate."""
        approve = self.spec.approve
        return approve is not None and approve.plan and _approval.gated_planner(self.spec.nodes.get(name))

    def holds(self, cond: Condition, source: str, state: Mapping[str, Any]) -> bool:
        if cond.verdict is not None:
            value = state.get(cond.node or source)
            passed = value.get("passed") if isinstance(value, Mapping) else None
            return {"pass": passed is True, "fail": passed is False, "unverified": passed is None}[cond.verdict]
        assert cond.field is not None
        inputs = self.resources.inputs_from(state)
        value = _interp.render("{" + cond.field.strip("{} ") + "}", self.scope(state, inputs))
        tests = {
            "equals": lambda v, x: v == x,
            "not_equals": lambda v, x: v != x,
            "in_": lambda v, x: v in x,
            "gt": lambda v, x: _num(v) > x,
            "gte": lambda v, x: _num(v) >= x,
            "lt": lambda v, x: _num(v) < x,
            "lte": lambda v, x: _num(v) <= x,
        }
        applied = False
        for attr, test in tests.items():
            expected = getattr(cond, attr)
            if expected is None:
                continue
            applied = True
            try:
                if not test(value, expected):
                    return False
            except TypeError:
                return False
        return applied or bool(value)


def _num(value: Any) -> float:
    if isinstance(value, bool) or value is None:
        raise TypeError("not a number")
    return float(value)


def compile_graph(spec: GraphSpec, resources: LazyResources, *, checkpointer: Any = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The LangGraph graph for ``spec``; its nodes use ``resources`` for models and tools."""
    from langgraph.graph import END, START, StateGraph

    b = _Builder(spec, resources)
    graph: Any = StateGraph(state_type(spec))
    config = spec.config
    if config is not None and (config.retry is not None or config.timeout is not None):
        graph.set_node_defaults(retry_policy=_retry(config.retry), timeout=_timeout(config.timeout))
    for name, node in spec.nodes.items():
        retry, timeout = _retry(node.retry), _timeout(node.timeout)
        if isinstance(node, MapNode):
            dispatch, fan_out = b.map_dispatch(name, node)
            graph.add_node(name, dispatch)
            graph.add_node(f"{name}.branch", b.map_branch(name, node), retry_policy=retry, timeout=timeout)
            graph.add_node(f"{name}.join", b.map_join(name))
            graph.add_conditional_edges(name, fan_out, [f"{name}.branch", f"{name}.join"])
            graph.add_edge(f"{name}.branch", f"{name}.join")
        else:
            graph.add_node(name, b.plain_node(name, node), retry_policy=retry, timeout=timeout)
            if b.plan_gated(name):
                assert spec.approve is not None
                graph.add_node(f"{name}.approve", _approval.plan_gate(name, node, spec.approve, spec, b.setup))
                graph.add_edge(name, f"{name}.approve")

    def target(name: str) -> str:
        return END if name == SPEC_END else b.entry(name)

    if spec.edges is None:
        names = list(spec.nodes)
        graph.add_edge(START, b.entry(names[0]))
        for a, c in zip(names, names[1:], strict=False):
            graph.add_edge(b.exit(a), b.entry(c))
        graph.add_edge(b.exit(names[-1]), END)
        return graph.compile(checkpointer=checkpointer, name=spec.name)

    by_source: dict[str, list[tuple[int, EdgeSpec]]] = {}
    has_out: set[str] = set()
    for i, edge in enumerate(spec.edges):
        sources = edge.sources
        if len(sources) > 1:
            waits = [b.exit(s) for s in sources]
            for t in edge.targets:
                graph.add_edge(waits, target(t))
            has_out.update(sources)
            continue
        by_source.setdefault(sources[0], []).append((i, edge))
        has_out.add(sources[0])
    if SPEC_START not in by_source:
        graph.add_edge(START, b.entry(next(iter(spec.nodes))))
    for source, edges in by_source.items():
        origin = START if source == SPEC_START else b.exit(source)
        routed = [(i, e) for i, e in edges if e.routed]
        plain = [e for _, e in edges if not e.routed]
        if not routed:
            for e in plain:
                for t in e.targets:
                    graph.add_edge(origin, target(t))
            continue
        destinations: set[str] = set()
        for i, e in routed:
            if e.limit is not None:
                loop = f"loop.{i}"
                graph.add_node(loop, _loop_node(loop_key(i, e)))
                for t in e.targets:
                    graph.add_edge(loop, target(t))
                destinations.add(loop)
            else:
                destinations.update(target(t) for t in e.targets)
        fallback = [target(t) for e in plain for t in e.targets] or [END]
        destinations.update(fallback)
        graph.add_conditional_edges(origin, _router(b, source, routed, fallback), sorted(destinations))
    for name in spec.nodes:
        if name not in has_out:
            graph.add_edge(b.exit(name), END)
    return graph.compile(checkpointer=checkpointer, name=spec.name)


def loop_key(index: int, edge: EdgeSpec) -> str:
    return f"{index}:{edge.sources[0]}->{','.join(edge.targets)}"


def _loop_node(key: str) -> Callable[..., Any]:
    async def count(state: dict[str, Any]) -> dict[str, Any]:
        tracing.emit("loop", key, data={"taken": int((state.get(LOOPS) or {}).get(key, 0)) + 1})
        return {LOOPS: {key: 1}}

    return count


def _router(b: _Builder, source: str, routed: list[tuple[int, EdgeSpec]], fallback: list[str]) -> Callable[..., Any]:
    from langgraph.graph import END

    def route(state: dict[str, Any]) -> list[str]:
        flags = state.get(FLAGS) or {}
        loops = state.get(LOOPS) or {}
        for i, edge in routed:
            spent = edge.limit is not None and int(loops.get(loop_key(i, edge), 0)) >= edge.limit
            if edge.limit is not None and (flags.get("budget_exhausted") or flags.get("denied") or spent):
                continue
            if edge.when is not None and not b.holds(edge.when, source, state):
                continue
            if edge.limit is not None:
                return [f"loop.{i}"]
            return [END if t == SPEC_END else t for t in edge.targets]
        return fallback

    return route


def state_output(state: Mapping[str, Any]) -> dict[str, Any]:
    """The state without bookkeeping channels, as JSON data."""
    return {k: jsonable(v) for k, v in state.items() if k not in (BRANCHES, LOOPS, FLAGS)}

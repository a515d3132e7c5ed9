"""``agentloom.Graph``: build a graph spec in Python, or hold one loaded from YAML; compile it to
LangGraph; run it durably.

The fluent methods write the same spec the YAML does, so ``load_graph(path) == graph`` holds
when both describe the same graph, and ``graph.to_yaml()`` round-trips.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from agentloom.errors import SpecError
from agentloom.graph._problems import format_problems
from agentloom.graph.spec import (
    BudgetSpec,
    ConfigSpec,
    EdgeSpec,
    GraphSpec,
    InputSpec,
    MemorySpec,
    ModelSpec,
    NodeSpec,
    OutputSpec,
    ToolSpec,
)

if TYPE_CHECKING:
    from langgraph.graph.state import CompiledStateGraph

    from agentloom.budget import Budget
    from agentloom.events import EventStream
    from agentloom.executors import Executor
    from agentloom.memory.bank import MemoryBank
    from agentloom.models.types import Model
    from agentloom.result import Result
    from agentloom.runstore import RunStore
    from agentloom.tracing import Listener

__all__ = ["Graph"]

_NODE = TypeAdapter(NodeSpec)


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_defaults=True)


class Graph:
    """An agent graph: ``add_*`` methods build it, ``compile()`` gives LangGraph, ``run()`` runs it."""

    def __init__(self, name: str = "graph", *, description: str | None = None) -> None:
        self._data: dict[str, Any] = {"version": 1, "name": name}
        if description is not None:
            self._data["description"] = description
        self.source = f"<graph {name}>"
        self.base_dir = Path.cwd()
        self._spec: GraphSpec | None = None
        self._refs: dict[str, Any] = {}

    @classmethod
    def from_spec(
        cls, spec: GraphSpec, *, source: str | None = None, base_dir: Path | None = None, refs: Mapping[str, Any] | None = None
    ) -> Graph:
        """A graph holding an already validated spec."""
        graph = cls(spec.name)
        graph._data = _dump(spec)
        graph._spec = spec
        graph._refs = dict(refs or {})
        graph.source = source or graph.source
        graph.base_dir = base_dir or Path.cwd()
        return graph

    # ------------------------------------------------------------------ building
    def _part(self, path: tuple[Any, ...], validate: Callable[[Any], Any], data: Any) -> Any:
        """Validate one part now, so a mistake is reported where it is made."""
        from agentloom.graph._pyd_errors import problems_from_errors

        try:
            value = validate(data)
        except ValidationError as exc:
            nested: Any = data
            for part in reversed(path):
                nested = {part: nested}
            errors = [{**err, "loc": (*path, *err["loc"])} for err in exc.errors()]
            found = problems_from_errors(errors, nested, GraphSpec, set())  # type: ignore[arg-type]
            raise SpecError(format_problems([p for p, _ in found], self.source)) from None
        self._spec = None
        return value

    def add_input(
        self,
        name: str,
        type: str = "string",
        *,
        default: Any = None,
        description: str | None = None,
        choices: Sequence[Any] | None = None,
    ) -> Graph:
        """Declare a run input (required unless it has a default)."""
        data: dict[str, Any] = {"type": type, "default": default, "description": description}
        if choices is not None:
            data["choices"] = list(choices)
        spec = self._part(("inputs", name), InputSpec.model_validate, data)
        self._data.setdefault("inputs", {})[name] = _dump(spec)
        return self

    def add_output(self, name: str, source: str, *, description: str | None = None) -> Graph:
        """Declare a run output read from the state path ``source`` (``write.markdown``)."""
        spec = self._part(("outputs", name), OutputSpec.model_validate, {"from": source, "description": description})
        self._data.setdefault("outputs", {})[name] = _dump(spec)
        return self

    def add_model(self, name: str, model: str | None = None, *, ref: str | None = None, **params: Any) -> Graph:
        """Name a model: a litellm string or ``offline`` (or ``ref='module:attr'``), with parameters."""
        data: dict[str, Any] = {"model": model, "ref": ref, "params": params}
        spec = self._part(("models", name), ModelSpec.model_validate, {k: v for k, v in data.items() if v is not None})
        self._data.setdefault("models", {})[name] = _dump(spec)
        return self

    def add_tool(self, name: str, **params: Any) -> Graph:
        """Declare a tool entry: a built-in by name (``calculator``, ``corpus`` with ``paths``...)
        or ``ref='module:attr'``."""
        spec = self._part(("tools", name), ToolSpec.model_validate, params)
        self._data.setdefault("tools", {})[name] = _dump(spec)
        return self

    def set_budget(self, **limits: Any) -> Graph:
        """The run's limits (usd, tokens, seconds, ...), as ``Budget``."""
        spec = self._part(("budget",), BudgetSpec.model_validate, limits)
        self._data["budget"] = _dump(spec)
        return self

    def set_memory(self, *, scope: str | None = None, path: str | None = None, admission: str = "heuristic", **params: Any) -> Graph:
        """Share a memory bank between the graph's agents (map branches are teams); ``params``
        are threshold, ttl, quota_entries and quota_tokens."""
        data: dict[str, Any] = {"scope": scope, "path": path, "admission": admission, **params}
        spec = self._part(("memory",), MemorySpec.model_validate, {k: v for k, v in data.items() if v is not None})
        self._data["memory"] = _dump(spec)
        return self

    def configure(self, **config: Any) -> Graph:
        """LangGraph run settings: max_concurrency, recursion_limit, retry, timeout, durability."""
        spec = self._part(("config",), ConfigSpec.model_validate, config)
        self._data["config"] = _dump(spec)
        return self

    def add_node(self, name: str, kind: str, **params: Any) -> Graph:
        """Add a node of ``kind`` (agent, planner, map, verifier, crossover, evolve, writer,
        function) with the parameters of its class."""
        params = {("from" if k == "from_" else k): v for k, v in params.items()}
        spec = self._part(("nodes", name), _NODE.validate_python, {"kind": kind, **params})
        self._data.setdefault("nodes", {})[name] = _dump(spec)
        return self

    def add_edge(self, source: str | Sequence[str], target: str | Sequence[str], *, when: Mapping[str, Any] | None = None,
                 limit: int | None = None) -> Graph:
        """``source`` → ``target`` (START / END allowed); ``when`` makes it conditional and
        ``limit`` caps how often it is taken (every loop needs one)."""
        data: dict[str, Any] = {
            "from": source if isinstance(source, str) else list(source),
            "to": target if isinstance(target, str) else list(target),
        }
        if when is not None:
            data["when"] = {("in" if k == "in_" else k): v for k, v in when.items()}
        if limit is not None:
            data["limit"] = limit
        edges = self._data.setdefault("edges", [])
        spec = self._part(("edges", len(edges)), EdgeSpec.model_validate, data)
        edges.append(_dump(spec))
        return self

    # ------------------------------------------------------------------ the spec
    @property
    def spec(self) -> GraphSpec:
        """The validated spec; ``SpecError`` lists every problem."""
        if self._spec is None:
            self.validate()
        assert self._spec is not None
        return self._spec

    @property
    def name(self) -> str:
        return str(self._data.get("name", "graph"))

    def validate(self) -> GraphSpec:
        """Check the whole graph (names, tools, edges, loops, imports) and return its spec."""
        from agentloom.graph._validate import validate_data

        validation = validate_data(copy.deepcopy(self._data), None, self.base_dir)
        if validation.problems or validation.spec is None:
            raise SpecError(format_problems(validation.problems, self.source) or [f"{self.source}: VALUE invalid spec"])
        self._spec = validation.spec
        self._refs = validation.refs
        return self._spec

    @property
    def refs(self) -> dict[str, Any]:
        """The objects the spec's ``module:attr`` references name."""
        self.spec  # noqa: B018 - validates and imports
        return self._refs

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data, short forms where they exist (what ``to_yaml`` writes)."""
        from agentloom.graph._dump import compact

        return compact(_dump(self.spec))

    def to_yaml(self) -> str:
        """The spec as YAML; loading it gives an equal graph."""
        import yaml

        header = "# agentloom graph spec v1 — check with `loom validate FILE`; schema: `loom schema`\n"
        body = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)
        return header + body

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return self.spec == other.spec

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        nodes = list(self._data.get("nodes", {}))
        return f"Graph({self.name!r}, nodes={nodes})"

    # ------------------------------------------------------------------ using it
    def draw(self) -> str:
        """Mermaid text of the graph (maps drawn with their fan-out, loops with their limits)."""
        from agentloom.graph.draw import to_mermaid

        return to_mermaid(self.spec)

    def compile(self, *, checkpointer: Any = None, model: str | Model | None = None) -> CompiledStateGraph[Any, Any, Any, Any]:
        """A LangGraph ``CompiledStateGraph``. Invoke it with the inputs as state keys
        (``{"question": ...}``); every node's output lands under the node's name. Models, tools
        and memory are set up on first use from the inputs. ``model`` overrides every model."""
        from agentloom.graph._compile import compile_graph
        from agentloom.graph._resources import LazyResources

        resources = LazyResources(self.spec, self.refs, self.base_dir, model_override=model)
        return compile_graph(self.spec, resources, checkpointer=checkpointer)

    async def run(
        self,
        inputs: Mapping[str, Any] | None = None,
        *,
        budget: Budget | None = None,
        run_id: str | None = None,
        model: str | Model | None = None,
        resume: bool = False,
        store: RunStore | None = None,
        listeners: list[Listener] | None = None,
        memory: MemoryBank | None = None,
        executor: str | Executor | None = None,
        approve: Any = None,
    ) -> Result:
        """Run the graph durably (checkpoints in ``<home>/checkpoints.db``; the run id is the
        thread id) and return a :class:`~agentloom.result.Result`. ``resume=True`` continues the
        run ``run_id`` from its last checkpoint; finished branches are not run again. ``executor``
        ("local", "ray" or an ``Executor``) overrides ``$AGENTLOOM_EXECUTOR`` and the spec's ``executor:``.
        ``approve`` (``"plan"``, ``{"spend_over": 0.5}``, ``{"tools": [...]}`` or a list) replaces the
        spec's ``approve:`` gates; a gated run returns ``stop_reason == "waiting"`` (see ``agentloom.approvals``)."""
        from agentloom.graph._run import run_graph

        return await run_graph(
            self, inputs, budget=budget, run_id=run_id, model=model, resume=resume, store=store, listeners=listeners, memory=memory,
            executor=executor, approve=approve,
        )

    def stream(self, inputs: Mapping[str, Any] | None = None, *, maxsize: int = 10_000, **kwargs: Any) -> EventStream[Result]:
        """Run like ``run`` and yield its typed events (``async for event in graph.stream(inputs)``);
        the result is on the stream's ``result`` after the loop."""
        from agentloom.events import stream_run

        extra = list(kwargs.pop("listeners", None) or [])
        return stream_run(lambda listener: self.run(inputs, listeners=[*extra, listener], **kwargs), maxsize=maxsize)

    def run_sync(self, inputs: Mapping[str, Any] | None = None, **kwargs: Any) -> Result:
        """``run`` for synchronous code."""
        import asyncio

        return asyncio.run(self.run(inputs, **kwargs))


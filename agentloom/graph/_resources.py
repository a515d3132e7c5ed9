"""What a graph's nodes use, built once per run from the spec and the run's inputs: the named
models, the tools, and the shared memory bank. ``${env:VAR}`` is resolved here, at run time."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentloom.errors import ConfigError
from agentloom.graph import _interp
from agentloom.graph.spec import CacheSpec, GraphSpec, InputSpec, MemorySpec, ModelSpec, ToolSpec, type_fits
from agentloom.models.types import Model

__all__ = ["LazyResources", "Resources", "build_resources", "open_mcp", "resolve_inputs"]


@dataclass
class Resources:
    """Models by name, tools by entry and tool name, and the memory bank (or None)."""

    models: dict[str, Any]
    default_model: Any
    tools: dict[str, list[Any]]
    memory: Any = None
    refs: dict[str, Any] = field(default_factory=dict)
    base_dir: Path = field(default_factory=Path.cwd)
    #: MCP entries by key: the (unopened) toolset and its entry; ``open_mcp`` fills ``tools``
    mcp: dict[str, tuple[Any, ToolSpec]] = field(default_factory=dict)

    def model(self, name: str | None) -> Any:
        """The model named ``name`` (None: the default model)."""
        if name is None:
            return self.default_model
        return self.models[name]

    def tools_for(self, names: list[str]) -> list[Any]:
        """The tools for node tool names (an entry name gives all its tools), without repeats."""
        out: dict[str, Any] = {}
        for name in names:
            for tool in self.tools.get(name, []):
                out.setdefault(tool.name, tool)
        return list(out.values())


def _coerce_input(name: str, spec: InputSpec, value: Any, base_dir: Path, *, from_default: bool) -> Any:
    kind = spec.type
    if isinstance(value, str) and kind not in ("string", "path"):
        text = value.strip()
        try:
            if kind == "integer":
                value = int(text)
            elif kind == "number":
                value = float(text)
            elif kind == "boolean":
                lowered = text.lower()
                if lowered not in ("true", "false", "yes", "no", "1", "0", "on", "off"):
                    raise ValueError(text)
                value = lowered in ("true", "yes", "1", "on")
            elif kind == "list":
                value = json.loads(text) if text.startswith("[") else [p.strip() for p in text.split(",") if p.strip()]
            elif kind == "object":
                value = json.loads(text)
        except (ValueError, json.JSONDecodeError):
            raise ConfigError(f"input {name}={value!r} is not a valid {kind}") from None
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not type_fits(kind, value):
        raise ConfigError(f"input {name} must be a {kind}, got {type(value).__name__} {value!r}")
    if spec.choices is not None and value not in spec.choices:
        raise ConfigError(f"input {name}={value!r} is not one of {', '.join(map(repr, spec.choices))}")
    if kind == "path" and isinstance(value, str):
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = (base_dir if from_default else Path.cwd()) / path
        value = str(path)
    return value


def resolve_inputs(spec: GraphSpec, given: Mapping[str, Any] | None, base_dir: Path) -> dict[str, Any]:
    """The run's inputs: given values typed and checked, defaults filled in; unknown or missing
    inputs are a one-line error. A ``path`` default is relative to the spec's folder."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(spec.inputs))
    if unknown:
        from agentloom.graph._problems import suggest

        known = ", ".join(sorted(spec.inputs)) or "none"
        hint = suggest(unknown[0], spec.inputs)
        raise ConfigError(f"unknown input(s) {', '.join(unknown)} for graph '{spec.name}'{hint} (inputs: {known})")
    out: dict[str, Any] = {}
    for name, ispec in spec.inputs.items():
        if name in given and given[name] is not None:
            out[name] = _coerce_input(name, ispec, given[name], base_dir, from_default=False)
        elif ispec.default is not None:
            out[name] = _coerce_input(name, ispec, ispec.default, base_dir, from_default=True)
        else:
            raise ConfigError(f"graph '{spec.name}' needs input '{name}'; pass --input {name}=VALUE")
    return out


# --------------------------------------------------------------------------- models
def _build_model(name: str, mspec: ModelSpec, inputs: Mapping[str, Any], refs: Mapping[str, Any]) -> Any:
    from agentloom.models.resolve import parse_price, resolve_model

    where = f"models.{name}"
    params = _interp.resolve_env(_interp.render(mspec.params, inputs), f"{where}.params")
    rate_limit = None
    if mspec.rate_limits is not None:
        from agentloom.rate_limits import RateLimit

        rate_limit = RateLimit(**mspec.rate_limits.model_dump())
    if mspec.ref is not None:
        obj = refs[mspec.ref]
        if hasattr(obj, "complete"):
            if params:
                raise ConfigError(f"{where}: params cannot be applied to the model object {mspec.ref}; make it a factory")
            return resolve_model(obj, rate_limit=rate_limit)
        if callable(obj):
            return resolve_model(obj(**params), rate_limit=rate_limit)
        raise ConfigError(f"{where}: {mspec.ref} is neither a model nor a function returning one")
    model_name = _interp.resolve_env(_interp.render(mspec.model, inputs), f"{where}.model")
    base_url = _interp.resolve_env(_interp.render(mspec.base_url, inputs), f"{where}.base_url")
    return resolve_model(model_name, base_url=base_url, api_key_env=mspec.api_key_env,
                         price=parse_price(mspec.price, f"{where}.price"), tool_mode=mspec.tool_mode,
                         rate_limit=rate_limit, **params)


# --------------------------------------------------------------------------- tools
def _with_options(tool: Any, tspec: ToolSpec) -> Any:
    from agentloom.tools.base import CachePolicy, Tool

    overrides = {k: getattr(tspec, k) for k in ("timeout", "max_concurrency", "retries") if getattr(tspec, k) is not None}
    cache = tspec.cache
    if cache is None and tspec.cacheable is not None:
        cache = CacheSpec(enabled=tspec.cacheable, ttl=None)
    if not overrides and cache is None:
        return tool
    options = {
        "name": tool.name,
        "description": tool.description,
        "timeout": tool.timeout,
        "max_concurrency": tool.max_concurrency,
        "retries": tool.retries,
        "remote": tool.remote,
        "num_cpus": tool.num_cpus,
        "cache": tool.cache if cache is None else None if not cache.enabled
        else CachePolicy(ttl=cache.ttl) if cache.ttl is not None else (tool.cache or CachePolicy()),
    } | overrides
    rebuilt = Tool(tool.fn, **options)
    rebuilt.cache_scope = tool.cache_scope
    return rebuilt


def _as_tools(obj: Any, where: str) -> list[Any]:
    from agentloom.tools.base import Tool, tool

    if isinstance(obj, Tool):
        return [obj]
    if isinstance(obj, list | tuple):
        return [t for o in obj for t in _as_tools(o, where)]
    if callable(obj):
        return [tool(obj)]
    raise ConfigError(f"{where} is a {type(obj).__name__}, not a tool, a function or a list of them")


def _build_tools(key: str, tspec: ToolSpec, inputs: Mapping[str, Any], refs: Mapping[str, Any], base_dir: Path) -> list[Any]:
    where = f"tools.{key}"
    if tspec.ref is not None:
        return [_with_options(t, tspec) for t in _as_tools(refs[tspec.ref], where)]
    builtin = tspec.builtin or key
    tools: list[Any]
    if builtin == "calculator":
        from agentloom.tools.calculator import calculator

        tools = [calculator]
    elif builtin == "corpus":
        from agentloom.tools.corpus import corpus_tools

        raw_paths = tspec.paths or []
        if not raw_paths:
            raise ConfigError(f"{where} needs paths: [folder, ...] (the corpus to search)")
        paths = []
        for raw in raw_paths:
            rendered = _interp.resolve_env(_interp.render(raw, inputs), where)
            paths.append(str((base_dir / str(rendered)).resolve()) if not Path(str(rendered)).is_absolute() else str(rendered))
        index_path = tspec.index_path
        if index_path is not None:
            rendered_index = str(_interp.resolve_env(_interp.render(index_path, inputs), where))
            index_path = str(base_dir / rendered_index) if not Path(rendered_index).is_absolute() else rendered_index
        tools = corpus_tools(paths, index_path=index_path)
    elif builtin in ("web", "web_search", "http_fetch"):
        from agentloom.tools import web

        provider = _interp.resolve_env(tspec.provider, where) if tspec.provider else None
        allow = tspec.allow_hosts
        if builtin == "http_fetch":
            tools = [web.make_http_fetch(allow)]
        else:
            chosen = web.web_tools(provider, allow_hosts=allow) if builtin == "web" else (
                [web.make_web_search(provider)] if web.configured_provider(provider) is not None else []
            )
            if not chosen:
                if tspec.optional:
                    return []
                raise ConfigError(
                    f"{where}: no web search provider is configured; set SEARXNG_URL or TAVILY_API_KEY, "
                    "or mark the entry optional: true"
                )
            tools = chosen
    else:  # validated away; kept for safety
        raise ConfigError(f"{where}: unknown built-in tool '{builtin}'")
    return [_with_options(t, tspec) for t in tools]


# --------------------------------------------------------------------------- memory
def _build_memory(mspec: MemorySpec, inputs: Mapping[str, Any], run_id: str | None, base_dir: Path) -> Any:
    from agentloom.memory import admission as adm
    from agentloom.memory.bank import MemoryBank

    policy: Any
    if mspec.admission == "all":
        policy = adm.AdmitAll()
    elif mspec.admission == "none":
        policy = adm.AdmitNone()
    elif mspec.admission == "heuristic":
        policy = adm.HeuristicAdmission(threshold=mspec.threshold) if mspec.threshold is not None else adm.HeuristicAdmission()
    else:
        policy = adm.LearnedAdmission(threshold=mspec.threshold)
    path: str | None = None
    if mspec.path is not None:
        rendered = str(_interp.resolve_env(_interp.render(mspec.path, inputs), "memory.path"))
        path = rendered if Path(rendered).is_absolute() else str(base_dir / rendered)
    scope = mspec.scope or ("project" if path is not None else "run")
    task = inputs.get("question") if isinstance(inputs.get("question"), str) else None
    return MemoryBank(
        path,
        scope=scope,
        run_id=run_id if scope == "run" else None,
        policy=policy,
        ttl=mspec.ttl,
        quota_entries=mspec.quota_entries,
        quota_tokens=mspec.quota_tokens,
        task=task,
    )


def build_resources(
    spec: GraphSpec,
    inputs: Mapping[str, Any],
    refs: Mapping[str, Any],
    base_dir: Path,
    *,
    model_override: str | Model | None = None,
    run_id: str | None = None,
    memory: Any = None,
) -> Resources:
    """Models, tools and memory for one run. ``model_override`` replaces every model."""
    from agentloom.models.resolve import resolve_model

    if model_override is not None:
        override = resolve_model(model_override)
        models = {name: override for name in spec.models}
        default = override
    else:
        models = {name: _build_model(name, m, inputs, refs) for name, m in spec.models.items()}
        default = models["default"] if "default" in models else resolve_model(None)
    tools: dict[str, list[Any]] = {}
    mcp: dict[str, tuple[Any, ToolSpec]] = {}
    for key, tspec in spec.tools.items():
        if tspec.mcp is not None:
            mcp[key], tools[key] = (_build_mcp(key, tspec, inputs), tspec), []
            continue
        built = _build_tools(key, tspec, inputs, refs, base_dir)
        tools[key] = built
        for t in built:
            tools.setdefault(t.name, [t])
    bank = memory
    if bank is None and spec.memory is not None:
        bank = _build_memory(spec.memory, inputs, run_id, base_dir)
    return Resources(models=models, default_model=default, tools=tools, memory=bank, refs=dict(refs), base_dir=base_dir,
                     mcp=mcp)


def _build_mcp(key: str, tspec: ToolSpec, inputs: Mapping[str, Any]) -> Any:
    from agentloom.tools.mcp import mcp_tools

    where = f"tools.{key}.mcp"
    m = tspec.mcp
    assert m is not None
    rendered = _interp.resolve_env(_interp.render(m.model_dump(exclude_none=True), inputs), where)
    return mcp_tools(command=rendered.get("command"), url=rendered.get("url"), allow=m.allow, deny=m.deny,
                     env={k: str(v) for k, v in (rendered.get("env") or {}).items()}, timeout=m.timeout or 30.0)


def _mcp_options(tool: Any, tspec: ToolSpec) -> Any:
    """An entry's timeout, concurrency, retries and cache set on an MCP tool (kept an McpTool)."""
    from agentloom.tools.base import CachePolicy

    for name in ("timeout", "max_concurrency", "retries"):
        if getattr(tspec, name) is not None:
            setattr(tool, name, getattr(tspec, name))
    cache = tspec.cache if tspec.cache is not None else (
        CacheSpec(enabled=tspec.cacheable, ttl=None) if tspec.cacheable is not None else None)
    if cache is not None:
        tool.cache = CachePolicy(ttl=cache.ttl) if cache.enabled else None
    return tool


@contextlib.asynccontextmanager
async def open_mcp(resources: Resources) -> AsyncIterator[None]:
    """Open the run's MCP servers (in parallel, one session each) and put their tools under
    their entry's key and their own names; close them when the run ends."""
    if not resources.mcp:
        yield
        return
    from agentloom.tools.mcp import open_each

    async with open_each({key: ts for key, (ts, _) in resources.mcp.items()}) as opened:
        for key, listed in opened.items():
            built = [_mcp_options(t, resources.mcp[key][1]) for t in listed]
            resources.tools[key] = built
            for t in built:
                resources.tools.setdefault(t.name, [t])
        yield


class LazyResources:
    """Resources built on first use from the inputs a compiled graph is invoked with (for
    ``graph.compile()`` used directly with LangGraph)."""

    def __init__(
        self,
        spec: GraphSpec,
        refs: Mapping[str, Any],
        base_dir: Path,
        *,
        model_override: str | Model | None = None,
        ready: Resources | None = None,
    ) -> None:
        self.spec = spec
        self.refs = dict(refs)
        self.base_dir = base_dir
        self.model_override = model_override
        self._built: dict[str, Resources] = {}
        self._ready = ready
        self._lock = asyncio.Lock() if ready is None else None

    def inputs_from(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """The run inputs found in ``state``, with defaults for the missing ones."""
        given = {k: state[k] for k in self.spec.inputs if state.get(k) is not None}
        return resolve_inputs(self.spec, given, self.base_dir)

    async def get(self, inputs: Mapping[str, Any], *, run_id: str | None = None) -> Resources:
        """The resources for these inputs (built once; ``run_id`` names a run-scoped memory)."""
        if self._ready is not None:
            return self._ready
        if any(t.mcp is not None for t in self.spec.tools.values()):
            raise ConfigError(f"graph '{self.spec.name}' has MCP tools, whose sessions a run owns; run it with "
                              "graph.run(...) or `loom run`, not a bare compiled LangGraph")
        key = json.dumps([inputs, run_id], sort_keys=True, default=str)
        found = self._built.get(key)
        if found is not None:
            return found
        assert self._lock is not None
        async with self._lock:
            found = self._built.get(key)
            if found is None:
                found = await asyncio.to_thread(
                    build_resources, self.spec, inputs, self.refs, self.base_dir, model_override=self.model_override,
                    run_id=run_id,
                )
                self._built[key] = found
        return found


def signature_accepts(fn: Any, name: str) -> bool:
    """Whether ``fn`` names a parameter ``name`` (``**kwargs`` does not count)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params

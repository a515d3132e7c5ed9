"""``@tool``: a typed Python function becomes a tool whose JSON schema comes from its signature
(through pydantic) and whose description comes from its docstring."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from agentloom.errors import ConfigError, ToolArgumentError
from agentloom.models.types import canonical_args

__all__ = ["CachePolicy", "Tool", "ToolResult", "ToolArgumentError", "tool", "fingerprint", "canonical_args"]


def _param_docs(doc: str) -> tuple[str, dict[str, str]]:
    """Split a docstring into its summary and per-argument descriptions (Google style)."""
    summary: list[str] = []
    params: dict[str, str] = {}
    section = "summary"
    current: str | None = None
    for line in inspect.cleandoc(doc or "").splitlines():
        stripped = line.strip()
        lowered = stripped.lower()
        if lowered in ("args:", "arguments:", "parameters:", "params:"):
            section = "args"
            continue
        if lowered in ("returns:", "raises:", "yields:", "examples:", "example:", "note:", "notes:"):
            section = "other"
            continue
        if section == "summary":
            summary.append(line)
        elif section == "args":
            match = re.match(r"^(\w+)\s*(\([^)]*\))?\s*:\s*(.*)$", stripped)
            if match:
                current = match.group(1)
                params[current] = match.group(3).strip()
            elif current and stripped:
                params[current] = (params[current] + " " + stripped).strip()
    return "\n".join(summary).strip(), params


@dataclass(frozen=True)
class CachePolicy:
    """Whether, and for how long, a tool's results are shared through the memory bank: identical
    calls from any team are served from it (or join the call in flight). Only for tools whose
    result depends on nothing but their arguments: read-only lookups, pure functions."""

    ttl: float | None = None
    """Seconds a stored result stays valid (None: as long as the bank keeps it)."""

    def __post_init__(self) -> None:
        if self.ttl is not None and not (math.isfinite(self.ttl) and self.ttl > 0):
            raise ConfigError(f"CachePolicy ttl must be positive seconds, got {self.ttl}")


def _cache_policy(cache: CachePolicy | bool | None) -> CachePolicy | None:
    """``True`` is ``CachePolicy()``; ``False`` and ``None`` are off."""
    if isinstance(cache, CachePolicy):
        return cache
    return CachePolicy() if cache is True else None


class Tool:
    """A callable tool with a validated argument model and an OpenAI function schema."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        max_concurrency: int | None = None,
        retries: int = 0,
        cache: CachePolicy | bool | None = None,
        cacheable: bool | None = None,
        remote: bool = False,
        num_cpus: float | None = None,
    ) -> None:
        if num_cpus is not None and (not remote or num_cpus <= 0):
            raise ConfigError(f"tool {name or fn.__name__}: num_cpus needs remote=True and a positive number")
        if max_concurrency is not None and max_concurrency < 1:
            raise ConfigError(f"tool {name or fn.__name__}: max_concurrency must be at least 1")
        if retries < 0:
            raise ConfigError(f"tool {name or fn.__name__}: retries must be 0 or more")
        if timeout is not None and timeout <= 0:
            raise ConfigError(f"tool {name or fn.__name__}: timeout must be positive")
        self.fn = fn
        self.name = name or fn.__name__
        summary, arg_docs = _param_docs(fn.__doc__ or "")
        self.description = description or summary or self.name
        self.timeout = timeout
        self.max_concurrency = max_concurrency
        self.retries = retries
        #: Sharing through the memory bank: off unless given (a side-effecting tool must never be
        #: run once for two callers); ``cacheable=`` is the older spelling of ``cache=``.
        self.cache: CachePolicy | None = _cache_policy(cache if cacheable is None else cacheable)
        #: Run on the run's executor (a Ray task asking for ``num_cpus``) instead of in this process.
        self.remote = remote
        self.num_cpus = num_cpus
        #: What the results depend on besides the arguments (e.g. which corpus index): identical
        #: calls are shared through the memory bank only within one scope.
        self.cache_scope: str | None = None
        self.is_async = inspect.iscoroutinefunction(fn)
        self.args_model = self._build_args_model(arg_docs)
        self._schema: dict[str, Any] | None = None
        self._semaphores: dict[int, asyncio.Semaphore] = {}

    @property
    def cacheable(self) -> bool:
        """Whether results are shared through the memory bank (see ``cache``)."""
        return self.cache is not None

    def _build_args_model(self, arg_docs: dict[str, str]) -> type[BaseModel]:
        from pydantic import Field

        signature = inspect.signature(self.fn)
        try:
            hints = get_type_hints(self.fn)
        except Exception:  # unresolvable forward refs: fall back to Any
            hints = {}
        fields: dict[str, Any] = {}
        for pname, param in signature.parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            annotation = hints.get(pname, Any)
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[pname] = (annotation, Field(default, description=arg_docs.get(pname)))
        model: type[BaseModel] = create_model(  # type: ignore[call-overload]
            f"{self.name}_args", __config__=ConfigDict(extra="forbid"), **fields
        )
        return model

    def schema(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry for this tool."""
        if self._schema is None:
            params = self.args_model.model_json_schema()
            params.pop("title", None)
            for prop in params.get("properties", {}).values():
                prop.pop("title", None)
            self._schema = {
                "type": "function",
                "function": {"name": self.name, "description": self.description, "parameters": params},
            }
        return self._schema

    def validate(self, args: dict[str, Any]) -> dict[str, Any]:
        """Validated keyword arguments, or ``ToolArgumentError`` saying what is wrong."""
        try:
            parsed = self.args_model.model_validate(args)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(arguments)'}: {err['msg']}" for err in exc.errors()[:6]
            )
            raise ToolArgumentError(f"invalid arguments for {self.name}: {problems}") from None
        return {name: getattr(parsed, name) for name in type(parsed).model_fields}

    def cache_key(self, args: dict[str, Any]) -> str:
        """The fingerprint under which this call's result may be shared: name, scope, arguments."""
        return fingerprint(self.name if self.cache_scope is None else f"{self.name}@{self.cache_scope}", args)

    def semaphore(self) -> asyncio.Semaphore | None:
        """This tool's concurrency limit for the running event loop (shared by all executors)."""
        if self.max_concurrency is None:
            return None
        loop_id = id(asyncio.get_running_loop())
        sem = self._semaphores.get(loop_id)
        if sem is None:
            if len(self._semaphores) > 16:
                self._semaphores.clear()
            sem = self._semaphores[loop_id] = asyncio.Semaphore(self.max_concurrency)
        return sem

    async def __call__(self, **kwargs: Any) -> Any:
        """Call the tool directly (validated), outside any executor."""
        kwargs = self.validate(kwargs)
        if self.is_async:
            return await self.fn(**kwargs)
        return await asyncio.to_thread(self.fn, **kwargs)

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    max_concurrency: int | None = None,
    retries: int = 0,
    cache: CachePolicy | bool | None = None,
    cacheable: bool | None = None,
    remote: bool = False,
    num_cpus: float | None = None,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    max_concurrency: int | None = None,
    retries: int = 0,
    cache: CachePolicy | bool | None = None,
    cacheable: bool | None = None,
    remote: bool = False,
    num_cpus: float | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a typed (sync or async) function into a :class:`Tool`.

    Use bare (``@tool``) or with options (``@tool(timeout=5, max_concurrency=2, retries=1)``).
    ``cache=CachePolicy(ttl=...)`` shares its results through the memory bank; off by default,
    because a tool with side effects must run for every caller.
    ``remote=True`` runs it on the run's executor: a Ray task asking for ``num_cpus`` CPUs (default 1)
    under ``--executor ray``, in this process otherwise. Its arguments and result must pickle.
    """

    def wrap(f: Callable[..., Any]) -> Tool:
        return Tool(
            f,
            name=name,
            description=description,
            timeout=timeout,
            max_concurrency=max_concurrency,
            retries=retries,
            cache=cache,
            cacheable=cacheable,
            remote=remote,
            num_cpus=num_cpus,
        )

    return wrap(fn) if fn is not None else wrap


def fingerprint(tool_name: str, args: dict[str, Any]) -> str:
    """A stable identity for a tool call: the tool name plus its normalized arguments."""
    return hashlib.sha256(f"{tool_name}\x00{canonical_args(args)}".encode()).hexdigest()[:32]


@dataclass(slots=True)
class ToolResult:
    """The outcome of one tool call: a value, or a structured error. Never an exception."""

    call_id: str
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    ok: bool = True
    value: Any = None
    error: str | None = None
    error_type: str | None = None
    started: float = 0.0
    ended: float = 0.0
    attempts: int = 1
    cached: bool = False
    coalesced: bool = False
    memory_id: str | None = None

    @property
    def duration(self) -> float:
        return self.ended - self.started

    def content(self) -> str:
        """What the model sees: the value as JSON, or ``{"error": ..., "type": ...}``."""
        if not self.ok:
            return json.dumps({"error": self.error, "type": self.error_type})
        if isinstance(self.value, str):
            return self.value
        return json.dumps(_jsonable(self.value), ensure_ascii=False, default=str)


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value

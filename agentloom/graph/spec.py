"""Graph spec v1: the pydantic models behind graph YAML files and ``agentloom.Graph``.

Every model forbids unknown keys. The JSON Schema (``loom schema``) is generated from these
models, so the field descriptions here are what an editor shows.

Interpolation (two kinds, kept distinct):

- ``{name}`` reads a run input (``{question}``), a node's output (``{plan.sub_tasks}``,
  ``{verify.best.text}``), or inside a ``map`` body the branch's ``{item}`` / ``{index}``.
  A string that is exactly one placeholder keeps the value's type. ``{{`` / ``}}`` are literal
  braces. An unknown name is a spec error. In ``models``, ``tools`` and ``memory`` only run
  inputs are known (they are built before any node runs).
- ``${env:VAR}`` reads an environment variable when the run starts: use it for API keys and
  other secrets. A missing variable is a one-line error naming it.

Fields that take data from the state (``over``, ``candidates``, ``findings``, ``passages``)
take a path such as ``plan.sub_tasks`` or ``research`` (braces are optional there).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from agentloom.graph._spec_approve import ApproveSpec
from agentloom.graph._spec_judge import (
    CitationVerifierSpec,
    ConsensusVerifierSpec,
    CrossoverSpec,
    DistillRefineSpec,
    FieldCrossoverSpec,
    FunctionVerifierSpec,
    JudgeVerifierSpec,
    MergeCrossoverSpec,
    SelectSpec,
    VerifierSpec,
)
from agentloom.graph._spec_nodes import (
    AgentNode,
    BodyNode,
    BudgetPlannerNode,
    CrossoverNode,
    DAGPlannerNode,
    EvolveNode,
    FixedPlannerNode,
    FunctionNode,
    MapNode,
    NodeSpec,
    PDRNode,
    PlannerNode,
    ScheduledPlannerNode,
    VerifierNode,
    WriterNode,
)
from agentloom.graph._spec_types import (
    BUILTIN_TOOLS,
    NAME_PATTERN,
    NODE_KINDS,
    REF_PATTERN,
    TOOL_GROUPS,
    BudgetSpec,
    ImportRef,
    NonNegInt,
    PosInt,
    PosIntOrAuto,
    RetrySpec,
    StatePath,
    Timeout,
    TimeoutSpec,
    Width,
    _Strict,
)

__all__ = [
    "AgentNode",
    "ApproveSpec",
    "BodyNode",
    "BudgetPlannerNode",
    "BudgetSpec",
    "CitationVerifierSpec",
    "Condition",
    "ConfigSpec",
    "ExecutorSpec",
    "ConsensusVerifierSpec",
    "CrossoverNode",
    "CrossoverSpec",
    "DAGPlannerNode",
    "DistillRefineSpec",
    "EdgeSpec",
    "EvolveNode",
    "FieldCrossoverSpec",
    "FixedPlannerNode",
    "FunctionNode",
    "FunctionVerifierSpec",
    "GraphSpec",
    "InputSpec",
    "JudgeVerifierSpec",
    "MapNode",
    "MemorySpec",
    "MergeCrossoverSpec",
    "ModelSpec",
    "NAME_PATTERN",
    "NODE_KINDS",
    "NodeSpec",
    "OutputSpec",
    "PDRNode",
    "PlannerNode",
    "REF_PATTERN",
    "RetrySpec",
    "ScheduledPlannerNode",
    "SelectSpec",
    "TimeoutSpec",
    "ToolSpec",
    "VerifierNode",
    "VerifierSpec",
    "WriterNode",
    "BUILTIN_TOOLS",
    "TOOL_GROUPS",
    "ImportRef",
    "NonNegInt",
    "PosInt",
    "PosIntOrAuto",
    "StatePath",
    "Timeout",
    "Width",
    "type_fits",
]

# --------------------------------------------------------------------------- top-level sections
InputType = Literal["string", "integer", "number", "boolean", "list", "object", "path"]
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "path": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "list": (list,),
    "object": (dict,),
}


class InputSpec(_Strict):
    """A run input, given as ``--input name=value`` or ``graph.run({name: value})``."""

    type: InputType = Field("string", description="string, integer, number, boolean, list, object or path")
    default: Any = Field(None, description="the value when none is given; without one the input is required")
    description: str | None = None
    choices: list[Any] | None = Field(None, description="the only values allowed")

    @model_validator(mode="after")
    def _default_fits(self) -> InputSpec:
        if self.default is not None and not type_fits(self.type, self.default):
            raise ValueError(f"default {self.default!r} is not a {self.type}")
        if self.default is not None and self.choices is not None and self.default not in self.choices:
            raise ValueError(f"default {self.default!r} is not one of the choices")
        return self

    @property
    def required(self) -> bool:
        return self.default is None


def type_fits(kind: str, value: Any) -> bool:
    """Whether ``value`` is of the input type ``kind`` (bools are not numbers)."""
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _PY_TYPES.get(kind, (object,)))


class RateLimitSpec(_Strict):
    """A provider's rate limit (``agentloom.rate_limits.RateLimit``), kept in the database."""

    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_minute: int | None = Field(None, ge=1)
    key: str | None = Field(None, min_length=1, description="the shared window's name (default: the model's name)")

    @model_validator(mode="after")
    def _some(self) -> RateLimitSpec:
        if self.requests_per_minute is None and self.tokens_per_minute is None:
            raise ValueError("give requests_per_minute, tokens_per_minute or both")
        return self


class ModelSpec(_Strict):
    """A named model: a litellm model string, ``offline``, or ``ref`` to a Python model object."""

    model: str | None = Field(None, description="'offline' or a litellm model such as 'openai/gpt-4o-mini'")
    ref: ImportRef | None = Field(None, description="'module:attr' of a Model object or a function returning one")
    params: dict[str, Any] = Field(
        default_factory=dict, description="passed to the model (temperature, api_key: '${env:OPENAI_API_KEY}', ...)"
    )
    base_url: str | None = Field(None, description="an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1")
    api_key_env: str | None = Field(None, description="the environment variable that holds the model's API key")
    price: str | dict[str, float] | None = Field(
        None, description="USD per million tokens, 'INPUT,OUTPUT' or {input, output}, for a model litellm cannot price"
    )
    tool_mode: Literal["auto", "native", "json", "text"] | None = Field(
        None, description="how agents ask it for tool calls: native (OpenAI tools), json (schema-enforced step), text, or auto"
    )
    rate_limits: RateLimitSpec | None = Field(
        None, description="requests and tokens per minute, shared by every process calling this model"
    )

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return {"model": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one(self) -> ModelSpec:
        if (self.model is None) == (self.ref is None):
            raise ValueError("give exactly one of model (a litellm string or 'offline') or ref (module:attr)")
        return self


class MemorySpec(_Strict):
    """The shared memory bank (``MemoryBank``): its scope, file and admission policy."""

    scope: Literal["run", "project"] | None = Field(
        None, description="'run' keeps entries to this run (default); 'project' shares them across runs"
    )
    path: str | None = Field(None, description="the bank file (relative to the spec's folder; default <home>/memory.db)")
    admission: Literal["all", "none", "heuristic", "learned"] = Field(
        "heuristic", description="which steps are stored: all, none, heuristic or learned"
    )
    threshold: float | None = Field(None, ge=0, le=1, description="admission threshold (heuristic/learned)")
    ttl: float | None = Field(None, gt=0, description="seconds before an entry expires")
    quota_entries: int | None = Field(None, ge=0, description="entries one run may store")
    quota_tokens: int | None = Field(None, ge=0, description="tokens one run may store")


class CacheSpec(_Strict):
    """Whether a tool's results are shared through the memory bank, and for how long
    (``true``/``false`` are short forms)."""

    enabled: bool = Field(True, description="false: every call runs")
    ttl: float | None = Field(None, gt=0, allow_inf_nan=False, description="seconds a stored result stays valid")

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return {"enabled": data} if isinstance(data, bool) else data


class McpSpec(_Strict):
    """Tools from an MCP server: ``command: [program, arg, ...]`` (stdio) or ``url:`` (streamable
    HTTP). One session per run; the server's failure only fails its own tools."""

    command: list[str] | None = Field(None, min_length=1, description="the server's program and arguments (stdio)")
    url: str | None = Field(None, description="the server's streamable HTTP endpoint, e.g. http://127.0.0.1:8000/mcp")
    allow: list[str] | None = Field(None, description="only these of the server's tools")
    deny: list[str] | None = Field(None, description="none of these of the server's tools")
    env: dict[str, str] | None = Field(None, description="environment for a stdio server (${env:VAR} allowed)")
    timeout: float | None = Field(None, gt=0, allow_inf_nan=False, description="seconds to start, list tools, or answer a call")

    @model_validator(mode="after")
    def _one_transport(self) -> McpSpec:
        if (self.command is None) == (self.url is None):
            raise ValueError("give command: [program, args...] (stdio) or url: http://.../mcp (HTTP), exactly one")
        if self.url is not None and not self.url.startswith(("http://", "https://", "${")):
            raise ValueError(f"url {self.url!r} must start with http:// or https://")
        return self


class ToolSpec(_Strict):
    """A tool entry. The key names it; built-in keys (calculator, corpus, web, web_search,
    http_fetch) need no ``builtin``; anything else needs ``ref: module:attr``."""

    builtin: Literal["calculator", "corpus", "web", "web_search", "http_fetch"] | None = Field(
        None, description="which built-in this entry is, when its key is another name"
    )
    ref: ImportRef | None = Field(None, description="'module:attr' of a Tool, a function, or a list of them")
    mcp: McpSpec | None = Field(None, description="tools from an MCP server: {command: [...]} or {url: ...}")
    paths: list[str] | None = Field(None, description="corpus folders (relative to the spec's folder)")
    index_path: str | None = Field(None, description="where the corpus index lives (default: under .loom)")
    provider: str | None = Field(None, description="web search provider: searxng or tavily (default: from env)")
    allow_hosts: list[str] | None = Field(None, description="http_fetch: hosts allowed despite being private")
    optional: bool = Field(False, description="if the tool cannot be set up (no web provider), run without it")
    timeout: float | None = Field(None, gt=0, description="seconds per call")
    max_concurrency: int | None = Field(None, ge=1, description="concurrent calls of this tool")
    retries: int | None = Field(None, ge=0)
    cache: CacheSpec | None = Field(
        None, description="share results of identical calls through the memory bank: true, or {ttl: SECONDS}; "
        "off by default for ref tools (a tool with side effects must run for every caller)",
    )
    cacheable: bool | None = Field(None, description="older spelling of cache: true/false")

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        if data is None:
            return {}
        if isinstance(data, str):
            return {"ref": data}
        return data

    @model_validator(mode="after")
    def _fits(self) -> ToolSpec:
        if self.builtin is not None and self.ref is not None:
            raise ValueError("give builtin or ref, not both")
        if self.mcp is not None and (self.builtin is not None or self.ref is not None):
            raise ValueError("give mcp, builtin or ref, only one")
        if self.paths is not None and self.builtin not in (None, "corpus"):
            raise ValueError("paths only applies to the corpus tools")
        return self


class OutputSpec(_Strict):
    """A run output: where it comes from (``write.markdown``) and what it is."""

    from_: StatePath = Field(alias="from")
    description: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return {"from": data} if isinstance(data, str) else data


class ConfigSpec(_Strict):
    """How LangGraph runs the graph. These keys live here and only here."""

    max_concurrency: int | None = Field(None, ge=1, description="tasks LangGraph runs at once (map branches too)")
    recursion_limit: int | None = Field(None, ge=1, description="supersteps before LangGraph stops (default: computed)")
    retry: RetrySpec | None = Field(None, description="default retry policy for every node")
    timeout: Timeout | None = None
    durability: Literal["sync", "async", "exit"] = Field(
        "sync", description="when checkpoints are written; 'exit' cannot resume a killed run"
    )
    configurable: dict[str, Any] = Field(
        default_factory=dict, description="extra values passed to function nodes as config['configurable']"
    )



class ExecutorSpec(_Strict):
    """Where map branches of function nodes and ``remote=True`` tools run. ``executor: ray`` is
    short for ``{kind: ray}``; ``$AGENTLOOM_EXECUTOR`` (``loom --executor``) overrides ``kind``."""

    kind: Literal["local", "ray"] = Field("local", description="local (this process, the default) or ray")
    address: str | None = Field(None, description="an existing Ray cluster (ray://host:10001 or host:6379); default $RAY_ADDRESS, else a local runtime")
    num_cpus: float | None = Field(None, gt=0, description="CPUs each remote branch asks for (default 1; a tool's own num_cpus wins)")
    max_retries: int | None = Field(None, ge=0, description="times Ray re-runs a task whose worker died (default: config.retry's max_attempts - 1, else 3)")
    hosts: int | None = Field(None, ge=1, description="Ray host actors that run agent branches, each many at once (default: one per cluster CPU)")

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return {"kind": data} if isinstance(data, str) else data


# --------------------------------------------------------------------------- edges
class Condition(_Strict):
    """When a conditional edge is taken: on a verifier's verdict, or on a state field."""

    verdict: Literal["pass", "fail", "unverified"] | None = Field(
        None, description="the verdict of the edge's source (or of node:) — pass, fail or unverified"
    )
    node: str | None = Field(None, description="the verifier whose verdict is read (default: the edge's source)")
    field: StatePath | None = Field(None, description="a state path such as plan.refine or verify.score")
    equals: Any = None
    not_equals: Any = None
    in_: list[Any] | None = Field(None, alias="in")
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    @model_validator(mode="after")
    def _one(self) -> Condition:
        if (self.verdict is None) == (self.field is None):
            raise ValueError("give verdict (pass/fail/unverified) or field (a state path)")
        tests = [n for n in ("equals", "not_equals", "in_", "gt", "gte", "lt", "lte") if getattr(self, n) is not None]
        if self.verdict is not None and tests:
            raise ValueError("a verdict condition takes no comparison")
        if self.node is not None and self.verdict is None:
            raise ValueError("node only applies to verdict conditions")
        return self


_ARROW = re.compile(r"^\s*([^\s>-][^>]*?)\s*->\s*(\S+)\s*$")


class EdgeSpec(_Strict):
    """``from`` → ``to``. With ``when`` it is conditional; with ``limit`` it may be taken at most
    that many times in a run (every loop needs one). Edges from one node are tried in order;
    the first whose condition holds is taken, else its plain edges (else the run ends)."""

    from_: str | list[str] = Field(alias="from", description="a node, START, or a list of nodes to wait for")
    to: str | list[str] = Field(description="a node, END, or a list of nodes to run in parallel")
    when: Condition | None = None
    limit: int | None = Field(None, ge=1, description="the most times this edge is taken in one run")

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        if isinstance(data, str):
            match = _ARROW.match(data)
            if match is None:
                raise ValueError(f"edge {data!r} must look like 'a -> b' or be a mapping with from and to")
            return {"from": match.group(1), "to": match.group(2)}
        return data

    @property
    def sources(self) -> list[str]:
        return [self.from_] if isinstance(self.from_, str) else list(self.from_)

    @property
    def targets(self) -> list[str]:
        return [self.to] if isinstance(self.to, str) else list(self.to)

    @property
    def routed(self) -> bool:
        """Whether the edge is decided at run time (a condition or a limit)."""
        return self.when is not None or self.limit is not None


# --------------------------------------------------------------------------- the graph
class GraphSpec(_Strict):
    """An agent graph. ``edges`` may be left out: the nodes then run in the order written."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        title="agentloom graph spec v1",
        json_schema_extra={
            "description": (
                "An agentloom agent graph (YAML). Interpolation: '{name}' reads a run input, a node "
                "output ('{plan.sub_tasks}') or, in a map body, '{item}'/'{index}'; '${env:VAR}' reads "
                "an environment variable at run time (for secrets). The two never mix."
            )
        },
    )

    version: Literal[1] = Field(description="the spec version; always 1")
    name: str = Field(pattern=NAME_PATTERN, description="the graph's name (letters, digits, _ and -)")
    description: str | None = None
    inputs: dict[str, InputSpec] = Field(default_factory=dict, description="run inputs by name")
    outputs: dict[str, OutputSpec] = Field(
        default_factory=dict, description="run outputs: name -> state path (default: the last node's output)"
    )
    models: dict[str, ModelSpec] = Field(
        default_factory=dict, description="named models; nodes without model use 'default' if declared"
    )
    budget: BudgetSpec | None = None
    memory: MemorySpec | None = None
    tools: dict[str, ToolSpec] = Field(default_factory=dict, description="tool entries by name")
    config: ConfigSpec | None = None
    executor: ExecutorSpec | None = None
    approve: ApproveSpec | None = Field(
        None, description="approval gates: plan, {spend_over: 0.50 | '20000 tokens'}, {tools: [http_fetch]} or a list of them"
    )
    database: str | None = Field(
        None, min_length=1, description="where runs, checkpoints and shared budgets live: a postgresql:// URL "
        "(${env:VAR} for its password) or a SQLite path; AGENTLOOM_DATABASE_URL and --database-url win",
    )
    nodes: dict[str, NodeSpec] = Field(min_length=1, description="the nodes, by name")
    edges: list[EdgeSpec] | None = Field(None, description="edges; leave out to run the nodes in order")

    def database_url(self) -> str | None:
        """``database:`` with its ``${env:VAR}`` resolved (a missing variable is a one-line error)."""
        if not self.database:
            return None
        from agentloom.graph._interp import resolve_env

        return str(resolve_env(self.database, "database"))

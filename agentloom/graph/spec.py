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
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    PlainValidator,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)

__all__ = [
    "AgentNode",
    "BudgetSpec",
    "Condition",
    "ConfigSpec",
    "CrossoverNode",
    "CrossoverSpec",
    "EdgeSpec",
    "EvolveNode",
    "FunctionNode",
    "GraphSpec",
    "InputSpec",
    "MapNode",
    "MemorySpec",
    "ModelSpec",
    "NODE_KINDS",
    "NodeSpec",
    "OutputSpec",
    "PlannerNode",
    "RetrySpec",
    "SelectSpec",
    "TimeoutSpec",
    "ToolSpec",
    "VerifierNode",
    "VerifierSpec",
    "WriterNode",
    "BUILTIN_TOOLS",
    "TOOL_GROUPS",
]

NODE_KINDS = ("agent", "planner", "map", "verifier", "crossover", "evolve", "writer", "function")
#: Built-in tool entries and the tool names each one provides.
TOOL_GROUPS: dict[str, tuple[str, ...]] = {
    "calculator": ("calculator",),
    "corpus": ("corpus_search", "read_passage"),
    "web": ("web_search", "http_fetch"),
    "web_search": ("web_search",),
    "http_fetch": ("http_fetch",),
}
BUILTIN_TOOLS = tuple(TOOL_GROUPS)

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
REF_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"
_PLACEHOLDER_ONLY = re.compile(r"^\s*\{[A-Za-z_][\w-]*(?:\.[\w-]+)*\}\s*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=False)


# --------------------------------------------------------------------------- small value types
def _int_or_ref(minimum: int, *words: str) -> Any:
    def check(value: Any) -> int | str:
        if isinstance(value, bool):
            raise ValueError("expected a whole number, not true/false")
        if isinstance(value, int):
            if value < minimum:
                raise ValueError(f"must be at least {minimum}")
            return value
        if isinstance(value, float) and value.is_integer() and value >= minimum:
            return int(value)
        if isinstance(value, str) and (_PLACEHOLDER_ONLY.match(value) or value.strip() in words):
            return value.strip()
        also = "".join(f", '{w}'" for w in words)
        raise ValueError(f"expected a whole number (at least {minimum}){also} or a placeholder like '{{width}}'")

    return Annotated[
        int | str,
        PlainValidator(check),
        PlainSerializer(lambda v: v),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "integer", "minimum": minimum},
                    {"type": "string", "pattern": _PLACEHOLDER_ONLY.pattern},
                    *({"const": w} for w in words),
                ]
            }
        ),
    ]


if TYPE_CHECKING:
    PosInt: TypeAlias = int | str
    NonNegInt: TypeAlias = int | str
    PosIntOrAuto: TypeAlias = int | str
else:
    PosInt = _int_or_ref(1)
    NonNegInt = _int_or_ref(0)
    PosIntOrAuto = _int_or_ref(1, "auto")


def _check_width(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("width must be a number, a schedule name or a mapping of turns to widths")
    if isinstance(value, int):
        if value < 1:
            raise ValueError("width must be at least 1")
        return value
    if isinstance(value, str):
        text = value.strip()
        if _PLACEHOLDER_ONLY.match(text) or text.isdigit() or text in ("constant", "descending", "ascending", "auto"):
            return text
        raise ValueError(f"width '{value}' must be a number, 'constant', 'descending', 'ascending' or a placeholder")
    if isinstance(value, dict):
        out: dict[str, int] = {}
        for k, v in value.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"width for turns {k} must be a whole number of at least 1")
            out[str(k)] = v
        return out
    raise ValueError("width must be a number, a schedule name or a mapping of turns to widths")


Width = Annotated[
    int | str | dict[str, int] | None,
    PlainValidator(_check_width),
    PlainSerializer(lambda v: v),
    WithJsonSchema(
        {
            "description": "tool calls per turn: a number, 'constant', 'descending' (default), 'ascending', "
            "a placeholder, or turn ranges to widths like {'1-2': 8, '3+': 2}",
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string"},
                {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1}},
                {"type": "null"},
            ],
        }
    ),
]

ImportRef = Annotated[
    str,
    Field(pattern=REF_PATTERN, description="a Python object as 'module:attr' (the spec's folder is importable)"),
]
StatePath = Annotated[
    str,
    Field(
        description="where the data comes from: an input or node name, optionally with fields "
        "('plan.sub_tasks'); braces are optional"
    ),
]


class RetrySpec(_Strict):
    """LangGraph ``RetryPolicy`` for a node (or, under ``config``, for every node)."""

    max_attempts: int = Field(3, ge=1, description="attempts in all, including the first")
    initial_interval: float = Field(0.5, ge=0, description="seconds before the first retry")
    backoff_factor: float = Field(2.0, ge=1, description="interval multiplier per retry")
    max_interval: float = Field(128.0, gt=0, description="longest wait between retries, in seconds")
    jitter: bool = Field(True, description="add random jitter to the wait")


class TimeoutSpec(_Strict):
    """LangGraph ``TimeoutPolicy``: ``run`` caps an attempt, ``idle`` caps time without progress."""

    run: float | None = Field(None, gt=0, description="hard wall-clock cap per attempt, in seconds")
    idle: float | None = Field(None, gt=0, description="longest time without progress, in seconds")

    @model_validator(mode="after")
    def _one(self) -> TimeoutSpec:
        if self.run is None and self.idle is None:
            raise ValueError("give run, idle or both (seconds)")
        return self


Timeout = Annotated[
    float | TimeoutSpec,
    Field(description="seconds per node attempt, or {run: seconds, idle: seconds}"),
]


class BudgetSpec(_Strict):
    """Hard limits, as ``agentloom.Budget``; every call reserves before it is made."""

    usd: float | None = Field(None, ge=0, description="dollars")
    input_tokens: int | None = Field(None, ge=0)
    output_tokens: int | None = Field(None, ge=0)
    tokens: int | None = Field(None, ge=0, description="input plus output tokens")
    llm_calls: int | None = Field(None, ge=0)
    tool_calls: int | None = Field(None, ge=0)
    seconds: float | None = Field(None, ge=0, description="wall-clock seconds")

    def limits(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


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


class ModelSpec(_Strict):
    """A named model: a litellm model string, ``offline``, or ``ref`` to a Python model object."""

    model: str | None = Field(None, description="'offline' or a litellm model such as 'openai/gpt-4o-mini'")
    ref: ImportRef | None = Field(None, description="'module:attr' of a Model object or a function returning one")
    params: dict[str, Any] = Field(
        default_factory=dict, description="passed to the model (temperature, api_key: '${env:OPENAI_API_KEY}', ...)"
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


class ToolSpec(_Strict):
    """A tool entry. The key names it; built-in keys (calculator, corpus, web, web_search,
    http_fetch) need no ``builtin``; anything else needs ``ref: module:attr``."""

    builtin: Literal["calculator", "corpus", "web", "web_search", "http_fetch"] | None = Field(
        None, description="which built-in this entry is, when its key is another name"
    )
    ref: ImportRef | None = Field(None, description="'module:attr' of a Tool, a function, or a list of them")
    paths: list[str] | None = Field(None, description="corpus folders (relative to the spec's folder)")
    index_path: str | None = Field(None, description="where the corpus index lives (default: under .loom)")
    provider: str | None = Field(None, description="web search provider: searxng or tavily (default: from env)")
    allow_hosts: list[str] | None = Field(None, description="http_fetch: hosts allowed despite being private")
    optional: bool = Field(False, description="if the tool cannot be set up (no web provider), run without it")
    timeout: float | None = Field(None, gt=0, description="seconds per call")
    max_concurrency: int | None = Field(None, ge=1, description="concurrent calls of this tool")
    retries: int | None = Field(None, ge=0)
    cacheable: bool | None = Field(None, description="false keeps results out of the memory bank")

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


# --------------------------------------------------------------------------- nodes
class _NodeBase(_Strict):
    description: str | None = None
    retry: RetrySpec | None = Field(None, description="retry policy for this node (LangGraph RetryPolicy)")
    timeout: Timeout | None = None
    budget: BudgetSpec | None = Field(None, description="a child budget for this node")


class AgentNode(_NodeBase):
    """``agentloom.Agent``: a tool loop whose calls of one turn run in parallel."""

    kind: Literal["agent"]
    model: str | None = Field(None, description="a name from models (default: 'default', else $AGENTLOOM_MODEL/offline)")
    tools: list[str] = Field(default_factory=list, description="tool names or tool entries (an entry gives all its tools)")
    task: str | None = Field(None, description="what to do (default: '{item}' in a map, else '{question}')")
    instructions: str | None = Field(None, description="the system prompt (default: the research agent's)")
    width: Width = None
    max_turns: PosInt = Field(6, description="turns at most (depth)")
    max_tokens: PosInt = 1024
    temperature: float | None = Field(None, ge=0)
    max_concurrency: int = Field(16, ge=1, description="this agent's concurrent tool calls")
    threads: int | None = Field(None, ge=1, description="give the agent a spawn tool running up to N child agents")
    max_spawn_depth: int = Field(1, ge=1, description="how deep spawned agents may spawn again")
    planner: Literal["dag"] | None = Field(None, description="'dag' plans the tool calls as an LLMCompiler DAG")
    memory: bool = Field(True, description="use the graph's memory bank")
    team: str | None = Field(None, description="memory team name (default: the node, or the map branch)")
    output_type: ImportRef | None = Field(None, description="'module:attr' of a pydantic model for the answer")


class _PlannerBase(_NodeBase):
    kind: Literal["planner"]
    model: str | None = Field(None, description="the model that splits the question into sub-tasks (purpose plan)")
    question: str | None = Field(None, description="what to plan for (default: '{question}')")
    feedback: StatePath | None = Field(
        None, description="a verifier node whose verdicts feed the next plan when the graph loops back here"
    )
    stop_on_pass: bool = Field(True, description="stop once a branch passed verification")
    unit: Literal["llm_calls", "tool_calls", "tokens", "input_tokens", "output_tokens", "usd"] = Field(
        "llm_calls", description="the budget unit a branch's cost is counted in"
    )
    cost_per_branch: float = Field(1.0, gt=0, description="what one branch costs, in unit")
    max_width: PosInt = Field(64, description="branches per round at most")


class FixedPlannerNode(_PlannerBase):
    """``FixedPlanner(width, depth)``."""

    planner: Literal["fixed"]
    width: PosInt = 4
    depth: PosInt = 1


class ScheduledPlannerNode(_PlannerBase):
    """``ScheduledPlanner(schedule)``: width per round."""

    planner: Literal["scheduled"]
    schedule: int | str | list[int] | dict[str, int] = Field(
        "descending", description="widths per round: [8, 4, 2], a number, 'descending', or {'1-2': 8, '3+': 2}"
    )
    rounds: PosInt | None = Field(None, description="rounds at most (default: the list's length, else 4)")
    peak: PosInt = Field(8, description="the widest round of a named schedule")
    refine_after_first: bool = False


class BudgetPlannerNode(_PlannerBase):
    """``BudgetPlanner``: width and depth from the remaining budget and the success estimate.
    A fixed ``width`` runs a ``FixedPlanner`` instead; a fixed ``depth`` caps the rounds."""

    planner: Literal["budget"] = "budget"
    width: PosIntOrAuto = Field("auto", description="'auto' (the planner decides) or a fixed width")
    depth: PosIntOrAuto = Field("auto", description="'auto' or a fixed number of rounds")
    prior_p: float = Field(0.5, ge=0, le=1, description="prior per-branch success probability")
    prior_strength: float = Field(2.0, gt=0)
    f_max: float = Field(1.0, ge=0, le=1)
    min_gain_per_cost: float = Field(0.05, ge=0, description="the least gain worth one more branch, per unit")
    saturation_eps: float = Field(0.05, gt=0, lt=1)
    saturation_baseline: float = Field(0.45, ge=0, le=1, description="single-branch success above which it does not widen")
    confident_score: float = Field(0.8, ge=0, le=1)
    min_improvement: float = 0.02
    agreement_stop: float = Field(0.75, ge=0, le=1)
    min_votes: int = Field(3, ge=2)
    max_rounds: PosInt = 6
    learn: bool = True


class DAGPlannerNode(_NodeBase):
    """``DAGPlanner`` (LLMCompiler): plan tool calls as a DAG, run each the moment its inputs
    exist, then join (and replan at most ``max_replans`` times)."""

    kind: Literal["planner"]
    planner: Literal["dag"]
    model: str | None = None
    question: str | None = Field(None, description="the task (default: '{question}')")
    tools: list[str] = Field(default_factory=list, description="tool names or tool entries")
    max_replans: NonNegInt = 2
    max_tasks: PosInt = 32
    max_tokens: PosInt = 2048
    temperature: float | None = Field(None, ge=0)
    result_chars: int = Field(4000, ge=100)
    instructions: str | None = None
    max_concurrency: int = Field(16, ge=1, description="tool calls running at once")
    stream: bool | None = Field(None, description="stream the plan (default: when the model can)")


def _tag(field: str, default: str | None = None) -> Any:
    def pick(value: Any) -> str | None:
        found = value.get(field, default) if isinstance(value, dict) else getattr(value, field, default)
        return found if isinstance(found, str) else None

    return Discriminator(pick)


class _VerifierBase(_Strict):
    threshold: float | None = Field(None, ge=0, le=1, description="the score a candidate needs to pass")
    max_concurrency: int | None = Field(None, ge=1)


class JudgeVerifierSpec(_VerifierBase):
    """``JudgeVerifier(model, rubric)``: an LLM judge."""

    type: Literal["judge"]
    model: str | None = None
    rubric: str | None = None
    mode: Literal["pointwise", "pairwise"] = "pointwise"
    pairing: Literal["round_robin", "tournament"] = "round_robin"
    both_orders: bool = False
    max_tokens: int | None = Field(None, ge=1)


class FunctionVerifierSpec(_VerifierBase):
    """``FunctionVerifier(fn)``: ``fn(candidate)`` or ``fn(candidate, question)``."""

    type: Literal["function"]
    fn: ImportRef
    timeout: float | None = Field(None, gt=0)
    in_thread: bool = True


class ConsensusVerifierSpec(_Strict):
    """``ConsensusVerifier``: cluster normalised answers; the majority passes."""

    type: Literal["consensus"]
    judge: str | None = Field(None, description="a model name to merge differently worded answers")
    units: bool = True
    key: ImportRef | None = Field(None, description="'module:attr' of a function giving an answer's key")
    min_agreement: float = Field(0.0, ge=0, le=1)
    max_judge_pairs: int = Field(12, ge=0)


class CitationVerifierSpec(_VerifierBase):
    """``CitationVerifier``: every cited claim must be supported by its passage."""

    type: Literal["citation"]
    model: str | None = Field(None, description="check entailment with this model (default: lexical, offline)")
    require_citations: bool = False


def _verifier_short(data: Any) -> Any:
    return {"type": data} if isinstance(data, str) else data


VerifierSpec = Annotated[
    Annotated[JudgeVerifierSpec, Tag("judge")]
    | Annotated[FunctionVerifierSpec, Tag("function")]
    | Annotated[ConsensusVerifierSpec, Tag("consensus")]
    | Annotated[CitationVerifierSpec, Tag("citation")],
    _tag("type"),
]


class PDRNode(_NodeBase):
    """``PDR(width, rounds, workspace_tokens)``: Parallel-Distill-Refine in one node."""

    kind: Literal["planner"]
    planner: Literal["pdr"]
    model: str | None = None
    question: str | None = Field(None, description="the task (default: '{question}')")
    tools: list[str] = Field(default_factory=list, description="tools the drafting agents may use")
    width: PosInt = Field(4, description="drafts per round (1 = sequential refinement)")
    rounds: PosInt = 2
    workspace_tokens: PosInt = Field(512, description="the distilled workspace's size bound")
    instructions: str | None = None
    verifier: VerifierSpec | None = Field(None, description="scores drafts so the workspace favours verified points")
    draft_max_turns: PosInt = 4
    max_tokens: PosInt = 1024

    @field_validator("verifier", mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        return _verifier_short(value)


PlannerNode = Annotated[
    Annotated[FixedPlannerNode, Tag("fixed")]
    | Annotated[ScheduledPlannerNode, Tag("scheduled")]
    | Annotated[BudgetPlannerNode, Tag("budget")]
    | Annotated[DAGPlannerNode, Tag("dag")]
    | Annotated[PDRNode, Tag("pdr")],
    _tag("planner", "budget"),
]


class SelectSpec(_Strict):
    """Which verified candidates go on: ``top_k``, ``threshold``, ``quorum``, ``best_of_n`` or
    ``first_finish``."""

    policy: Literal["top_k", "threshold", "quorum", "best_of_n", "first_finish"] = "top_k"
    k: int | None = Field(None, ge=1, description="top_k / quorum size")
    n: int | None = Field(None, ge=1, description="best_of_n: how many candidates to consider")
    threshold: float | None = Field(None, ge=0, le=1, description="threshold: the score needed")

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return {"policy": data} if isinstance(data, str) else data


class VerifierNode(_NodeBase):
    """Score candidates with one or more verifiers (their verdicts are combined: the mean
    score; passing only if every verifier passes), then select."""

    kind: Literal["verifier"]
    candidates: StatePath = Field(description="a list of candidates (a map's output, a node's output...)")
    verifiers: list[VerifierSpec] = Field(
        min_length=1, description="verifiers, by type ('citation') or with parameters ({type: judge, rubric: ...})"
    )
    select: SelectSpec | None = Field(None, description="selection policy (default: every candidate, best first)")
    question: str | None = Field(None, description="the question candidates answer (default: '{question}' if declared)")

    @field_validator("verifiers", mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        if isinstance(value, str | dict):
            value = [value]
        return [_verifier_short(v) for v in value] if isinstance(value, list) else value


class MergeCrossoverSpec(_Strict):
    """``MergeCrossover(model, k)``: merge the top candidates, keeping every citation."""

    type: Literal["merge"]
    model: str | None = None
    k: PosInt = Field(3, description="merge the top k")
    max_tokens: PosInt = 2000


class DistillRefineSpec(_Strict):
    """``DistillRefine``: distil candidates into a bounded workspace, then refine."""

    type: Literal["distill_refine"]
    model: str | None = None
    workspace_tokens: int = Field(512, ge=16)
    k: PosInt | None = None
    max_tokens: PosInt = 2000


class FieldCrossoverSpec(_Strict):
    """``FieldCrossover``: each field from the candidate the verifier prefers for it."""

    type: Literal["field"]
    output_type: ImportRef | None = Field(None, description="'module:attr' of the pydantic model of the answer")


CrossoverSpec = Annotated[
    Annotated[MergeCrossoverSpec, Tag("merge")]
    | Annotated[DistillRefineSpec, Tag("distill_refine")]
    | Annotated[FieldCrossoverSpec, Tag("field")],
    _tag("type"),
]


class CrossoverNode(_NodeBase):
    """Combine candidates into one."""

    kind: Literal["crossover"]
    candidates: StatePath = Field(description="candidates, or a verifier node (its selected candidates)")
    crossover: CrossoverSpec = Field(description="merge, distill_refine or field, with parameters")
    question: str | None = None

    @field_validator("crossover", mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value


class WriterNode(_NodeBase):
    """``Writer``: a Markdown report with a short answer first and numbered citations."""

    kind: Literal["writer"]
    model: str | None = None
    question: str | None = Field(None, description="default: '{question}'")
    findings: StatePath | list[StatePath] = Field(
        description="what the report is written from, merged answer first: a path or a list of paths "
        "(e.g. [merge, research]: the merged answer, then one section per team)"
    )
    passages: StatePath | None = Field(None, description="more sources it may cite (default: those the findings carry)")
    max_tokens: PosInt = Field(2048, description="bound on the drafted body")
    instructions: str | None = Field(None, description="the writer's system prompt (default: the report format)")


class FunctionNode(_NodeBase):
    """A Python callable: ``fn(**args)`` (sync or async); a ``state`` parameter gets the state."""

    kind: Literal["function"]
    fn: ImportRef
    args: dict[str, Any] = Field(default_factory=dict, description="keyword arguments; '{path}' strings read the state")


class EvolveNode(_NodeBase):
    """``Evolve(generate, verify, crossover, generations, population)``: each generation is
    generate → verify → select → crossover → refine with feedback; it keeps the best so far."""

    kind: Literal["evolve"]
    question: str | None = Field(None, description="default: '{question}'")
    generate: BodyNode = Field(
        description="makes one candidate: {item} is the prompt (with the parent and feedback after the first "
        "generation), {index} the sample, {generation} the generation"
    )
    verify: VerifierSpec
    crossover: CrossoverSpec | None = None
    generations: PosInt = 3
    population: PosInt = 4
    threshold: float = Field(1.0, ge=0, le=1, description="stop when the best score reaches this")
    patience: PosInt = Field(2, description="stop after this many generations without improvement")
    elites: PosInt = Field(2, description="best candidates carried into the next generation's pool")
    select: SelectSpec | None = Field(None, description="which candidates go to crossover (default: top k)")

    @field_validator("verify", mode="before")
    @classmethod
    def _short_v(cls, value: Any) -> Any:
        return _verifier_short(value)

    @field_validator("crossover", mode="before")
    @classmethod
    def _short_c(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value


BodyNode = Annotated[
    Annotated[AgentNode, Tag("agent")]
    | Annotated[PlannerNode, Tag("planner")]
    | Annotated[VerifierNode, Tag("verifier")]
    | Annotated[CrossoverNode, Tag("crossover")]
    | Annotated[WriterNode, Tag("writer")]
    | Annotated[FunctionNode, Tag("function")],
    _tag("kind"),
]


class MapNode(_NodeBase):
    """Fan out: one branch per item (a LangGraph ``Send``), each running ``node``; the output is
    the list of branch outputs in item order. Branches are memory teams."""

    kind: Literal["map"]
    over: StatePath | None = Field(None, description="the list to map over, e.g. plan.sub_tasks")
    items: list[Any] | None = Field(None, description="a literal list instead of over")
    node: BodyNode = Field(description="what each branch runs; {item} and {index} are the branch's")
    max_items: PosInt | None = Field(None, description="take at most this many items")
    team: str | None = Field(None, description="team name per branch (default: '<map>-<index>')")

    @model_validator(mode="after")
    def _source(self) -> MapNode:
        if (self.over is None) == (self.items is None):
            raise ValueError("give exactly one of over (a state path) or items (a list)")
        return self


NodeSpec = Annotated[
    Annotated[AgentNode, Tag("agent")]
    | Annotated[PlannerNode, Tag("planner")]
    | Annotated[MapNode, Tag("map")]
    | Annotated[VerifierNode, Tag("verifier")]
    | Annotated[CrossoverNode, Tag("crossover")]
    | Annotated[EvolveNode, Tag("evolve")]
    | Annotated[WriterNode, Tag("writer")]
    | Annotated[FunctionNode, Tag("function")],
    _tag("kind"),
]

EvolveNode.model_rebuild()


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
    nodes: dict[str, NodeSpec] = Field(min_length=1, description="the nodes, by name")
    edges: list[EdgeSpec] | None = Field(None, description="edges; leave out to run the nodes in order")

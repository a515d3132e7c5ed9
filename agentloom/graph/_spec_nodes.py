"""Node specs: one pydantic model per node kind (and per planner), and the ``kind``-tagged
unions a graph's ``nodes`` (``NodeSpec``) and a map or evolve body (``BodyNode``) accept."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, Tag, field_validator, model_validator

from agentloom.graph._spec_judge import CrossoverSpec, SelectSpec, VerifierSpec, _verifier_short
from agentloom.graph._spec_types import (
    BudgetSpec,
    ImportRef,
    NonNegInt,
    PosInt,
    PosIntOrAuto,
    RetrySpec,
    StatePath,
    Timeout,
    Width,
    _Strict,
    _tag,
)

__all__ = [
    "AgentNode",
    "BodyNode",
    "BudgetPlannerNode",
    "CrossoverNode",
    "DAGPlannerNode",
    "EvolveNode",
    "FixedPlannerNode",
    "FunctionNode",
    "MapNode",
    "NodeSpec",
    "PDRNode",
    "PlannerNode",
    "ScheduledPlannerNode",
    "VerifierNode",
    "WriterNode",
]


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

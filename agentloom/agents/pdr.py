"""``PDR(width, rounds, workspace_tokens)``: Parallel-Distill-Refine.

Each round drafts ``width`` answers in parallel (child agents, each under its own budget, each
seeing the task plus the workspace so far), optionally verifies them, distils them into a
workspace of at most ``workspace_tokens`` tokens, and refines the best draft from it (purpose
``refine``). The next round drafts from the new workspace. With ``width=1`` it is plain
sequential refinement. The rounds run through ``run_rounds`` like every round-based planner
(each draft is a branch with its own span and child budget); distilling and refining are
``agents.crossover.DistillRefine``. It composes agents and a crossover, so it lives beside
``Evolve`` in ``agents`` (planners never import agents).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentloom import tracing
from agentloom.agents.agent import DEFAULT_INSTRUCTIONS, Agent
from agentloom.agents.candidates import Candidate
from agentloom.agents.crossover import DistillRefine
from agentloom.budget import Budget
from agentloom.citations import Citation, citations_for
from agentloom.errors import BudgetExceeded, ConfigError
from agentloom.models.resolve import resolve_model
from agentloom.models.types import Model
from agentloom.planners.rounds import Branch
from agentloom.planners.types import Feedback, Plan
from agentloom.result import Result, UsageSummary
from agentloom.runstore import RunStore
from agentloom.tools.base import Tool, tool

__all__ = ["PDR", "PDRRound"]


@dataclass
class PDRRound:
    """One round: the drafts' answers, the workspace they were distilled into, the refined answer."""

    drafts: list[str] = field(default_factory=list)
    workspace: str = ""
    workspace_tokens: int = 0
    dropped: int = 0
    refined: str = ""
    scores: list[float] = field(default_factory=list)


def _whole(value: object, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"PDR {what}={value!r} must be a whole number of at least {minimum}")
    return value


class PDR:
    """Parallel drafts → bounded workspace → refine, for ``rounds`` rounds.

    ``verifier`` (optional, anything with ``async verify(candidates, question=...)``) scores
    drafts so the workspace favours verified points and the best draft is refined.
    """

    name = "pdr"

    def __init__(
        self,
        width: int = 4,
        rounds: int = 2,
        workspace_tokens: int = 512,
        *,
        model: str | Model | None = None,
        tools: Sequence[Tool | Callable[..., Any]] = (),
        instructions: str | None = None,
        verifier: Any = None,
        draft_max_turns: int = 4,
        max_tokens: int = 1024,
        name: str | None = None,
    ) -> None:
        self.width = _whole(width, "width", 1)
        self.rounds = _whole(rounds, "rounds", 1)
        self.workspace_tokens = _whole(workspace_tokens, "workspace_tokens", 16)
        self.draft_max_turns = _whole(draft_max_turns, "draft_max_turns", 1)
        self.max_tokens = _whole(max_tokens, "max_tokens", 1)
        self.model = model
        self.tools = [t if isinstance(t, Tool) else tool(t) for t in tools]
        self.instructions = instructions
        self.verifier = verifier
        if name:
            self.name = name

    async def run(
        self,
        task: str,
        *,
        model: str | Model | None = None,
        tools: Sequence[Tool | Callable[..., Any]] | None = None,
        budget: Budget | None = None,
        store: RunStore | None = None,
    ) -> Result:
        """Run every round on ``task``; the answer is the last refinement (or, when the budget
        runs out, the best text so far, with ``budget_limited`` set)."""
        from agentloom._runtime import run_scope

        if not isinstance(task, str) or not task.strip():
            raise ConfigError("PDR: the task is empty")
        resolved = resolve_model(model if model is not None else self.model)
        tool_list = self.tools if tools is None else [t if isinstance(t, Tool) else tool(t) for t in tools]
        async with run_scope("pdr", self.name, {"task": task}, budget=budget, store=store) as scope:
            result = await self._rounds(task, resolved, tool_list, scope.budget)
            result = result.with_(run_id=scope.run_id)
            scope.output = {"output": result.output, "citations": [c.to_dict() for c in result.citations]}
            scope.meta = {"stop_reason": result.stop_reason, **{k: v for k, v in result.meta.items() if k != "history"}}
            scope.status = "budget_exhausted" if result.budget_limited else "ok"
        return result

    async def _rounds(self, task: str, model: Model, tools: list[Tool], budget: Budget) -> Result:
        """The rounds, driven by ``run_rounds`` like every round-based planner: ``_PDRRun`` plans
        each round, drafts its branches, and (as the round's verify step) distils and refines."""
        from agentloom.planners.rounds import run_rounds

        run = _PDRRun(self, task, model, tools)
        rounds = await run_rounds(task, run, run.draft, run.verify_distill_refine, budget=budget)
        if run.error is not None:
            raise run.error
        if rounds.stop_reason.startswith("stop: budget exhausted"):  # a round's drafts all ran out of budget
            run.stop_reason = "budget"
        answer = run.answer
        return Result(
            output=answer,
            usage=UsageSummary.from_budget(budget),
            citations=citations_for(answer, run.passages),
            budget_limited=run.budget_limited,
            partial=run.budget_limited,
            stop_reason=run.stop_reason,
            meta={"width": self.width, "rounds": len(run.history), "workspace_tokens": [h.workspace_tokens for h in run.history],
                  "history": [h.__dict__ for h in run.history]},
        )


class _PDRRun:
    """One PDR run's state, in the three roles ``run_rounds`` asks for: the ``Planner`` (a fixed
    ``width`` for ``rounds`` rounds), ``generate`` (one draft) and ``verify`` (score the drafts,
    distil them into the workspace, refine the best)."""

    def __init__(self, pdr: PDR, task: str, model: Model, tools: list[Tool]) -> None:

        self.pdr = pdr
        self.name = pdr.name
        self.unit = "llm_calls"
        self.task = task
        self.model = model
        self.tools = tools
        self.distiller = DistillRefine(model, workspace_tokens=pdr.workspace_tokens, max_tokens=pdr.max_tokens,
                                       name=f"{pdr.name}.distill")
        self.passages: dict[str, Citation] = {}
        self.history: list[PDRRound] = []
        self.answer = ""
        self.workspace_text = ""
        self.prompt = task
        self.budget_limited = False
        self.stop_reason = "rounds"
        self.stopped = False
        self.error: BaseException | None = None

    async def next_plan(self, task: str, remaining: Budget | float | None, feedback: Feedback) -> Plan:
        r = feedback.round
        last_empty = bool(feedback.rounds) and feedback.rounds[-1].width == 0
        if self.error is not None or self.stopped or last_empty or r >= self.pdr.rounds:
            if last_empty:
                self.stop_reason = "budget"
            return Plan(width=0, stop=True, round=r, depth=0, reason=f"stop: {self.stop_reason}")
        width = self.pdr.width
        self.prompt = task if not self.workspace_text else (
            f"{task}\n\nWorkspace distilled from earlier attempts (build on it, fix its gaps, keep its citations):\n"
            f"{self.workspace_text}\n\nCurrent best answer:\n{self.answer}"
        )
        reason = (f"round {r + 1}/{self.pdr.rounds}: {width} parallel draft(s)"
                  + (" from the distilled workspace" if self.workspace_text else "")
                  + ("; width 1 is sequential refinement" if width == 1 else ""))
        tracing.emit("decision", self.name, data={"round": r, "width": width, "workspace_tokens": self.pdr.workspace_tokens,
                                                  "reason": reason})
        return Plan(width=width, round=r, depth=self.pdr.rounds - r, reason=reason)

    async def draft(self, branch: Branch) -> Any:
        """One draft by a child agent under the branch's budget; a failure other than the
        budget is kept and raised when the round ends (as a PDR run always did)."""

        pdr = self.pdr
        agent = Agent(self.model, self.tools, pdr.instructions or DEFAULT_INSTRUCTIONS,
                      name=f"{pdr.name}.r{branch.round + 1}.d{branch.index + 1}",
                      max_turns=pdr.draft_max_turns, max_tokens=pdr.max_tokens)
        try:
            res = await agent.run(self.prompt)
        except BudgetExceeded:
            self.budget_limited = True
            raise
        except Exception as exc:
            self.error = self.error or exc
            raise
        cited = {c.id: c for c in res.citations}
        self.passages.update(cited)
        self.budget_limited = self.budget_limited or res.budget_limited
        return Candidate(text=str(res.output or ""), passages=cited, source=f"{pdr.name}.round{branch.round + 1}")

    async def verify_distill_refine(self, task: str, candidates: list[Any]) -> list[Any]:
        """Score the drafts (with the verifier, if any), distil them into the bounded
        workspace and refine the best; the refined text is the answer so far."""
        if self.error is not None:
            return []
        verdicts: list[Any] = []
        if self.pdr.verifier is not None:
            try:
                verdicts = list(await self.pdr.verifier.verify(candidates, question=task))
            except BudgetExceeded:
                self.budget_limited = True
        workspace = self.distiller.distill(candidates, verdicts or None)
        best = _best(candidates, verdicts)
        record = PDRRound(drafts=[c.content for c in candidates], workspace=workspace.text, workspace_tokens=workspace.tokens,
                          dropped=workspace.dropped, scores=[float(getattr(v, "score", 0.0)) for v in verdicts])
        try:
            refined = await self.distiller.refine(best, workspace, question=task, passages=self.passages)
            self.answer = (refined.text or best.content).strip()
        except BudgetExceeded:
            self.budget_limited = True
            self.answer = best.content
            self.stopped, self.stop_reason = True, "budget"
        record.refined = self.answer
        self.history.append(record)
        if not self.stopped:
            self.workspace_text = workspace.text
        return verdicts


def _best(candidates: list[Any], verdicts: list[Any]) -> Any:
    if not verdicts:
        return candidates[0]
    ranked = sorted(range(len(candidates)), key=lambda i: (getattr(verdicts[i], "passed", None) is True, float(getattr(verdicts[i], "score", 0.0))) if i < len(verdicts) else (False, 0.0), reverse=True)
    return candidates[ranked[0]]

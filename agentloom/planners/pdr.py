"""``PDR(width, rounds, workspace_tokens)``: Parallel-Distill-Refine.

Each round drafts ``width`` answers in parallel (child agents, each under its own budget, each
seeing the task plus the workspace so far), optionally verifies them, distils them into a
workspace of at most ``workspace_tokens`` tokens, and refines the best draft from it (purpose
``refine``). The next round drafts from the new workspace. With ``width=1`` it is plain
sequential refinement. Distilling and refining are ``agents.crossover.DistillRefine``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentloom import tracing
from agentloom.budget import Budget
from agentloom.citations import Citation, citations_for
from agentloom.errors import BudgetExceeded, ConfigError
from agentloom.models.resolve import resolve_model
from agentloom.models.types import Model
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
            result.run_id = scope.run_id
            scope.output = {"output": result.output, "citations": [c.to_dict() for c in result.citations]}
            scope.meta = {"stop_reason": result.stop_reason, **{k: v for k, v in result.meta.items() if k != "history"}}
            scope.status = "budget_exhausted" if result.budget_limited else "ok"
        return result

    async def _rounds(self, task: str, model: Model, tools: list[Tool], budget: Budget) -> Result:
        from agentloom.agents.candidates import Candidate
        from agentloom.agents.crossover import DistillRefine

        distiller = DistillRefine(model, workspace_tokens=self.workspace_tokens, max_tokens=self.max_tokens, name=f"{self.name}.distill")
        passages: dict[str, Citation] = {}
        history: list[PDRRound] = []
        answer = ""
        workspace_text = ""
        budget_limited = False
        stop_reason = "rounds"
        for r in range(self.rounds):
            prompt = task if not workspace_text else (
                f"{task}\n\nWorkspace distilled from earlier attempts (build on it, fix its gaps, keep its citations):\n"
                f"{workspace_text}\n\nCurrent best answer:\n{answer}"
            )
            tracing.emit("decision", self.name, data={"round": r, "width": self.width, "workspace_tokens": self.workspace_tokens,
                                                      "reason": f"round {r + 1}/{self.rounds}: {self.width} parallel draft(s)"
                                                      + (" from the distilled workspace" if workspace_text else "")
                                                      + ("; width 1 is sequential refinement" if self.width == 1 else "")})
            drafts = await asyncio.gather(*(self._draft(prompt, model, tools, budget, r, i) for i in range(self.width)))
            candidates = []
            for res in drafts:
                if res is None:
                    budget_limited = True
                    continue
                cited = {c.id: c for c in res.citations}
                passages.update(cited)
                candidates.append(Candidate(text=str(res.output or ""), passages=cited, source=f"{self.name}.round{r + 1}"))
                budget_limited = budget_limited or res.budget_limited
            if not candidates:
                stop_reason = "budget"
                break
            verdicts: list[Any] = []
            if self.verifier is not None:
                try:
                    verdicts = list(await self.verifier.verify(candidates, question=task))
                except BudgetExceeded:
                    budget_limited = True
            workspace = distiller.distill(candidates, verdicts or None)
            best = _best(candidates, verdicts)
            record = PDRRound(drafts=[c.content for c in candidates], workspace=workspace.text, workspace_tokens=workspace.tokens,
                              dropped=workspace.dropped, scores=[float(getattr(v, "score", 0.0)) for v in verdicts])
            try:
                refined = await distiller.refine(best, workspace, question=task, passages=passages)
                answer = (refined.text or best.content).strip()
            except BudgetExceeded:
                budget_limited = True
                answer = best.content
                record.refined = answer
                history.append(record)
                stop_reason = "budget"
                break
            record.refined = answer
            history.append(record)
            workspace_text = workspace.text
        return Result(
            output=answer,
            usage=UsageSummary.from_budget(budget),
            citations=citations_for(answer, passages),
            budget_limited=budget_limited,
            partial=budget_limited,
            stop_reason=stop_reason,
            meta={"width": self.width, "rounds": len(history), "workspace_tokens": [h.workspace_tokens for h in history],
                  "history": [h.__dict__ for h in history]},
        )

    async def _draft(self, prompt: str, model: Model, tools: list[Tool], budget: Budget, r: int, i: int) -> Result | None:
        from agentloom.agents.agent import DEFAULT_INSTRUCTIONS, Agent

        agent = Agent(model, tools, self.instructions or DEFAULT_INSTRUCTIONS, name=f"{self.name}.r{r + 1}.d{i + 1}",
                      max_turns=self.draft_max_turns, max_tokens=self.max_tokens)
        try:
            return await agent.run(prompt, budget=budget.child(agent.name))
        except BudgetExceeded:
            return None


def _best(candidates: list[Any], verdicts: list[Any]) -> Any:
    if not verdicts:
        return candidates[0]
    ranked = sorted(range(len(candidates)), key=lambda i: (getattr(verdicts[i], "passed", None) is True, float(getattr(verdicts[i], "score", 0.0))) if i < len(verdicts) else (False, 0.0), reverse=True)
    return candidates[ranked[0]]

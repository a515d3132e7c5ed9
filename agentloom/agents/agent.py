"""``Agent``: a tool-use loop whose tool calls of one turn run concurrently.

Each turn the model is told its tool-call width; calls beyond it are deferred to the next turn
(and recorded), never dropped. ``max_turns`` bounds depth. When the budget runs low the agent
narrows, and when it runs out it finishes with its best answer so far (``budget_limited``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from agentloom import tracing
from agentloom._runtime import run_scope
from agentloom.budget import Budget
from agentloom.citations import Citation, citations_for, collect_passages
from agentloom.errors import BudgetExceeded, ConfigError
from agentloom.models.base import call_model
from agentloom.models.resolve import resolve_model
from agentloom.models.types import Message, Model, ModelRequest, ToolCall
from agentloom.planners.width import WidthSchedule, parse_width
from agentloom.result import Result, UsageSummary
from agentloom.runstore import RunStore
from agentloom.tools.base import Tool, tool
from agentloom.tools.executor import ToolExecutor

__all__ = ["Agent", "DEFAULT_INSTRUCTIONS"]

DEFAULT_INSTRUCTIONS = (
    "You are a careful research agent. Use the tools to find evidence, issuing independent "
    "tool calls in parallel in one turn. Answer only from tool results, and cite every claim "
    "with the source id in square brackets, e.g. [p_0123456789]. If the tools find nothing "
    "relevant, say that no supporting evidence was found."
)

#: Below this fraction of budget left the agent narrows to width 1; below ``_FINISH_AT`` it finishes.
_NARROW_AT = 0.25
_FINISH_AT = 0.08


class Agent:
    """A tool-using agent. ``await agent.run(task, budget=...)`` returns a :class:`Result`."""

    def __init__(
        self,
        model: str | Model | None = None,
        tools: Sequence[Tool | Callable[..., Any]] = (),
        instructions: str = DEFAULT_INSTRUCTIONS,
        *,
        name: str = "agent",
        width: int | str | Mapping[Any, int] | WidthSchedule | None = "descending",
        max_turns: int = 6,
        max_tokens: int = 1024,
        temperature: float | None = None,
        memory: Any = None,
        team: str | None = None,
        max_concurrency: int = 16,
        output_type: type[BaseModel] | None = None,
    ) -> None:
        if max_turns < 1:
            raise ConfigError(f"max_turns={max_turns} must be at least 1")
        if max_tokens < 1:
            raise ConfigError(f"max_tokens={max_tokens} must be at least 1")
        self.model: Model = resolve_model(model)
        self.tools: list[Tool] = [t if isinstance(t, Tool) else tool(t) for t in tools]
        self.instructions = instructions
        self.name = name
        self.width = parse_width(width)
        self.max_turns = max_turns
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.memory = memory
        self.team = team
        self.max_concurrency = max_concurrency
        self.output_type = output_type

    # ----------------------------------------------------------------- public API
    async def run(
        self,
        task: str,
        *,
        budget: Budget | None = None,
        run_id: str | None = None,
        store: RunStore | None = None,
    ) -> Result:
        """Run the tool loop on ``task``; inside another run it records as a nested span."""
        if not isinstance(task, str) or not task.strip():
            raise ConfigError("the task is empty; give the agent a question or instruction")
        async with run_scope(
            "agent", self.name, {"task": task}, budget=budget, run_id=run_id, store=store, team=self.team, memory=self.memory
        ) as scope:
            result = await self._loop(task, scope.budget)
            result.run_id = scope.run_id
            scope.output = {"output": _jsonable(result.output), "citations": [c.to_dict() for c in result.citations]}
            scope.status = "budget_exhausted" if result.budget_limited else "ok"
            scope.meta = {"stop_reason": result.stop_reason, **result.meta}
            scope.usage = result.usage.to_dict()
        return result

    def run_sync(self, task: str, **kwargs: Any) -> Result:
        """``run`` for synchronous code (not from inside a running event loop)."""
        return asyncio.run(self.run(task, **kwargs))

    # ----------------------------------------------------------------- the loop
    def _all_tools(self) -> list[Tool]:
        tools = list(self.tools)
        if self.memory is not None:
            from agentloom.memory.agent_hooks import memory_tools

            tools.extend(memory_tools(self.memory))
        return tools

    def _system_prompt(self, task: str, width: int, memory_block: str) -> str:
        parts = [self.instructions, f"Tool-call width this turn: {width}"]
        if memory_block:
            parts.append("Shared memory (read an entry with memory_read(id)):\n" + memory_block)
        return "\n\n".join(parts)

    async def _loop(self, task: str, budget: Budget) -> Result:
        tools = self._all_tools()
        executor = ToolExecutor(tools, max_concurrency=self.max_concurrency, cache=self.memory)
        schemas = [t.schema() for t in tools]
        memory_block = ""
        if self.memory is not None:
            from agentloom.memory.agent_hooks import memory_prompt

            memory_block = memory_prompt(self.memory, task, self.team)
        messages: list[Message] = [Message("system", ""), Message("user", task)]
        passages: dict[str, Citation] = {}
        deferred: list[ToolCall] = []
        final: str | None = None
        parsed: Any = None
        budget_limited = False
        stop_reason = "max_turns"
        memory_hits = 0
        turns_used = 0

        for turn in range(self.max_turns):
            turns_used = turn + 1
            width = self._width_for(turn, budget)
            if budget.remaining_fraction() < _FINISH_AT:
                budget_limited, stop_reason = True, "budget"
                break
            if deferred:
                batch, deferred = deferred[:width], deferred[width:]
                tracing.emit("deferral", self.name, data={"turn": turn, "running": [c.name for c in batch], "still_deferred": len(deferred)})
                messages.append(Message("assistant", None, batch))
            else:
                messages[0] = Message("system", self._system_prompt(task, width, memory_block))
                request = ModelRequest(
                    messages=list(messages),
                    tools=schemas,
                    output_type=None,
                    temperature=self.temperature,
                    max_tokens=self.max_tokens,
                    purpose="act",
                    metadata={"question": task, "turn": turn, "width": width, "team": self.team},
                )
                try:
                    completion = await call_model(self.model, request)
                except BudgetExceeded:
                    budget_limited, stop_reason = True, "budget"
                    break
                calls = list(completion.tool_calls)
                if not calls:
                    final = completion.text or ""
                    messages.append(Message("assistant", final))
                    stop_reason = "answered"
                    break
                batch, extra = calls[:width], calls[width:]
                if extra:
                    deferred.extend(extra)
                    tracing.emit("deferral", self.name, data={"turn": turn, "width": width, "deferred": [c.name for c in extra]})
                messages.append(Message("assistant", completion.text, batch))
            results = await executor.run_batch(batch)
            for result in results:
                messages.append(Message("tool", result.content(), tool_call_id=result.call_id, name=result.name))
                if result.ok:
                    collect_passages(result.value, passages)
                if result.cached or result.coalesced:
                    memory_hits += 1
            if any(r.error_type == "BudgetExceeded" for r in results):
                budget_limited, stop_reason = True, "budget"
                break

        if final is None:
            final = await self._best_answer(task, messages)
        output: Any = final or ""
        if self.output_type is not None and final:
            parsed = await self._structure(task, messages, final)
            output = parsed if parsed is not None else final
        if self.memory is not None and final:
            from agentloom.memory.agent_hooks import admit_step

            try:
                await admit_step(self.memory, kind="answer", key=task[:200], value=final, task=task,
                                 citations=[c.id for c in citations_for(final, passages)])
            except BudgetExceeded:
                pass
        usage = UsageSummary.from_budget(budget, memory_hits=memory_hits)
        return Result(
            output=output,
            usage=usage,
            citations=citations_for(final, passages),
            budget_limited=budget_limited,
            partial=budget_limited,
            stop_reason=stop_reason,
            meta={"turns": turns_used, "width": self.width.describe(), "passages": len(passages)},
        )

    def _width_for(self, turn: int, budget: Budget) -> int:
        width = self.width.width(turn)
        if budget.remaining_fraction() < _NARROW_AT:
            width = 1
        return width

    async def _best_answer(self, task: str, messages: list[Message]) -> str | None:
        """One tool-free call for the best answer so far; without budget, the last text seen."""
        request = ModelRequest(
            messages=[*messages, Message("user", "Give your best final answer now from the evidence above, with citations.")],
            tools=[],
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            purpose="act",
            metadata={"question": task, "final": True, "team": self.team},
        )
        try:
            completion = await call_model(self.model, request)
            return completion.text or ""
        except BudgetExceeded:
            for message in reversed(messages):
                if message.role == "assistant" and message.content:
                    return message.content
            return None

    async def _structure(self, task: str, messages: list[Message], final: str) -> Any:
        assert self.output_type is not None
        request = ModelRequest(
            messages=[*messages, Message("user", "Return the final answer as JSON matching the schema.")],
            output_type=self.output_type,
            max_tokens=self.max_tokens,
            purpose="act",
            metadata={"question": task, "final": True, "structured": True},
        )
        completion = await call_model(self.model, request)
        return completion.parsed


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)


"""``Agent``: a tool-use loop whose tool calls of one turn run concurrently.

Each turn the model is told its tool-call width (``width``: an int, a schedule name or a
mapping of turn ranges); calls beyond it are deferred to the next turn and recorded, never
dropped. ``max_turns`` bounds depth. When the budget runs low the agent narrows (half width
below half the budget, width 1 below a quarter), and near the end it finishes with its best
answer so far (``Result.budget_limited``). ``threads=N`` adds a ``spawn`` tool that runs
sub-tasks as child agents; ``planner=DAGPlanner()`` replaces the loop with plan → execute → join.
``approve=`` gates tool calls and spend: the loop waits for a person (``agentloom.live_approval``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from agentloom import tracing
from agentloom._runtime import run_scope
from agentloom.agents import tool_protocol as protocol
from agentloom.budget import Budget
from agentloom.citations import Citation, citations_for, collect_passages
from agentloom.errors import ApprovalDenied, BudgetExceeded, ConfigError, ModelOutputError
from agentloom.events import EventStream, stream_run
from agentloom.models.base import call_model
from agentloom.models.call_gate import use_call_gate
from agentloom.models.resolve import TOOL_MODES, resolve_model
from agentloom.models.types import Completion, Message, Model, ModelRequest, ToolCall
from agentloom.planners.width import WidthSchedule, parse_width
from agentloom.result import Result, UsageSummary
from agentloom.runstore import RunStore
from agentloom.tools.base import Tool, tool
from agentloom.tools.executor import ToolExecutor
from agentloom.tools.gate import use_gate
from agentloom.tools.mcp import mcp_tools, open_toolsets
from agentloom.tracing import Listener

if TYPE_CHECKING:
    from agentloom.live_approval import ApprovalHandler, LiveGates
    from agentloom.memory.bank import MemoryBank
    from agentloom.planners.dag import DAGPlanner

__all__ = ["Agent", "DEFAULT_INSTRUCTIONS"]

DEFAULT_INSTRUCTIONS = (
    "You are a careful research agent. Use the tools to find evidence, issuing independent "
    "tool calls in parallel in one turn. Answer only from tool results, and cite every claim "
    "with the source id in square brackets, e.g. [p_0123456789]. If the tools find nothing "
    "relevant, say that no supporting evidence was found."
)

#: Said once to a model that answered without citing anything, when it has evidence tools.
_LOOK_IT_UP = (
    "Your answer cites no source. Look it up first: call {tool} with the key words of the question, "
    "then answer from the passages and cite their ids in square brackets."
)
#: Passages the framework's own first search returns.
_FIRST_SEARCH_K = 3

#: Below ``_HALVE_AT`` of the budget left the width halves, below ``_NARROW_AT`` it is 1, and
#: below ``_FINISH_AT`` the agent stops calling tools and gives its best answer.
_HALVE_AT = 0.5
_NARROW_AT = 0.25
_FINISH_AT = 0.08


class Agent:
    """A tool-using agent. ``await agent.run(task, budget=...)`` returns a :class:`Result`."""

    def __init__(
        self,
        model: str | Model | None = None,
        tools: Sequence[Tool | Callable[..., Any] | mcp_tools] = (),
        instructions: str = DEFAULT_INSTRUCTIONS,
        *,
        name: str = "agent",
        width: int | str | Mapping[Any, int] | WidthSchedule | None = "descending",
        max_turns: int = 6,
        max_tokens: int = 1024,
        temperature: float | None = None,
        memory: MemoryBank | None = None,
        team: str | None = None,
        max_concurrency: int = 16,
        output_type: type[BaseModel] | None = None,
        threads: int | None = None,
        max_spawn_depth: int = 1,
        max_spawn_tasks: int = 32,
        planner: DAGPlanner | None = None,
        tool_mode: str | None = None,
        retrieve_first: bool | None = None,
        approve: Any = None,
        on_approval: ApprovalHandler | None = None,
        _spawn_depth: int = 0,
    ) -> None:
        for key, value in (("max_turns", max_turns), ("max_tokens", max_tokens), ("max_spawn_depth", max_spawn_depth),
                           ("max_spawn_tasks", max_spawn_tasks), ("max_concurrency", max_concurrency)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Agent {key}={value!r} must be a whole number of at least 1")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ConfigError(f"Agent threads={threads!r} must be a whole number of at least 1 (or None for no spawn tool)")
        if planner is not None and not callable(getattr(planner, "solve", None)):
            raise ConfigError(
                f"Agent planner={type(planner).__name__} has no solve(); use planner=DAGPlanner() "
                "(width/depth planners such as BudgetPlanner drive rounds through planners.run_rounds)"
            )
        if tool_mode is not None and tool_mode not in TOOL_MODES:
            raise ConfigError(f"Agent tool_mode={tool_mode!r} must be one of {', '.join(TOOL_MODES)}")
        self.model: Model = resolve_model(model)
        #: toolsets (``mcp_tools``) each run opens for itself, all servers starting in parallel
        self.toolsets: list[mcp_tools] = []
        self.tools: list[Tool] = []
        for t in tools:
            if isinstance(t, mcp_tools):
                self.toolsets.append(t)
            else:
                self.tools.append(t if isinstance(t, Tool) else tool(t))
        self.instructions = instructions
        self.name = name
        self.width = parse_width(width)
        self.max_turns = max_turns
        self.max_tokens = max_tokens
        self.temperature = 0.0 if temperature is None else temperature  # explicit on every call
        self.tool_mode = tool_mode
        self.retrieve_first = retrieve_first
        self.memory = memory
        self.team = team
        self.max_concurrency = max_concurrency
        self.output_type = output_type
        self.threads = threads
        self.max_spawn_depth = max_spawn_depth
        self.max_spawn_tasks = max_spawn_tasks
        self.planner = planner
        self.spawn_depth = _spawn_depth
        #: approval gates (tools, spend_over): a gated step waits for ``on_approval`` or an answer
        #: written to the run store (``loom runs approve``, ``approvals.get(id).resume``)
        self.approve: Any = None
        if approve is not None:
            from agentloom.live_approval import parse_agent_approve

            self.approve = parse_agent_approve(approve)
        self.on_approval = on_approval

    def child_agent(self, name: str) -> Agent:
        """A thread of this agent: same model, tools, width and depth limits, one spawn level
        deeper (with no ``spawn`` tool once ``max_spawn_depth`` is reached)."""
        from agentloom.agents.threads import CHILD_INSTRUCTIONS

        depth = self.spawn_depth + 1
        return Agent(
            self.model,
            self.tools,
            f"{self.instructions}\n\n{CHILD_INSTRUCTIONS}",
            name=name,
            width=self.width,
            max_turns=self.max_turns,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            memory=self.memory,
            team=self.team,
            max_concurrency=self.max_concurrency,
            threads=self.threads if depth < self.max_spawn_depth else None,
            max_spawn_depth=self.max_spawn_depth,
            max_spawn_tasks=self.max_spawn_tasks,
            tool_mode=self.tool_mode,
            retrieve_first=self.retrieve_first,
            _spawn_depth=depth,
        )

    # ----------------------------------------------------------------- public API
    async def run(
        self,
        task: str,
        *,
        budget: Budget | None = None,
        run_id: str | None = None,
        store: RunStore | None = None,
        listeners: list[Listener] | None = None,
    ) -> Result:
        """Run the tool loop on ``task``; inside another run it records as a nested span.
        ``listeners`` receive every typed event of a top-level run."""
        if not isinstance(task, str) or not task.strip():
            raise ConfigError("the task is empty; give the agent a question or instruction")
        async with run_scope(
            "agent", self.name, {"task": task}, budget=budget, run_id=run_id, store=store, team=self.team, memory=self.memory,
            listeners=listeners,
        ) as scope:
            gates = self._gates(scope.budget)
            async with open_toolsets(self.toolsets) as opened:
                with contextlib.ExitStack() as gated:
                    if gates is not None:
                        gated.enter_context(use_gate(gates.tool_gate))
                        if gates.spec.spend_over is not None:
                            gated.enter_context(use_call_gate(gates.call_gate()))
                    result = await self._loop(task, scope.budget, opened, gates)
            result = result.with_(run_id=scope.run_id)
            scope.output = {"output": _jsonable(result.output), "citations": [c.to_dict() for c in result.citations]}
            scope.status = "denied" if result.stop_reason == "denied" else "budget_exhausted" if result.budget_limited else "ok"
            scope.meta = {"stop_reason": result.stop_reason, **result.meta}
            scope.usage = result.usage.to_dict()
        return result

    def stream(self, task: str, *, maxsize: int = 10_000, **kwargs: Any) -> EventStream[Result]:
        """Run like ``run`` and yield its typed events (``async for event in agent.stream(...)``);
        the result is on the stream's ``result`` after the loop."""
        extra = list(kwargs.pop("listeners", None) or [])
        return stream_run(lambda listener: self.run(task, listeners=[*extra, listener], **kwargs), maxsize=maxsize)

    def run_sync(self, task: str, **kwargs: Any) -> Result:
        """``run`` for synchronous code (not from inside a running event loop)."""
        return asyncio.run(self.run(task, **kwargs))

    def _gates(self, budget: Budget) -> LiveGates | None:
        if self.approve is None or not self.approve.any:
            return None
        from agentloom.live_approval import LiveGates

        return LiveGates(self.approve, self.on_approval, name=self.name, budget=budget)

    # ----------------------------------------------------------------- the loop
    def _all_tools(self, opened: Sequence[Tool] = ()) -> list[Tool]:
        tools = [*self.tools, *opened]
        if self.memory is not None:
            from agentloom.memory.agent_hooks import memory_tools

            tools.extend(memory_tools(self.memory))
        if self.threads and self.spawn_depth < self.max_spawn_depth:
            from agentloom.agents.threads import spawn_tool

            tools.append(spawn_tool(self))
        return tools

    def _system_prompt(self, task: str, width: int, memory_block: str) -> str:
        has_tools = bool(self.tools) or bool(self.toolsets) or self.memory is not None or bool(self.threads)
        parts = [self.instructions, f"Tool-call width this turn: {width}"] if has_tools else [self.instructions]
        if self.threads and self.spawn_depth < self.max_spawn_depth:
            parts.append(
                f"To split the work, call spawn(tasks=[...]) with self-contained sub-tasks: each runs as a "
                f"separate agent that sees only its text, {self.threads} at a time, and you get their answers back."
            )
        if memory_block:
            parts.append("Shared memory (read an entry with memory_read(id)):\n" + memory_block)
        return "\n\n".join(parts)

    async def _loop(self, task: str, budget: Budget, opened: Sequence[Tool] = (), gates: LiveGates | None = None) -> Result:
        tools = self._all_tools(opened)
        executor = ToolExecutor(tools, max_concurrency=self.max_concurrency, cache=self.memory)
        passages: dict[str, Citation] = {}
        messages: list[Message] = [Message("system", self.instructions), Message("user", task)]
        try:
            if self.planner is not None:
                final, budget_limited, stop_reason, meta, memory_hits = await self._planned(task, tools, executor, passages, messages)
            else:
                final, budget_limited, stop_reason, meta, memory_hits = await self._react(
                    task, budget, tools, executor, passages, messages, gates)
        except ApprovalDenied as exc:  # a gate refused a step the loop does not check itself (a model call)
            _own_denial(exc, gates)
            final, budget_limited, stop_reason, meta, memory_hits = _found_so_far(messages, passages) or "", False, "denied", {}, 0
        if gates is not None and gates.records:
            meta = {**meta, "approvals": list(gates.records), "pauses": list(gates.pauses),
                    **({"denied": {k: gates.denied.get(k) for k in ("gate", "node", "reason")}} if gates.denied else {})}
        output: Any = final or ""
        if self.output_type is not None and final and stop_reason != "denied":
            try:
                parsed = await self._structure(task, messages)
            except BudgetExceeded:
                parsed, budget_limited = None, True
            except ApprovalDenied as exc:
                _own_denial(exc, gates)
                parsed, stop_reason = None, "denied"
            output = parsed if parsed is not None else final
        if self.memory is not None and final:
            from agentloom.memory.agent_hooks import admit_step

            try:
                await admit_step(self.memory, kind="answer", key=task[:200], value=final, task=task,
                                 citations=[c.id for c in citations_for(final, passages)])
            except BudgetExceeded:
                pass
        usage = UsageSummary.from_budget(budget, memory_hits=memory_hits)
        grounded = bool(citations_for(final, passages)) if any(protocol.is_evidence_tool(t) for t in tools) else None
        if grounded is False:
            tracing.emit("decision", self.name, status="error", data={
                "action": "ungrounded", "reason": "the answer cites no passage the run found; it is marked ungrounded"})
        return Result(
            output=output,
            usage=usage,
            citations=citations_for(final, passages),
            grounded=grounded,
            budget_limited=budget_limited,
            partial=budget_limited or stop_reason == "denied",
            stop_reason=stop_reason,
            meta={**meta, "passages": len(passages)},
        )

    async def _planned(
        self, task: str, tools: list[Tool], executor: ToolExecutor, passages: dict[str, Citation], messages: list[Message]
    ) -> tuple[str, bool, str, dict[str, Any], int]:
        """Plan → execute → join through ``self.planner`` (a ``DAGPlanner``); ``messages``
        gets the transcript (the tasks as tool calls, their results, the answer)."""
        assert self.planner is not None  # _loop calls this only when there is one
        run = await self.planner.solve(task, model=self.model, tools=tools, executor=executor)
        passages.update(run.passages)
        ran = [(t, r) for t in run.tasks if (r := t.result) is not None]
        if ran:
            messages.append(Message("assistant", None, [ToolCall(t.id, t.tool, json.dumps(t.args, default=str)) for t, _ in ran]))
            messages.extend(Message("tool", r.content(), tool_call_id=t.id, name=t.tool) for t, r in ran)
        messages.append(Message("assistant", run.answer))
        hits = sum(1 for t in run.tasks if (r := t.result) is not None and (r.cached or r.coalesced))
        meta = {"planner": getattr(self.planner, "name", type(self.planner).__name__), "tasks": len(run.tasks),
                "replans": run.replans, **run.meta}
        return run.answer, run.budget_limited, run.stop_reason, meta, hits

    async def _react(
        self, task: str, budget: Budget, tools: list[Tool], executor: ToolExecutor, passages: dict[str, Citation],
        messages: list[Message], gates: LiveGates | None = None,
    ) -> tuple[str, bool, str, dict[str, Any], int]:
        """The tool loop: one model call per turn, that turn's calls (up to the width) at once.
        The model is asked for calls in its tool mode (``tool_protocol``); with evidence tools
        the framework may run the first search itself, and an uncited answer is sent back once."""
        mode = protocol.resolve_tool_mode(self.model, self.tool_mode)
        names = [t.name for t in tools]
        evidence = [t for t in tools if protocol.is_evidence_tool(t)]
        deferred: list[ToolCall] = []
        final: str | None = None
        budget_limited = False
        stop_reason = "max_turns"
        memory_hits = 0
        turns_used = 0
        widths: list[int] = []
        deferrals = 0
        nudged = False
        retrieve = self.retrieve_first if self.retrieve_first is not None else mode != "native"
        denied = False
        if retrieve and evidence and budget.remaining_fraction() >= _FINISH_AT:
            try:
                memory_hits += await self._retrieve_first(task, evidence[0], executor, passages, messages)
            except ApprovalDenied as exc:
                denied = _own_denial(exc, gates)

        for turn in range(0 if denied else self.max_turns):
            if budget.remaining_fraction() < _FINISH_AT:
                budget_limited, stop_reason = True, "budget"
                tracing.emit("decision", self.name, data={"turn": turn, "action": "finish",
                                                          "reason": f"only {budget.remaining_fraction():.0%} of the budget is left; finishing with the best answer so far"})
                break
            turns_used = turn + 1
            width = self._width_for(turn, budget)
            widths.append(width)
            if deferred:
                batch, deferred = deferred[:width], deferred[width:]
                tracing.emit("deferral", self.name, data={"turn": turn, "width": width, "running": [c.name for c in batch], "still_deferred": len(deferred)})
                messages.append(Message("assistant", None, batch))
            else:
                # the shared keys are read afresh each turn: other teams' findings appear as they land
                # (searched on a worker thread: a big bank's search must not stall the event loop)
                block = await asyncio.to_thread(self._memory_block, task) if self.memory is not None else ""
                messages[0] = Message("system", self._system_prompt(task, width, block))
                last_turn = turn == self.max_turns - 1
                if gates is not None and not await gates.spend_gate(budget):
                    denied = True
                    break
                request = self._act_request(task, mode, tools, messages, passages, turn=turn, width=width, answer_only=last_turn)
                try:
                    completion = await call_model(self.model, request)
                except BudgetExceeded:
                    budget_limited, stop_reason = True, "budget"
                    break
                except ModelOutputError as exc:
                    if (exc.text or "").lstrip().startswith("{"):
                        # the schema was enforced but the reply broke off (max_tokens): no answer
                        # this turn; the best-answer step below gets another try
                        stop_reason = "unparsable"
                        break
                    # the server did not enforce the schema: read the reply as text from now on
                    # (and remember that for this model when the mode was picked automatically)
                    completion = Completion(text=exc.text)
                    mode = self._fall_back_to_text(mode)
                calls, answer = self._read_completion(mode, completion, names)
                if not calls:
                    final = answer or ""
                    messages.append(Message("assistant", final))
                    stop_reason = "answered"
                    if evidence and not nudged and not citations_for(final, passages) and not last_turn:
                        nudged, final = True, None
                        messages.append(Message("user", _LOOK_IT_UP.format(tool=evidence[0].name)))
                        tracing.emit("decision", self.name, data={"turn": turn, "action": "ground",
                                                                  "reason": "the answer cites no source; the model is told once to look things up"})
                        continue
                    break
                batch, extra = calls[:width], calls[width:]
                if extra:
                    deferred.extend(extra)
                    deferrals += len(extra)
                    tracing.emit("deferral", self.name, data={"turn": turn, "width": width, "issued": len(calls), "deferred": [c.name for c in extra],
                                                              "reason": f"the model issued {len(calls)} calls at width {width}; {len(extra)} run next turn"})
                messages.append(Message("assistant", completion.text if mode == "native" else None, batch))
            try:
                results = await executor.run_batch(batch)
            except ApprovalDenied as exc:  # a person refused a call: the run ends with what it found
                denied = _own_denial(exc, gates)
                break
            for result in results:
                messages.append(Message("tool", result.content(), tool_call_id=result.call_id, name=result.name))
                if result.ok:
                    collect_passages(result.value, passages)
                if result.cached or result.coalesced:
                    memory_hits += 1
            if any(r.error_type == "BudgetExceeded" for r in results):
                budget_limited, stop_reason = True, "budget"
                break

        if deferred:
            tracing.emit("deferral", self.name, status="error", data={"unrun": [c.name for c in deferred], "stop_reason": stop_reason,
                                                                      "reason": f"{len(deferred)} deferred call(s) never ran: the run stopped ({stop_reason})"})
        if denied:
            stop_reason = "denied"
            final = final or _found_so_far(messages, passages) or ""  # nothing more is spent after a denial
        if final is None:
            final = await self._best_answer(task, messages, passages, mode)
            if final:
                messages.append(Message("assistant", final))
        meta = {"turns": turns_used, "width": self.width.describe(), "widths": widths, "deferred_calls": deferrals,
                "tool_mode": mode, "retrieved_first": bool(retrieve and evidence)}
        return final or "", budget_limited, stop_reason, meta, memory_hits

    def _fall_back_to_text(self, mode: str) -> str:
        chosen = self.tool_mode or getattr(self.model, "tool_mode", "auto")
        if chosen == "auto":
            protocol.remember_mode(self.model, "text")
        tracing.emit("decision", self.name, data={"action": "tool_mode", "from": mode, "to": "text",
                                                  "reason": "the reply did not follow the act schema; reading replies as text"})
        return "text"

    async def _retrieve_first(
        self, task: str, search: Tool, executor: ToolExecutor, passages: dict[str, Citation], messages: list[Message]
    ) -> int:
        """Run the first evidence search with the task's own text, as a recorded tool call whose
        result the model reads first (small models write poor first queries)."""
        args: dict[str, Any] = {"query": task[:500]}
        if "k" in search.args_model.model_fields:
            args["k"] = _FIRST_SEARCH_K
        call = ToolCall("call_first_search", search.name, json.dumps(args))
        tracing.emit("decision", self.name, data={"action": "retrieve_first", "tool": search.name,
                                                  "reason": "the framework runs the first search from the task text"})
        messages.append(Message("assistant", None, [call]))
        hits = 0
        for result in await executor.run_batch([call]):
            messages.append(Message("tool", result.content(), tool_call_id=result.call_id, name=result.name))
            if result.ok:
                collect_passages(result.value, passages)
            hits += int(result.cached or result.coalesced)
        return hits

    def _act_request(
        self, task: str, mode: str, tools: list[Tool], messages: list[Message], passages: dict[str, Citation],
        *, turn: int, width: int, answer_only: bool,
    ) -> ModelRequest:
        """One act step in the model's tool mode: OpenAI tools (native), a schema of "one call
        or the answer" (json), or the protocol in the prompt (text)."""
        metadata = {"question": task, "turn": turn, "width": width, "team": self.team}
        if mode == "native":
            return ModelRequest(messages=list(messages), tools=[t.schema() for t in tools], temperature=self.temperature,
                                max_tokens=self.max_tokens, purpose="act", metadata=metadata)
        system = messages[0].content or ""
        rules = protocol.protocol_prompt(mode, [] if answer_only else tools)
        plain = [Message("system", f"{system}\n\n{rules}" if rules else system), *protocol.plain_transcript(messages[1:])]
        output_type = protocol.act_schema(tools, list(passages), answer_only=answer_only) if mode == "json" else None
        return ModelRequest(messages=plain, output_type=output_type, temperature=self.temperature, max_tokens=self.max_tokens,
                            purpose="act", metadata=metadata)

    @staticmethod
    def _read_completion(mode: str, completion: Any, names: list[str]) -> tuple[list[ToolCall], str | None]:
        """``(calls, answer)`` from an act completion in ``mode``; calls written as text are
        accepted in every mode (small models write them that way even when sent tools)."""
        if mode == "json" and completion.parsed is not None:
            calls, answer, cite = protocol.read_step(completion.parsed)
            if calls:
                return calls, None
            markers = "".join(f" [{c}]" for c in cite if f"[{c}]" not in (answer or ""))
            return [], f"{answer or ''}{markers}".strip()
        calls = list(completion.tool_calls) or protocol.parse_text_calls(completion.text, names)
        return calls, None if calls else (completion.text or "")

    def _memory_block(self, task: str) -> str:
        """The bounded list of shared-memory keys relevant to ``task`` (empty without memory)."""
        if self.memory is None:
            return ""
        from agentloom.memory.agent_hooks import memory_prompt

        block: str = memory_prompt(self.memory, task, self.team)
        return block

    def _width_for(self, turn: int, budget: Budget) -> int:
        """The schedule's width for ``turn``, narrowed when the budget runs low."""
        planned = self.width.width(turn)
        left = budget.remaining_fraction()
        width = planned
        if left < _NARROW_AT:
            width = 1
        elif left < _HALVE_AT:
            width = max(1, planned // 2)
        if width < planned:
            tracing.emit("decision", self.name, data={"turn": turn, "planned_width": planned, "width": width, "budget_left": round(left, 4),
                                                      "reason": f"{left:.0%} of the budget left: width narrowed from {planned} to {width}"})
        return width

    async def _best_answer(self, task: str, messages: list[Message], passages: dict[str, Citation], mode: str = "native") -> str | None:
        """One tool-free call for the best answer so far; without budget for it, the last
        text the model wrote, else the evidence gathered, verbatim."""
        ask = Message("user", "Give your best final answer now from the evidence above, with citations.")
        request = ModelRequest(
            messages=[*messages, ask] if mode == "native" else [*protocol.plain_transcript(messages), ask],
            tools=[],
            output_type=protocol.act_schema([], list(passages), answer_only=True) if mode == "json" else None,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            purpose="act",
            metadata={"question": task, "final": True, "team": self.team},
        )
        try:
            completion = await call_model(self.model, request)
            if mode == "json":
                return self._read_completion(mode, completion, [])[1] or ""
            return completion.text or ""
        except ModelOutputError:
            return None
        except BudgetExceeded:
            return _found_so_far(messages, passages, "before the budget ran out")

    async def _structure(self, task: str, messages: list[Message]) -> Any:
        assert self.output_type is not None
        request = ModelRequest(
            messages=[*messages, Message("user", "Return the final answer as JSON matching the schema.")],
            output_type=self.output_type,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            purpose="act",
            metadata={"question": task, "final": True, "structured": True},
        )
        completion = await call_model(self.model, request)
        return completion.parsed


def _own_denial(exc: ApprovalDenied, gates: LiveGates | None) -> bool:
    """True for a denial at this agent's own gates; any other (a graph's tool gate) goes on up."""
    if gates is None or gates.denied != exc.record:
        raise exc
    return True


def _found_so_far(messages: list[Message], passages: dict[str, Citation], why: str = "before a person stopped the run") -> str | None:
    """The best answer without another model call: the model's last text, else the evidence found."""
    for message in reversed(messages):
        if message.role == "assistant" and message.content:
            return message.content
    if passages:
        return f"Evidence found {why}:\n" + "\n".join(f"- {c.text.strip()[:300]} [{c.id}]" for c in list(passages.values())[:5])
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)


"""``DAGPlanner`` (LLMCompiler): plan tool calls as a typed DAG, dispatch each task the moment
it is parsed, then let a joiner finish or replan.

The planner asks the model (purpose ``dag``) for tasks ``{id, tool, args, deps}`` whose args may
reference earlier results (``$3``, ``$3.field``). With a streaming model the plan arrives as JSON
Lines and every valid line goes straight to ``ToolExecutor.submit``, so the first task runs
before the plan is complete; otherwise the whole plan comes back as structured output. Plans
are validated (unknown tools, duplicate ids, forward references, cycles, failed dependencies,
arguments against each tool's ``args_model``); the problems go back to the model for one
repair, then ``PlanError``. The joiner (purpose ``join``) reads every result and finishes with
an answer or asks for a replan with feedback; replans continue task ids, reuse executed tasks
instead of re-running them, and are capped by ``max_replans``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from agentloom import tracing
from agentloom.budget import Budget
from agentloom.citations import Citation, citations_for, collect_passages
from agentloom.errors import BudgetExceeded, ConfigError, ModelOutputError, PlanError
from agentloom.models.base import ModelBase, call_model, json_values
from agentloom.models.resolve import resolve_model
from agentloom.models.types import Message, Model, ModelRequest
from agentloom.planners._dag_prompts import result_line, tool_line
from agentloom.planners._dag_validate import check_task, task_refs, validate_plan
from agentloom.planners.dag_schema import DAGPlanSchema, JoinDecision, PlanTask
from agentloom.runstore import RunStore
from agentloom.text.dag_lines import (
    FEEDBACK,
    JOIN_INSTRUCTIONS,
    NEXT_ID,
    PLAN_FORMAT_JSON,
    PLAN_FORMAT_JSONL,
    PLAN_INSTRUCTIONS,
    QUESTION,
)
from agentloom.tools.base import Tool, ToolResult, canonical_args, tool
from agentloom.tools.executor import Task, ToolExecutor

__all__ = ["DAGPlanner", "DAGRun", "TaskRecord"]

_REF = re.compile(r"\$(\w+)")


@dataclass
class TaskRecord:
    """One planned task: what was asked, in which plan round, and its running (or finished)
    tool call. A task identical to one already executed is not re-run: ``reused_from``
    names the executed task whose result it shares."""

    id: str
    tool: str
    args: dict[str, Any]
    deps: list[str]
    round: int
    future: asyncio.Task[ToolResult] | None = None
    reused_from: str | None = None
    dispatched_s: float = 0.0
    origin: TaskRecord | None = None

    @property
    def result(self) -> ToolResult | None:
        if self.origin is not None:
            return self.origin.result
        future = self.future
        if future is None or not future.done() or future.cancelled():
            return None
        return future.result()

    def to_dict(self) -> dict[str, Any]:
        res = self.result
        return {
            "id": self.id,
            "tool": self.tool,
            "args": self.args,
            "deps": self.deps,
            "round": self.round,
            "reused_from": self.reused_from,
            "dispatched_s": round(self.dispatched_s, 4),
            "ok": None if res is None else res.ok,
            "error": None if res is None or res.ok else res.error,
        }


@dataclass
class DAGRun:
    """What a DAG plan run produced: the answer, every task with its result, the joiner's
    decisions, the passages the results held and the ones the answer cites."""

    answer: str
    tasks: list[TaskRecord] = field(default_factory=list)
    decisions: list[JoinDecision] = field(default_factory=list)
    replans: int = 0
    passages: dict[str, Citation] = field(default_factory=dict)
    citations: list[Citation] = field(default_factory=list)
    stop_reason: str = "finished"
    budget_limited: bool = False
    streamed: bool = False
    run_id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def results(self) -> dict[str, ToolResult]:
        """Finished results by task id."""
        return {t.id: r for t in self.tasks if (r := t.result) is not None}


class _Session:
    """The state of one ``solve``: tools, executor, every task so far, id aliases of reused
    tasks, and timing."""

    def __init__(self, tools: dict[str, Tool], executor: ToolExecutor, max_tasks: int) -> None:
        self.tools = tools
        self.executor = executor
        self.max_tasks = max_tasks
        self.records: dict[str, TaskRecord] = {}
        self.aliases: dict[str, str] = {}
        self.next_id = 1
        self.round = 0
        self.t0 = time.perf_counter()
        self.first_dispatch: float | None = None
        self.plan_done: list[float] = []

    def executed(self) -> dict[str, bool]:
        """Ids of tasks from earlier plan rounds -> whether they succeeded."""
        out: dict[str, bool] = {}
        for rec in self.records.values():
            if rec.round < self.round:
                res = rec.result
                out[rec.id] = bool(res is not None and res.ok)
        return out

    def _identical(self, tool_name: str, args: dict[str, Any]) -> TaskRecord | None:
        key = (tool_name, canonical_args(args))
        for rec in self.records.values():
            if rec.round < self.round and rec.origin is None and (rec.tool, canonical_args(rec.args)) == key:
                return rec
        return None

    def _rewrite(self, value: Any) -> Any:
        if not self.aliases:
            return value
        if isinstance(value, str):
            return _REF.sub(lambda m: "$" + self.aliases.get(m.group(1), m.group(1)), value)
        if isinstance(value, dict):
            return {k: self._rewrite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._rewrite(v) for v in value]
        return value

    def check(self, task: PlanTask, *, accepted: Sequence[str], rejected: Sequence[str] = (), later: Sequence[str] = ()) -> list[str]:
        """Every problem with one streamed task, given what this plan has accepted so far."""
        problems = check_task(task, self.tools, executed=self.executed(), accepted=accepted, rejected=rejected, later=later, next_id=self.next_id)
        return problems + self.repeat_problems(task)

    def repeat_problems(self, task: PlanTask) -> list[str]:
        """A task identical to an executed one that failed would fail the same way."""
        same = self._identical(task.tool, self._rewrite(task.args))
        res = same.result if same is not None else None
        if same is not None and res is not None and not res.ok:
            return [f"task {task.id}: repeats task {same.id} ({task.tool} with the same arguments), which already ran and failed; change the tool or the arguments"]
        return []

    def dispatch(self, task: PlanTask) -> TaskRecord:
        """Start ``task`` now (or reuse an identical executed task's result)."""
        tid = str(task.id)
        args = self._rewrite(task.args)
        deps = [self.aliases.get(str(d), str(d)) for d in task.deps]
        now = time.perf_counter() - self.t0
        same = self._identical(task.tool, args)
        if same is not None:
            rec = TaskRecord(tid, task.tool, args, deps, self.round, reused_from=same.id, dispatched_s=now, origin=same)
            self.aliases[tid] = same.id
            tracing.emit("dag_reuse", task.tool, data={"id": tid, "reused_from": same.id, "round": self.round})
        else:
            future = self.executor.submit(Task(tid, task.tool, args, deps))
            rec = TaskRecord(tid, task.tool, args, deps, self.round, future=future, dispatched_s=now)
            if self.first_dispatch is None:
                self.first_dispatch = now
            tracing.emit("dag_dispatch", task.tool, data={"id": tid, "args": json.dumps(args, default=str)[:500], "deps": sorted(task_refs(task)), "round": self.round, "at_s": round(now, 4)})
        self.records[tid] = rec
        self.next_id = max(self.next_id, task.id + 1)
        return rec

    async def wait(self, records: Sequence[TaskRecord]) -> None:
        futures = [r.future for r in records if r.future is not None]
        if futures:
            await asyncio.gather(*futures, return_exceptions=True)

    async def cancel_pending(self) -> None:
        pending = [r.future for r in self.records.values() if r.future is not None and not r.future.done()]
        for future in pending:
            future.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def result_lines(self, limit: int) -> list[str]:
        return [result_line(r.id, r.tool, r.args, r.result, limit=limit, reused_from=r.reused_from, plan_round=r.round) for r in self.records.values()]


def _problems_of(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(task)'}: {e['msg']}" for e in exc.errors()[:4])


class _StreamParser:
    """Parses a streamed JSON Lines plan line by line, validating and dispatching each task as
    soon as its line is complete."""

    def __init__(self, session: _Session, accepted: list[str]) -> None:
        self.s = session
        self.accepted = accepted
        self.rejected: list[str] = []
        self.errors: list[str] = []
        self.json_errors: list[str] = []
        self.dispatched: list[TaskRecord] = []
        self.buffer = ""
        self.lineno = 0
        self.seen_task = False

    def feed(self, delta: str) -> None:
        self.buffer += delta
        while "\n" in self.buffer:
            line, self.buffer = self.buffer.split("\n", 1)
            self._line(line)

    def close(self) -> None:
        if self.buffer.strip():
            self._line(self.buffer)
        self.buffer = ""

    def _line(self, raw: str) -> None:
        self.lineno += 1
        line = raw.strip().rstrip(",")
        if not line or line.startswith("```"):
            return
        if not line.startswith(("{", "[")):
            return  # commentary around the plan is tolerated, never executed
        try:
            value = json.loads(line)
        except ValueError as exc:
            self.json_errors.append(f"line {self.lineno}: not a complete JSON object ({getattr(exc, 'msg', exc)}); write one task per line")
            return
        for obj in value if isinstance(value, list) else [value]:
            self.handle(obj)

    def handle(self, obj: Any) -> None:
        if not isinstance(obj, dict):
            self.errors.append(f"line {self.lineno}: expected a task object, got {type(obj).__name__}")
            return
        if "tool" not in obj and isinstance(obj.get("tasks"), list):
            for item in obj["tasks"]:
                self.handle(item)
            return
        if "tool" not in obj and set(obj) & {"join", "finish", "done", "end"}:
            return  # an end-of-plan marker
        self.seen_task = True
        try:
            task = PlanTask.model_validate(obj)
        except ValidationError as exc:
            tid = obj.get("id", "?")
            self.errors.append(f"task {tid}: {_problems_of(exc)}")
            if tid != "?":
                self.rejected.append(str(tid))
            return
        problems = self.s.check(task, accepted=self.accepted, rejected=self.rejected)
        problems = [p.replace("is neither a task of this plan nor an executed task", "has not been sent yet (a forward reference) or does not exist; send tasks after the tasks they need") for p in problems]
        if not problems and len(self.accepted) >= self.s.max_tasks:
            problems = [f"task {task.id}: more than {self.s.max_tasks} tasks in one plan"]
        if problems:
            self.errors.extend(problems)
            self.rejected.append(str(task.id))
            return
        self.dispatched.append(self.s.dispatch(task))
        self.accepted.append(str(task.id))


class DAGPlanner:
    """Plan → execute (streaming dispatch) → join, with up to ``max_replans`` replans.

    Use it standalone (``await DAGPlanner().run(task, model=..., tools=[...])``, also inside a
    graph node) or in an agent (``Agent(..., planner=DAGPlanner())``). ``stream=None`` streams
    whenever the model supports ``stream`` (every ``ModelBase``), else uses structured output.
    """

    name = "dag_planner"

    def __init__(
        self,
        *,
        model: str | Model | None = None,
        max_replans: int = 2,
        stream: bool | None = None,
        max_tasks: int = 32,
        max_tokens: int = 2048,
        temperature: float | None = None,
        result_chars: int = 4000,
        instructions: str | None = None,
        max_concurrency: int = 16,
        name: str | None = None,
    ) -> None:
        for key, value, low in (("max_replans", max_replans, 0), ("max_tasks", max_tasks, 1), ("max_tokens", max_tokens, 1),
                                ("result_chars", result_chars, 100), ("max_concurrency", max_concurrency, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"DAGPlanner {key}={value!r} must be a whole number of at least {low}")
        self.model = model
        self.max_replans = max_replans
        self.stream = stream
        self.max_tasks = max_tasks
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.result_chars = result_chars
        self.instructions = instructions
        self.max_concurrency = max_concurrency
        if name:
            self.name = name

    # ----------------------------------------------------------------- public API
    async def run(
        self,
        task: str,
        *,
        model: str | Model | None = None,
        tools: Sequence[Tool | Callable[..., Any]] = (),
        budget: Budget | None = None,
        executor: ToolExecutor | None = None,
        store: RunStore | None = None,
        run_id: str | None = None,
    ) -> DAGRun:
        """Plan, execute and join ``task``; a recorded run of its own, or a span of the
        current one."""
        from agentloom._runtime import run_scope

        if not isinstance(task, str) or not task.strip():
            raise ConfigError("DAGPlanner: the task is empty; give it a question or instruction")
        resolved = resolve_model(model if model is not None else self.model)
        tool_list = [t if isinstance(t, Tool) else tool(t) for t in tools]
        async with run_scope("dag", self.name, {"task": task}, budget=budget, store=store, run_id=run_id) as scope:
            exe = executor or ToolExecutor(tool_list, max_concurrency=self.max_concurrency)
            out = await self.solve(task, model=resolved, tools=tool_list, executor=exe)
            out.run_id = scope.run_id
            scope.output = {"answer": out.answer, "citations": [c.to_dict() for c in out.citations]}
            scope.meta = {"stop_reason": out.stop_reason, "replans": out.replans, "tasks": len(out.tasks), **out.meta}
            scope.status = "budget_exhausted" if out.budget_limited else "ok"
        return out

    async def solve(self, task: str, *, model: Model, tools: Sequence[Tool], executor: ToolExecutor) -> DAGRun:
        """The plan/execute/join loop inside the current run context."""
        session = _Session({t.name: t for t in tools}, executor, self.max_tasks)
        streamed = self.stream if self.stream is not None else isinstance(model, ModelBase)
        if streamed and not isinstance(model, ModelBase):
            raise ConfigError(f"DAGPlanner(stream=True) needs a model with stream(); {type(model).__name__} has none")
        out = DAGRun(answer="", streamed=streamed)
        feedback = ""
        try:
            for round_no in range(self.max_replans + 1):
                session.round = round_no
                try:
                    new = await (self._plan_streamed if streamed else self._plan_structured)(session, task, model, feedback)
                except BudgetExceeded:
                    out.budget_limited, out.stop_reason = True, "budget"
                    break
                session.plan_done.append(time.perf_counter() - session.t0)
                await session.wait(new)
                if round_no > 0 and not new:
                    out.stop_reason = "replan added no tasks"
                    tracing.emit("decision", self.name, data={"action": "finish", "round": round_no, "reason": "the replan added no new tasks; finishing with the best answer so far"})
                    break
                replans_left = self.max_replans - round_no
                try:
                    decision = await self._join(session, task, model, replans_left)
                except BudgetExceeded:
                    out.budget_limited, out.stop_reason = True, "budget"
                    break
                out.decisions.append(decision)
                if decision.answer.strip():
                    out.answer = decision.answer
                if decision.action == "finish":
                    out.stop_reason = "finished"
                    tracing.emit("decision", self.name, data={"action": "finish", "round": round_no, "tasks": len(session.records), "reason": f"joiner finished after {round_no + 1} plan(s)"})
                    break
                if replans_left == 0:
                    out.stop_reason = "max_replans"
                    tracing.emit("decision", self.name, data={"action": "finish", "round": round_no, "feedback": decision.feedback,
                                                              "reason": f"joiner asked to replan but max_replans={self.max_replans} is reached; finishing with the best answer so far"})
                    break
                feedback = decision.feedback.strip() or "some tasks failed or produced no evidence"
                out.replans += 1
                tracing.emit("decision", self.name, data={"action": "replan", "round": round_no, "feedback": feedback, "reason": f"joiner asked for replan {out.replans}: {feedback}"})
        except BaseException:
            await session.cancel_pending()
            raise
        if not out.answer.strip():
            out.answer = _fallback_answer(session)
        out.tasks = list(session.records.values())
        for rec in out.tasks:
            res = rec.result
            if res is not None and res.ok:
                collect_passages(res.value, out.passages)
        out.citations = citations_for(out.answer, out.passages)
        out.meta = {
            "first_dispatch_s": None if session.first_dispatch is None else round(session.first_dispatch, 4),
            "plan_done_s": [round(t, 4) for t in session.plan_done],
            "streamed": streamed,
        }
        return out

    # ----------------------------------------------------------------- planning
    def _messages(self, session: _Session, task: str, feedback: str, fmt: str) -> list[Message]:
        tool_block = "\n".join(tool_line(t) for t in session.tools.values())
        system = "\n\n".join(p for p in (self.instructions, PLAN_INSTRUCTIONS, "Tools:\n" + tool_block, fmt) if p)
        user = [QUESTION + task]
        if session.records:
            user.append("Executed tasks (reference their results as $id; never repeat them):")
            user.extend(session.result_lines(self.result_chars))
        if feedback:
            user.append(FEEDBACK + feedback)
        user.append(NEXT_ID + str(session.next_id))
        return [Message("system", system), Message("user", "\n".join(user))]

    def _request(self, session: _Session, task: str, messages: list[Message], *, streamed: bool, repair: str | None = None) -> ModelRequest:
        metadata: dict[str, Any] = {"question": task, "round": session.round, "next_id": session.next_id,
                                    "format": "jsonl" if streamed else "json", "tools": [t.name for t in session.tools.values()]}
        if repair:
            metadata["repair"] = repair
        return ModelRequest(
            messages=messages,
            output_type=None if streamed else DAGPlanSchema,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            purpose="dag",
            metadata=metadata,
            stream=streamed,
        )

    async def _stream_once(self, session: _Session, request: ModelRequest, parser: _StreamParser, model: Model) -> str:
        assert isinstance(model, ModelBase)
        pieces: list[str] = []
        async for delta in model.stream(request):
            pieces.append(delta)
            parser.feed(delta)
        parser.close()
        text = "".join(pieces)
        if not parser.seen_task and parser.json_errors:
            # not JSON Lines after all: accept whole JSON values that span lines (pretty-printed
            # tasks, a list of them, or a {"tasks": [...]} plan)
            values = json_values(text)
            if values:
                parser.json_errors = []
                for value in values:
                    for obj in value if isinstance(value, list) else [value]:
                        parser.handle(obj)
        if not parser.seen_task and not parser.json_errors and not parser.errors:
            parser.errors.append("the reply holds no task: write at least one task as a JSON object "
                                 '{"id": ..., "tool": ..., "args": {...}}')
        return text

    async def _plan_streamed(self, session: _Session, task: str, model: Model, feedback: str) -> list[TaskRecord]:
        messages = self._messages(session, task, feedback, PLAN_FORMAT_JSONL)
        accepted: list[str] = []
        parser = _StreamParser(session, accepted)
        text = await self._stream_once(session, self._request(session, task, messages, streamed=True), parser, model)
        problems = parser.json_errors + parser.errors
        if not problems:
            return parser.dispatched
        self._record_problems(session, problems, repaired=False)
        first_free = min([int(r) for r in parser.rejected if r.isdigit()] or [session.next_id])
        note = (f"Tasks {', '.join(accepted)} were accepted and are already running; do not resend them (use $id to reference them). "
                if accepted else "")
        repair_text = ("Your plan has problems:\n" + "\n".join(f"- {p}" for p in problems) + "\n" + note +
                       f"Send only the corrected tasks (and any tasks that needed a rejected one), one JSON object per line, ids from {first_free}.")
        repair_messages = [*messages, Message("assistant", text), Message("user", repair_text)]
        second = _StreamParser(session, accepted)
        repaired = await self._stream_once(session, self._request(session, task, repair_messages, streamed=True, repair="; ".join(problems)), second, model)
        again = second.json_errors + second.errors
        if again and _same_reply(repaired, text):
            again = [f"the repair repeated the invalid plan unchanged: {problems[0]}"]
        dispatched = parser.dispatched + second.dispatched
        if again:
            self._record_problems(session, again, repaired=True)
            await session.cancel_pending()
            raise PlanError(_plan_error_line(again))
        return dispatched

    async def _plan_structured(self, session: _Session, task: str, model: Model, feedback: str) -> list[TaskRecord]:
        messages = self._messages(session, task, feedback, PLAN_FORMAT_JSON)
        request = self._request(session, task, messages, streamed=False)
        plan, text = await self._structured_call(model, request)
        problems = self._plan_problems(session, plan)
        if problems:
            self._record_problems(session, problems, repaired=False)
            repair_text = ("Your plan has problems:\n" + "\n".join(f"- {p}" for p in problems) +
                           f"\nReply with the whole corrected plan as one JSON object, ids from {session.next_id}.")
            repair = self._request(session, task, [*messages, Message("assistant", text), Message("user", repair_text)], streamed=False, repair="; ".join(problems))
            plan, repaired = await self._structured_call(model, repair)
            again = self._plan_problems(session, plan)
            if again and _same_reply(repaired, text):
                again = [f"the repair repeated the invalid plan unchanged: {problems[0]}"]
            if again:
                self._record_problems(session, again, repaired=True)
                raise PlanError(_plan_error_line(again))
        return [session.dispatch(t) for t in plan.tasks]

    def _plan_problems(self, session: _Session, plan: DAGPlanSchema) -> list[str]:
        """Everything wrong with a whole structured plan; a plan that parses to no task is a problem,
        never an empty plan."""
        if not plan.tasks:
            return ['the plan holds no task: "tasks" must list at least one {"id", "tool", "args"} object']
        problems = validate_plan(plan.tasks, session.tools, executed=session.executed(), next_id=session.next_id,
                                 max_tasks=self.max_tasks)
        return problems + self._repeat_problems(session, plan.tasks)

    def _repeat_problems(self, session: _Session, tasks: Sequence[PlanTask]) -> list[str]:
        """Tasks that repeat an executed task that failed (a whole plan's other checks are
        ``validate_plan``'s)."""
        return [p for t in tasks for p in session.repeat_problems(t)]

    async def _structured_call(self, model: Model, request: ModelRequest) -> tuple[DAGPlanSchema, str]:
        try:
            completion = await call_model(model, request)
        except ModelOutputError as exc:
            raise PlanError(f"DAGPlanner: the model's plan is not valid JSON for the plan schema even after one repair: {exc.one_line()}") from None
        parsed = completion.parsed
        plan = parsed if isinstance(parsed, DAGPlanSchema) else DAGPlanSchema.model_validate(parsed)
        return plan, completion.text or plan.model_dump_json()

    def _record_problems(self, session: _Session, problems: list[str], *, repaired: bool) -> None:
        tracing.emit("plan_error", self.name, status="error" if repaired else "repair",
                     data={"round": session.round, "problems": problems[:20], "after_repair": repaired},
                     error="; ".join(problems)[:2000])

    # ----------------------------------------------------------------- joining
    async def _join(self, session: _Session, task: str, model: Model, replans_left: int) -> JoinDecision:
        lines = session.result_lines(self.result_chars)
        user = "\n".join([QUESTION + task, "Task results (one JSON object per line):", *(lines or ["(no tasks were run)"]),
                          f"Replans left: {replans_left}"])
        request = ModelRequest(
            messages=[Message("system", JOIN_INSTRUCTIONS), Message("user", user)],
            output_type=JoinDecision,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            purpose="join",
            metadata={"question": task, "replans_left": replans_left, "final": replans_left == 0, "round": session.round},
        )
        completion = await call_model(model, request)
        parsed = completion.parsed
        return parsed if isinstance(parsed, JoinDecision) else JoinDecision.model_validate(parsed)


def _same_reply(repaired: str, failed: str) -> bool:
    """A repair that only changed white space is the same answer."""
    return " ".join(repaired.split()) == " ".join(failed.split())


def _plan_error_line(problems: list[str]) -> str:
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    return f"DAGPlanner: the plan is still invalid after one repair: {problems[0]}{more}"


def _fallback_answer(session: _Session) -> str:
    """Without a joiner answer (budget ran out), the successful results verbatim."""
    parts: list[str] = []
    for rec in session.records.values():
        res = rec.result
        if res is not None and res.ok:
            text = res.content()
            parts.append(f"{rec.tool} (task {rec.id}): {text[:300]}{'...' if len(text) > 300 else ''}")
    return "\n".join(parts)

"""Approval gates for a run with no checkpoint to pause in: a bare ``Agent(approve=...)``.

The agent's tool loop itself waits. Each gate (a call of a gated tool, or the step that takes the
run past ``spend_over``) is recorded in the run store (status ``waiting``, the pending request,
an ``ApprovalRequested`` event) and then answered by, in order:

1. the agent's ``on_approval`` handler, if it has one and it returns an answer (``True``/``False``
   or ``{"approve": ..., "reason": ...}``; ``None`` passes the request on);
2. anyone else, through the run store: ``loom runs approve/deny RUN_ID`` or
   ``await approvals.get(run_id).resume(...)`` from another task or another process, which write
   the answer onto the run's record; the waiting loop reads it and runs on.

The pause lives in the running process: if that process ends, the run cannot be continued (a
graph or research run can: its pause is a LangGraph checkpoint).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from agentloom import tracing
from agentloom.errors import ApprovalDenied, ConfigError

if TYPE_CHECKING:
    from agentloom.approvals import ApprovalRequest
    from agentloom.budget import Budget
    from agentloom.models.call_gate import CallGate
    from agentloom.models.types import ModelRequest
    from agentloom.result import Result
    from agentloom.runstore import RunStore

__all__ = ["ApprovalHandler", "LiveGates", "answer_live", "parse_agent_approve"]

#: ``on_approval``: called with each request; returns True/False, a decision mapping, or None to wait.
ApprovalHandler = Callable[["ApprovalRequest"], "bool | Mapping[str, Any] | None | Awaitable[bool | Mapping[str, Any] | None]"]

#: How often a waiting loop (and ``resume`` waiting for the run to go on) reads the run store.
POLL_S = 0.2


def parse_agent_approve(approve: Any) -> Any:
    """``approve=`` for an Agent as an ``ApproveSpec`` with tools and/or spend_over (a plan gate
    needs a planner's fan-out, which a bare Agent does not have)."""
    from agentloom.graph.approval import approve_spec

    spec = approve_spec(approve, where="Agent approve")
    if spec.plan:
        raise ConfigError("Agent approve=plan has no plan to show (a bare Agent does not fan out); "
                          "use approve={'tools': [...]} or {'spend_over': 0.50}, or a graph/research run for plan")
    return spec


def _decision(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return {"approve": value}
    if isinstance(value, Mapping) and "approve" in value:
        return dict(value)
    raise ConfigError(f"an approval answer is True/False or {{'approve': bool, 'reason': str}}, not {value!r}")


class LiveGates:
    """The gates of one Agent run: the tool gate ``ToolExecutor`` consults and the spend check the
    loop makes before each model call; every answered gate is kept in ``records``."""

    def __init__(self, spec: Any, handler: ApprovalHandler | None, *, name: str, budget: Budget | None = None) -> None:
        from agentloom.graph.approval import tool_names

        self.spec = spec
        self.handler = handler
        self.name = name
        self.tools = tool_names(spec)
        self.records: list[dict[str, Any]] = []
        #: the run's budget: the time a person takes to answer is taken off its clock
        self.budget = budget
        #: ``[asked, answered]`` wall-clock times of each wait (``meta["pauses"]``: not run time)
        self.pauses: list[list[float]] = []
        self.denied: dict[str, Any] | None = None
        self._spend_approved = False
        self._pending: dict[str, dict[str, Any]] = {}
        self._lock = asyncio.Lock()
        self._spend_lock = asyncio.Lock()

    # ----------------------------------------------------------------- the gates
    async def tool_gate(self, tool: str, args: dict[str, Any]) -> None:
        """Before a call of a gated tool: wait for a person; denied, raise ``ApprovalDenied``."""
        if tool not in self.tools:
            return
        ctx = tracing.current()
        where = (ctx.team if ctx is not None else None) or self.name
        decision, record = await self._ask({"gate": "tool", "node": where, "tool": tool, "args": args}, tool=tool)
        if not decision.get("approve"):
            raise ApprovalDenied(f"a person denied the call to {tool}: {record.get('reason') or 'no reason given'}", record)

    async def spend_gate(self, budget: Budget) -> bool:
        """Before a model call: if the run's spend plus one more call like the ones so far passes
        ``spend_over``, wait for a person (once a run). False when they denied it."""
        limit = self.spec.spend_over
        if limit is None or self._spend_approved or self.denied is not None:
            return self.denied is None
        async with self._spend_lock:  # calls racing past the limit (threads, a DAG) share one request
            return await self._ask_spend(budget, limit)

    async def _ask_spend(self, budget: Budget, limit: Any) -> bool:
        if self._spend_approved or self.denied is not None:
            return self.denied is None
        spent = budget.spent
        so_far = {"usd": round(spent.usd, 8), "tokens": spent.tokens, "llm_calls": spent.llm_calls}
        calls = max(spent.llm_calls, 1)
        step = {"llm_calls": 1, "tokens": int(spent.tokens / calls), "usd": round(spent.usd / calls, 8)}
        key = "usd" if limit.unit == "usd" else "tokens"
        total = float(so_far[key]) + float(step[key])
        if total <= limit.amount:
            return True
        request = {"gate": "spend", "node": self.name, "spend_over": limit.describe(), "spent": so_far,
                   "projected": step, "total": total, "unit": limit.unit}
        decision, _ = await self._ask(request, spent=so_far, total=total)
        self._spend_approved = bool(decision.get("approve"))
        return self._spend_approved

    def call_gate(self) -> CallGate:
        """The gate in front of every model call of the run (the DAG planner's, a thread's, the
        final answer's), checking ``spend_gate`` against the run's budget; a denial raises."""
        if self.budget is None:
            raise ConfigError(f"{self.name}: a spend gate needs the run's budget")
        budget = self.budget

        async def gate(request: ModelRequest) -> None:
            if not await self.spend_gate(budget):
                limit = self.spec.spend_over.describe() if self.spec.spend_over is not None else "the spend limit"
                raise ApprovalDenied(f"a person denied spending past {limit} ({request.purpose})", self.denied)

        return gate

    # ----------------------------------------------------------------- asking
    async def _ask(self, request: dict[str, Any], **facts: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        from agentloom.approvals import ApprovalRequest
        from agentloom.events import ApprovalRequested

        request = {"id": uuid.uuid4().hex[:16], **request}
        ctx = tracing.current()
        store = ctx.store if ctx is not None else None
        run_id = ctx.run_id if ctx is not None else ""
        async with self._lock:
            self._pending[request["id"]] = request
            await self._publish(store, run_id)
        tracing.emit("approval_requested", str(request.get("node") or self.name),
                     data={"gate": request["gate"], "request": request, "run_id": run_id}, event_cls=ApprovalRequested)
        decision: dict[str, Any] | None = None
        asked, clock = time.time(), time.monotonic()
        try:
            if self.handler is not None:
                answer = self.handler(ApprovalRequest(request["id"], request["gate"], str(request.get("node") or ""), request))
                decision = _decision(await answer if inspect.isawaitable(answer) else answer)
                if decision is not None:
                    decision.setdefault("by", "python")
            while decision is None:
                decision = await self._answer_from_store(store, run_id, request["id"])
        finally:
            if self.budget is not None:
                self.budget.shift_clock(-(time.monotonic() - clock))  # waiting for a person is not run time
            self.pauses.append([asked, time.time()])
            async with self._lock:
                self._pending.pop(request["id"], None)
                await self._publish(store, run_id)
        record = {"gate": request["gate"], "node": request.get("node"), "approved": bool(decision.get("approve")),
                  "reason": decision.get("reason"), "by": decision.get("by"), "edited": False, "at": time.time(), **facts}
        self.records.append(record)
        if not record["approved"] and self.denied is None:
            self.denied = record
        return decision, record

    async def _publish(self, store: RunStore | None, run_id: str) -> None:
        """Write the pending requests onto the run's record: ``waiting`` while there are some."""
        if store is None or not run_id:
            return
        pending = list(self._pending.values())
        live = {"pid": os.getpid(), "host": socket.gethostname()}

        def update(meta: dict[str, Any]) -> None:
            approval = dict(meta.get("approval") or {})
            approval.update(pending=pending, since=time.time(), live=live, recipe={"entry": "agent"})
            meta["approval"] = approval

        await asyncio.to_thread(store.patch_run, run_id, update, status="waiting" if pending else "running")

    async def _answer_from_store(self, store: RunStore | None, run_id: str, request_id: str) -> dict[str, Any] | None:
        """The answer written onto the run's record for ``request_id`` (None until there is one)."""
        if store is None or not run_id:
            raise ConfigError(f"{self.name}: an approval gate without a handler needs a recorded run to wait in")
        await asyncio.sleep(POLL_S)
        record = await asyncio.to_thread(store.get_run, run_id)
        answers = ((record.meta or {}).get("approval") or {}).get("answers") or {}
        found = answers.get(request_id)
        return dict(found) if isinstance(found, Mapping) else None


# --------------------------------------------------------------------- answering
def _alive(live: Mapping[str, Any]) -> bool:
    """Whether the process that waits is still running (assumed so on another host)."""
    if live.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(live.get("pid") or 0), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


async def answer_live(run_id: str, approval: Mapping[str, Any], decision: Mapping[str, Any], *,
                      store: RunStore | None = None, wait: bool = True) -> Result:
    """Answer every request a live (bare Agent) run waits at, then wait until it ends or waits
    again, and return its ``Result`` as recorded."""
    from agentloom.runstore import RunStore

    if not _alive(approval.get("live") or {}):
        raise ConfigError(f"run '{run_id}' was a bare Agent waiting in a process that has ended; its pause died with it "
                          "(graph and research runs survive a restart)")
    ids = [str(p.get("id")) for p in approval.get("pending") or []]
    own = store is None
    target = store or RunStore()

    def update(meta: dict[str, Any]) -> None:
        section = dict(meta.get("approval") or {})
        section["answers"] = {**dict(section.get("answers") or {}), **{i: dict(decision) for i in ids}}
        meta["approval"] = section

    try:
        await asyncio.to_thread(target.patch_run, run_id, update)
        while wait:
            await asyncio.sleep(POLL_S)
            record = await asyncio.to_thread(target.get_run, run_id)
            pending = {str(p.get("id")) for p in ((record.meta or {}).get("approval") or {}).get("pending") or []}
            if record.status not in ("running", "waiting") or (record.status == "waiting" and not pending & set(ids)):
                break
            if not _alive(((record.meta or {}).get("approval") or {}).get("live") or {}):
                raise ConfigError(f"run '{run_id}': the process running it ended before it finished")
        record = await asyncio.to_thread(target.get_run, run_id)
    finally:
        if own:
            target.close()
    return _result(record)


def _result(record: Any) -> Result:
    """A ``Result`` from a run's record (output, citations, usage, how it ended)."""
    from agentloom.citations import Citation
    from agentloom.result import Result, UsageSummary

    output = record.output if isinstance(record.output, Mapping) else {}
    usage = record.usage or {}
    fields = {k: usage[k] for k in ("usd", "input_tokens", "output_tokens", "llm_calls", "tool_calls", "memory_hits", "wall_s")
              if k in usage}
    meta = dict(record.meta or {})
    stop = "waiting" if record.status == "waiting" else str(meta.get("stop_reason") or record.status)
    if stop == "waiting":
        meta["waiting"] = ((meta.get("approval") or {}).get("pending")) or []
    return Result(output=output.get("output"), usage=UsageSummary(**fields),
                  citations=[Citation.from_dict(c) for c in output.get("citations") or []], run_id=record.id,
                  budget_limited=record.status == "budget_exhausted",
                  partial=record.status in ("budget_exhausted", "denied") or stop == "waiting", stop_reason=stop, meta=meta)

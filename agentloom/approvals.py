"""Approval gates from Python: a waiting run's handle, its pending requests, and its answer.

A graph or research run started with ``approve=`` (or a spec's ``approve:``) that reaches a gate
returns a ``Result`` with ``stop_reason == "waiting"``; the run store records it as ``waiting``
and its LangGraph checkpoint keeps the pause, so any process can answer it::

    run = await research(question, approve="plan")      # run.stop_reason == "waiting"
    result = await run.resume(approve=True)              # the same as approvals.get(run.run_id).resume(...)
    handle = approvals.get(result.run_id)
    handle.requests[0].projected         # the plan gate's projected cost
    result = await handle.resume(approve=True)           # or plan={"sub_tasks": [...], "width": 2}
    result = await handle.resume(approve=False, reason="too broad")   # ends with what was found

A bare ``Agent(approve=...)`` waits inside its own process instead (``agentloom.live_approval``);
``resume`` answers it through the run store and returns when it has run on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentloom.errors import ConfigError

if TYPE_CHECKING:
    from agentloom.budget import Budget
    from agentloom.models.types import Model
    from agentloom.result import Result
    from agentloom.runstore import RunStore
    from agentloom.tracing import Listener

__all__ = ["ApprovalRequest", "RunHandle", "approvals_section", "describe_request", "get", "parse_approve_flags", "waiting"]


@dataclass(frozen=True)
class ApprovalRequest:
    """One gate a run waits at: ``gate`` is ``plan``, ``spend`` or ``tool``; ``data`` is the whole
    request (a plan gate has question, sub_tasks, width, depth, branches, reason, projected)."""

    id: str
    gate: str
    node: str
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def projected(self) -> Mapping[str, Any]:
        """The projected cost (plan and spend gates): branches, llm_calls, tokens, usd (the rest of the
        run), run_tokens and run_llm_calls (the whole run), per_branch, basis and estimate."""
        value = self.data.get("projected")
        return value if isinstance(value, Mapping) else {}

    @property
    def plan(self) -> dict[str, Any]:
        """A plan gate's plan, in the form ``resume(plan=...)`` takes back edited."""
        return {"sub_tasks": list(self.data.get("sub_tasks") or []), "width": self.data.get("width")}

    def describe(self) -> str:
        """A few lines for a person."""
        return describe_request(self.data)


class RunHandle:
    """A recorded run that may wait for approval; ``resume`` answers every gate it waits at."""

    def __init__(self, run_id: str, *, store: RunStore | None = None) -> None:
        self.run_id = run_id
        self._store = store

    def _record(self) -> Any:
        from agentloom.runstore import RunStore

        store = self._store or RunStore()
        try:
            return store.get_run(self.run_id)
        finally:
            if self._store is None:
                store.close()

    @property
    def status(self) -> str:
        return str(self._record().status)

    @property
    def requests(self) -> list[ApprovalRequest]:
        """The gates the run waits at (empty unless ``status == "waiting"``)."""
        record = self._record()
        if record.status != "waiting":
            return []
        pending = ((record.meta or {}).get("approval") or {}).get("pending") or []
        return [ApprovalRequest(str(p.get("id")), str(p.get("gate")), str(p.get("node") or ""), dict(p)) for p in pending]

    async def resume(
        self,
        approve: bool = True,
        *,
        reason: str | None = None,
        plan: Mapping[str, Any] | None = None,
        model: str | Model | None = None,
        budget: Budget | None = None,
        listeners: list[Listener] | None = None,
        by: str = "python",
    ) -> Result:
        """Approve (optionally with an edited ``plan``: ``sub_tasks``, ``width`` or ``branches``) or
        deny (``approve=False``, with a ``reason``) and run on: to the end, to the next gate
        (``stop_reason == "waiting"`` again) or, denied, to a report of what was found."""
        from agentloom.graph.approval import check_plan_edit, resume_waiting

        record = self._record()
        if record.status != "waiting":
            raise ConfigError(f"run '{record.id}' is {record.status or 'unknown'}, not waiting for approval; "
                              f"see `loom runs show {record.id}`")
        approval = (record.meta or {}).get("approval") or {}
        recipe = approval.get("recipe") or {}
        if recipe.get("entry") == "agent":  # a bare Agent waits in its own process: answer it through the store
            if plan is not None:
                raise ConfigError(f"run '{record.id}' is an Agent waiting at a tool or spend gate; there is no plan to edit")
            from agentloom.live_approval import answer_live

            return await answer_live(record.id, approval, {"approve": bool(approve), "reason": reason, "by": by},
                                     store=self._store)
        if plan is not None:
            if not approve:
                raise ConfigError("an edited plan goes with an approval, not a denial")
            plans = [p for p in approval.get("pending") or [] if p.get("gate") == "plan"]
            if not plans:
                raise ConfigError(f"run '{record.id}' waits at no plan gate, so there is no plan to edit")
            for request in plans:
                check_plan_edit(request, plan)  # a bad edit is one clear line before anything runs
        if recipe.get("model_object") and model is None:
            raise ConfigError(f"run '{record.id}' was started with a Python model object; pass model= to resume it")
        decision: dict[str, Any] = {"approve": bool(approve), "reason": reason, "by": by}
        if plan is not None:
            decision["plan"] = dict(plan)
        keys = [p["key"] for p in approval.get("pending") or [] if p.get("gate") == "tool" and p.get("key")]
        if keys:
            decision["calls"] = keys  # an approval runs only the tool calls the person saw
        result = await resume_waiting(recipe, record.id, decision, model=model, budget=budget, store=self._store,
                                      listeners=listeners)
        if recipe.get("entry") == "research":
            from agentloom.research.run import as_report, mark_research

            if result.stop_reason == "waiting":
                mark_research(result.run_id, self._store, recipe.get("corpus"))
            else:
                result = as_report(result, self._store, recipe.get("corpus"))
        return result

    def resume_sync(self, approve: bool = True, **kwargs: Any) -> Result:
        """``resume`` for synchronous code."""
        return asyncio.run(self.resume(approve, **kwargs))


def get(run_id: str, *, store: RunStore | None = None) -> RunHandle:
    """The handle of run ``run_id`` (an unknown id raises ``RunNotFoundError``)."""
    handle = RunHandle(run_id, store=store)
    handle.run_id = handle._record().id  # a unique prefix names the run too
    return handle


def waiting(*, store: RunStore | None = None, limit: int = 200) -> list[RunHandle]:
    """The recorded runs that wait for approval, newest first."""
    from agentloom.runstore import RunStore

    target = store or RunStore()
    try:
        return [RunHandle(r.id, store=store) for r in target.list_runs(limit=limit) if r.status == "waiting"]
    finally:
        if store is None:
            target.close()


def _money(projected: Mapping[str, Any]) -> str:
    parts = []
    if projected.get("llm_calls") is not None:
        parts.append(f"~{projected['llm_calls']:g} model calls")
    if projected.get("tokens") is not None:
        parts.append(f"~{projected['tokens']:,} tokens")
    if projected.get("usd") is not None:
        parts.append(f"~${projected['usd']:.4f}")
    return ", ".join(parts) or "unknown"


def _whole(projected: Mapping[str, Any]) -> str:
    """The projected whole run (spend before the gate included), when the projection has it."""
    if projected.get("run_tokens") is None:
        return ""
    return f"; whole run ~{projected['run_tokens']:,} tokens in ~{projected.get('run_llm_calls', 0):g} model calls"


def describe_request(data: Mapping[str, Any]) -> str:
    """A waiting gate in a few lines (the CLI prints this)."""
    gate = data.get("gate")
    if gate == "plan":
        projected = data.get("projected") or {}
        lines = [f"plan gate at '{data.get('node')}': width {data.get('width')}, depth {data.get('depth')}, "
                 f"{len(data.get('branches') or [])} branches",
                 f"  projected: {_money(projected)} for the branches and the steps after them{_whole(projected)}",
                 f"  (an estimate: {projected.get('estimate', 'planner')})"]
        if data.get("reason"):
            lines.append(f"  why: {data['reason']}")
        lines += [f"  sub-question: {t}" for t in data.get("sub_tasks") or []]
        return "\n".join(lines)
    if gate == "spend":
        return (f"spend gate before '{data.get('node')}': the run would pass {data.get('spend_over')} "
                f"(spent {data.get('spent')}, projected from here {_money(data.get('projected') or {})})")
    if gate == "tool":
        return f"tool gate: {data.get('tool')} {data.get('args')}"
    return f"{gate} gate at '{data.get('node')}'"


def approvals_section(meta: Mapping[str, Any]) -> str:
    """A Markdown section: each answered gate, its projected cost, and the run's actual spend."""
    actual = meta.get("actual") or {}
    lines = ["## Approvals", ""]
    for record in meta.get("approvals") or []:
        verdict = "approved" if record.get("approved") else "denied"
        edited = " (plan edited)" if record.get("edited") else ""
        why = f": {record['reason']}" if record.get("reason") else ""
        line = f"- {record.get('gate')} gate at {record.get('node')}: {verdict}{edited}{why}"
        if record.get("projected"):
            line += f"; projected {_money(record['projected'])}{_whole(record['projected'])}"
        lines.append(line)
    usd = actual.get("usd")
    lines.append(f"- actual spend of the whole run: {actual.get('llm_calls', 0)} model calls, {actual.get('tokens', 0):,} tokens"
                 + (f", ${usd:.4f}" if isinstance(usd, int | float) and usd else "") + _ratio(meta))
    return "\n".join(lines) + "\n"


def _ratio(meta: Mapping[str, Any]) -> str:
    """Actual over projected tokens of the whole run, for the first gate that projected it."""
    tokens = (meta.get("actual") or {}).get("tokens")
    for record in meta.get("approvals") or []:
        projected = (record.get("projected") or {}).get("run_tokens")
        if projected and tokens:
            return f" ({tokens / projected:.2f}× the projection)"
    return ""


def parse_approve_flags(values: list[str] | tuple[str, ...]) -> dict[str, Any] | None:
    """``--approve`` values (``plan``, ``spend_over=0.50``, ``spend_over=20000tokens``,
    ``tools=http_fetch,web_search``) as an ``approve=`` mapping; None when there are none."""
    if not values:
        return None
    out: dict[str, Any] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        key = key.strip()
        if key == "plan" and not sep:
            out["plan"] = True
        elif key == "spend_over" and rest.strip():
            text = rest.strip()
            out["spend_over"] = float(text) if text.replace(".", "", 1).isdigit() else text.replace("tokens", " tokens")
        elif key == "tools" and rest.strip():
            out.setdefault("tools", []).extend(t.strip() for t in rest.split(",") if t.strip())
        else:
            raise ConfigError(f"--approve {value!r} is not a gate; use plan, spend_over=0.50, spend_over=20000tokens or tools=http_fetch")
    return out

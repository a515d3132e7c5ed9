"""The bank as the executor's ``ToolCache`` (``ToolResultCache``): serve a stored result (a hit),
join the identical call in flight (coalesced), or run it and offer the result for admission;
plus ``tool_key``, the key teams see for a tool result."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from agentloom import tracing
from agentloom.memory import _inflight
from agentloom.memory._entries import READ_SQL, EntryStore, read_row
from agentloom.memory._offer import Admission
from agentloom.memory._text import shorten, value_text
from agentloom.memory.types import AdmissionCandidate, MemoryEntry
from agentloom.tools.base import Tool, ToolResult

__all__ = ["ToolResultCache", "tool_key"]

log = logging.getLogger("agentloom.memory")


def _summary(value: Any, limit: int) -> str:
    """A short preview of a tool value: the text, or its first meaningful string leaves."""
    if isinstance(value, str):
        return shorten(value, limit)
    found: list[str] = []

    def walk(v: Any) -> None:
        if len(found) >= 3:
            return
        if isinstance(v, str):
            if len(v) >= 16 and " " in v:
                found.append(v)
        elif isinstance(v, dict):
            for item in v.values():
                walk(item)
        elif isinstance(v, list | tuple):
            for item in v:
                walk(item)

    walk(value)
    if not found:
        return shorten(json.dumps(value, default=str), limit)
    return shorten(" | ".join(found), limit)


def tool_key(name: str, args: dict[str, Any], value: Any, *, limit: int = 200) -> str:
    """The key shown to teams for a tool result: the call, then a preview of what it returned."""
    shown = ", ".join(f"{k}={json.dumps(v, default=str, ensure_ascii=False)}" for k, v in sorted(args.items()))
    call = shorten(f"{name}({shown})", 110)
    preview = _summary(value, max(20, limit - len(call) - 3))
    return f"{call} → {preview}" if preview else call


@dataclass(slots=True)
class _Shared:
    """What a flight's leader publishes to the callers waiting on it (a snapshot of its result)."""

    result: ToolResult


class ToolResultCache:
    """The executor's ``ToolCache`` over a bank: an identical call is served from ``store`` (a
    hit), joins the same call in flight anywhere in the process (coalesced), or runs and its
    result is offered to ``admission``. Waiting on storage never blocks the event loop."""

    def __init__(self, store: EntryStore, admission: Admission) -> None:
        self.store = store
        self.admission = admission
        self.db = store.db

    async def call(self, tool: Tool, args: dict[str, Any], execute: Callable[[], Awaitable[ToolResult]]) -> ToolResult:
        """Serve a tool call from the bank, join the identical call in flight, or run it and
        offer the result for admission. Errors are shared with waiters but never stored."""
        fp = tool.cache_key(args)
        ctx = tracing.current()
        team = ctx.team if ctx is not None and ctx.team is not None else self.store.team
        run = ctx.run_id if ctx is not None and ctx.run_id else None
        ns = self.db.namespace()
        while True:
            entry = await self.store.alookup(fp)
            if entry is not None:
                return self._serve_hit(entry, tool, args, team, run)
            flight, leader = _inflight.claim((self.db.file_key, ns, fp), team)
            if not leader:
                waited_from = time.time()
                outcome = await _inflight.wait(flight)
                if outcome is None:
                    continue  # the leader gave up (cancelled, out of budget): try again
                return self._serve_coalesced(outcome, tool, args, team, run, waited_from, flight.team)
            entry = await self.store.alookup(fp)  # stored between our lookup and our claim
            if entry is not None:
                _inflight.finish(flight, None)
                return self._serve_hit(entry, tool, args, team, run)
            return await self._lead(flight, tool, args, fp, execute, team, run)

    async def _lead(self, flight: _inflight.Flight, tool: Tool, args: dict[str, Any], fp: str,
                    execute: Callable[[], Awaitable[ToolResult]], team: str | None, run: str | None) -> ToolResult:
        try:
            result = await execute()
        except BaseException:
            _inflight.finish(flight, None)
            raise
        gave_up = not result.ok and result.error_type in ("BudgetExceeded", "Cancelled")
        # waiters get the result now; the flight stays joinable until the entry is stored
        _inflight.publish(flight, None if gave_up else _Shared(copy.deepcopy(result)))
        entry_id: str | None = None
        try:
            # off the event loop: other teams' calls proceed while the admission is decided and written
            entry_id = await asyncio.to_thread(self._admit_tool_result, tool, args, fp, result, team, run)
        except Exception as exc:  # a storage problem must not lose the tool's result
            log.warning("memory bank %s: could not offer %s result: %s", self.db.path, tool.name, exc)
            tracing.emit("memory_error", tool.name, status="error", error=str(exc))
        finally:
            _inflight.finish(flight)
        result.memory_id = entry_id
        return result

    def _admit_tool_result(self, tool: Tool, args: dict[str, Any], fp: str, result: ToolResult,
                           team: str | None, run: str | None) -> str | None:
        if not result.ok:
            self.admission.log_error(fp, tool.name, result.error_type, shorten(result.error or "", 160),
                                     result.duration, team, run)
            return None
        text, fmt = value_text(result.value)
        from agentloom.citations import collect_passages

        candidate = AdmissionCandidate(
            kind="tool_result", key=tool_key(tool.name, args, result.value), value=text,
            task=self.admission.current_task(), team=team, run=run, fingerprint=fp,
            citations=list(collect_passages(result.value)), cost_seconds=round(max(result.duration, 0.0), 6),
            value_format=fmt, source="tool", ttl=tool.cache.ttl if tool.cache is not None else None,
        )
        return self.admission.offer(candidate).entry_id

    def _serve_hit(self, entry: MemoryEntry, tool: Tool, args: dict[str, Any], team: str | None, run: str | None) -> ToolResult:
        now = time.time()
        self.store.log_read(entry, team, run, "hit")
        tracing.emit(
            "memory_hit", tool.name,
            data={"via": "hit", "entry_id": entry.id, "fingerprint": entry.fingerprint, "from_team": entry.team,
                  "saved_seconds": entry.cost_seconds, "saved_tokens": entry.cost_tokens, "saved_usd": entry.cost_usd},
        )
        return ToolResult("", tool.name, dict(args), ok=True, value=entry.data(), started=now, ended=time.time(),
                          attempts=0, cached=True, memory_id=entry.id)

    def _serve_coalesced(self, shared: _Shared, tool: Tool, args: dict[str, Any], team: str | None, run: str | None,
                         waited_from: float, leader_team: str | None) -> ToolResult:
        src = shared.result
        saved = max(src.duration, 0.0)
        if src.ok:
            self.db.add_rows(READ_SQL, [read_row(
                ns=self.db.namespace(), entry_id=None, fingerprint=tool.cache_key(args), team=team, run=run,
                via="coalesced", saved_seconds=saved, saved_tokens=0, saved_usd=0.0, now=time.time(),
            )])
            tracing.emit(
                "memory_hit", tool.name, start=waited_from,
                data={"via": "coalesced", "from_team": leader_team,
                      "saved_seconds": round(saved, 6), "saved_tokens": 0, "saved_usd": 0.0},
            )
        return ToolResult("", tool.name, dict(args), ok=src.ok, value=copy.deepcopy(src.value), error=src.error,
                          error_type=src.error_type, started=waited_from, ended=time.time(), attempts=0,
                          coalesced=True, memory_id=None)

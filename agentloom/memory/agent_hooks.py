"""What an ``Agent`` with ``memory=`` calls: the ``memory_read`` tool, the bounded block of
relevant keys for its prompt, and ``admit_step`` to offer findings and answers.

This follows Learning to Share: keys are visible in the prompt, values are fetched lazily with
``memory_read(id)``, so the context stays bounded however large the bank grows.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

from agentloom import tracing
from agentloom.errors import ConfigError
from agentloom.memory._text import shorten, value_text
from agentloom.memory.types import KINDS, AdmissionCandidate, MemoryEntry
from agentloom.tools.base import Tool

if TYPE_CHECKING:
    from agentloom.memory.bank import MemoryBank

__all__ = ["memory_tools", "memory_prompt", "admit_step", "MEMORY_LINE"]

#: One key line: ``- [<entry id>] <key> (from team X)``.
MEMORY_LINE = re.compile(r"^- \[(mem_[0-9a-f]{6,32})\] (.*) \(from team ([^()]*)\)$")
_KEY_CHARS = 160


def memory_tools(bank: MemoryBank) -> list[Tool]:
    """``memory_read(id)``: an entry's full value, key and citations; the read is logged with
    the current team (it is never itself served from the cache)."""

    async def memory_read(id: str) -> dict[str, Any]:
        """Read the full value of a shared memory entry listed in your prompt.

        Args:
            id: the entry id shown in brackets, e.g. mem_3f9a0c12de45
        """
        def fetch() -> tuple[MemoryEntry, dict[str, dict[str, Any]]]:
            entry = bank.read(id.strip().strip("[]").strip())
            return entry, bank.passages(entry.citations)

        entry, known = await asyncio.to_thread(fetch)  # the read is logged: off the event loop
        return {
            "id": entry.id,
            "key": entry.key,
            "kind": entry.kind,
            "from_team": entry.team,
            "value": entry.data(),
            "citations": [known.get(c, {"id": c}) for c in entry.citations],
        }

    return [Tool(memory_read, name="memory_read")]  # reads the bank itself: never cached in it


def memory_prompt(bank: MemoryBank, task: str, team: str | None, limit: int = 8) -> str:
    """A bounded block of the keys most relevant to ``task``, other teams' first, one per line
    as ``- [<entry id>] <key> (from team X)``; "" when nothing relevant is stored. The caller
    frames it (the Agent puts it under a "Shared memory" heading in its system prompt)."""
    if limit <= 0 or not task.strip():
        return ""
    hits = bank.search(task, k=limit * 3)
    others = [e for e in hits if e.team != team or team is None]
    own = [e for e in hits if team is not None and e.team == team]
    chosen = (others + own)[:limit]
    if not chosen:
        return ""
    bank.note_shown([e.id for e in chosen])
    lines = []
    for entry in chosen:
        key = shorten(entry.key, _KEY_CHARS).replace("(from team", "(from")
        lines.append(f"- [{entry.id}] {key} (from team {entry.team or 'unknown'})")
    return "\n".join(lines)


def _cost(cost: dict[str, Any] | None) -> tuple[int, float, float]:
    if not cost:
        return 0, 0.0, 0.0
    tokens = cost.get("tokens")
    if tokens is None:
        tokens = int(cost.get("input_tokens", 0) or 0) + int(cost.get("output_tokens", 0) or 0)
    return int(tokens or 0), float(cost.get("usd", 0.0) or 0.0), float(cost.get("seconds", 0.0) or 0.0)


async def admit_step(
    bank: MemoryBank,
    *,
    kind: str,
    key: str,
    value: str,
    task: str,
    citations: list[str] | None = None,
    cost: dict[str, Any] | None = None,
    fingerprint: str | None = None,
) -> str | None:
    """Offer one agent step (``finding``, ``answer`` or ``tool_result``) for admission; team and
    run come from the current run context. Relevance is judged against the run's task when the
    bank knows it, else against ``task``. Returns the new entry's id, or None if not admitted."""
    if kind not in KINDS:
        raise ConfigError(f"memory entry kind must be one of {', '.join(KINDS)}, got '{kind}'")
    ctx = tracing.current()
    text, fmt = value_text(value)
    tokens, usd, seconds = _cost(cost)
    candidate = AdmissionCandidate(
        kind=kind,
        key=shorten(key, 300),
        value=text,
        task=bank.current_task() or task,
        team=ctx.team if ctx is not None and ctx.team is not None else bank.team,
        run=ctx.run_id if ctx is not None and ctx.run_id else None,
        fingerprint=fingerprint,
        citations=list(citations or []),
        cost_tokens=tokens,
        cost_usd=usd,
        cost_seconds=seconds,
        value_format=fmt,
        source="step",
    )
    decision = await asyncio.to_thread(bank.offer, candidate)
    tracing.emit(
        "memory_admission",
        kind,
        status="admitted" if decision.admit else "rejected",
        data={"entry_id": decision.entry_id, "policy": decision.policy, "score": round(decision.score, 4),
              "reason": decision.reason, "fallback": decision.fallback},
    )
    return decision.entry_id

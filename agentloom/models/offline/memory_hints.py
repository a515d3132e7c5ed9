"""How the offline model takes part in shared memory: it reads the keys it is shown and calls
``memory_read`` for those that match its sub-question. A pure helper for the ``act`` handler."""

from __future__ import annotations

import json
import re

from agentloom.models.offline._text import content_terms as terms
from agentloom.models.types import ModelRequest, ToolCall
from agentloom.text.sections import question_in_messages

__all__ = ["memory_read_calls", "shown_keys"]

# The line format of agentloom.memory.agent_hooks.memory_prompt (kept here so this helper does
# not import the bank): "- [<entry id>] <key> (from team X)".
_LINE = re.compile(r"^- \[(mem_[0-9a-f]{6,32})\] (.*) \(from team ([^()]*)\)$")
_MIN_SHARED_TERMS = 2
_MIN_COVERAGE = 0.5
_MAX_READS = 3


def shown_keys(request: ModelRequest) -> dict[str, str]:
    """Entry id -> key for every memory key line in the request's system and user messages."""
    found: dict[str, str] = {}
    for message in request.messages:
        if message.role not in ("system", "user") or not message.content:
            continue
        for line in message.content.splitlines():
            match = _LINE.match(line.strip())
            if match:
                found.setdefault(match.group(1), match.group(2))
    return found


def _already_read(request: ModelRequest) -> set[str]:
    done: set[str] = set()
    for message in request.messages:
        for call in message.tool_calls:
            if call.name != "memory_read":
                continue
            try:
                entry_id = call.args().get("id")
            except ValueError:
                continue
            if isinstance(entry_id, str):
                done.add(entry_id.strip().strip("[]"))
    return done


def _question(request: ModelRequest) -> str:
    hinted = question_in_messages(m.content or "" for m in request.messages if m.role == "user")
    if hinted:
        return hinted
    text = request.last_user_text()
    return "\n".join(line for line in text.splitlines() if not _LINE.match(line.strip()))


def memory_read_calls(request: ModelRequest) -> list[ToolCall]:
    """``memory_read`` calls for the shown keys that strongly match the question: they share at
    least two content words with it, covering at least half of the question's words (all of
    them for a one-word question). Keys already read in this conversation are skipped; at most
    three, best match first. Deterministic: a function of the request only."""
    if not any((t.get("function") or {}).get("name") == "memory_read" for t in request.tools):
        return []
    keys = shown_keys(request)
    if not keys:
        return []
    question_terms = set(terms(_question(request)))
    if not question_terms:
        return []
    done = _already_read(request)
    needed = min(_MIN_SHARED_TERMS, len(question_terms))
    scored: list[tuple[float, int, str]] = []
    for entry_id, key in keys.items():
        if entry_id in done:
            continue
        shared = len(question_terms & set(terms(key)))
        coverage = shared / len(question_terms)
        if shared >= needed and coverage >= _MIN_COVERAGE:
            scored.append((coverage, shared, entry_id))
    scored.sort(key=lambda s: (-s[0], -s[1], s[2]))
    return [
        ToolCall(id=f"call_memory_read_{entry_id}", name="memory_read", arguments=json.dumps({"id": entry_id}))
        for _cov, _shared, entry_id in scored[:_MAX_READS]
    ]

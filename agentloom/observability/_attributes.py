"""Span attributes from typed events: the GenAI semantic conventions (``gen_ai.*``) plus
agentloom's own (``agentloom.*``: budget, plan width/depth, memory hits, verdicts), every string
passed through the one redaction path so no secret leaves in a trace."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from agentloom import events as ev
from agentloom.secrets import REDACTED, is_secret_key, redact_text

__all__ = ["AttrValue", "clean", "event_attributes", "flat", "span_name", "text"]

AttrValue = str | bool | int | float
#: Longest string attribute sent (inputs, tool arguments, reasons); the rest is cut with "...".
MAX_TEXT = 1000


def clean(attrs: Mapping[str, Any]) -> dict[str, AttrValue]:
    """Only OTLP-typed scalar values, strings redacted and cut; a secret-named key loses its value."""
    out: dict[str, AttrValue] = {}
    for key, value in attrs.items():
        if value is None:
            continue
        if _secret_name(key):
            out[key] = REDACTED
        elif isinstance(value, bool | int | float):
            out[key] = value
        elif isinstance(value, str):
            out[key] = text(value)
    return out


@lru_cache(maxsize=4096)
def _secret_name(key: str) -> bool:
    """Whether an attribute's last dotted part names a secret (the same few hundred keys come
    back on every span, so the answer is kept)."""
    return is_secret_key(key.rsplit(".", 1)[-1])


def text(value: str) -> str:
    """``value`` redacted, and cut to ``MAX_TEXT`` characters."""
    value = redact_text(value)
    return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "..."


def flat(prefix: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The scalar entries of ``data`` under ``prefix`` (nested values are left out)."""
    return {f"{prefix}{k}": v for k, v in data.items() if isinstance(v, str | bool | int | float)}


def span_name(event: ev.Event) -> str:
    """``chat MODEL``, ``execute_tool TOOL`` and ``invoke_agent NAME`` (runs and agents) as the GenAI
    conventions name them; else ``KIND NAME`` (``node plan``, ``branch research[0]``)."""
    if isinstance(event, ev.ModelCall):
        return f"chat {event.name}"
    if isinstance(event, ev.ToolResult):
        return f"execute_tool {event.name}"
    if isinstance(event, ev.RunFinished) or event.kind == "agent":
        return f"invoke_agent {event.name}"
    if isinstance(event, ev.BranchFinished):
        return f"branch {event.name}"
    return f"{event.kind} {event.name}"


#: Budget units left off spans: ``gen_ai.usage.*`` carries the split, ``tokens`` the total.
_SPLIT = frozenset({"input_tokens", "output_tokens"})


def _budget(data: Mapping[str, Any]) -> dict[str, Any]:
    """``agentloom.budget.{reserved,settled,remaining}.UNIT`` from a call's figures (every
    attribute costs a span about 8 µs to encode, so the input/output split is not repeated)."""
    out: dict[str, Any] = {}
    for part in ("reserved", "settled", "remaining"):
        figures = data.get(part)
        if isinstance(figures, Mapping):
            out.update(flat(f"agentloom.budget.{part}.", {k: v for k, v in figures.items() if k not in _SPLIT}))
    return out


def event_attributes(event: ev.Event) -> dict[str, Any]:
    """The attributes of the span an ending event closes (not yet cleaned)."""
    data = event.data
    attrs: dict[str, Any] = {"agentloom.team": event.team}
    if event.status != "ok":  # a failure is also the span's status; "cached", "budget_exhausted" ... say more
        attrs["agentloom.status"] = event.status
    if isinstance(event, ev.ModelCall):
        attrs.update({
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": event.name,
            "gen_ai.usage.input_tokens": event.input_tokens,
            "gen_ai.usage.output_tokens": event.output_tokens,
            "agentloom.purpose": event.purpose,
            "agentloom.usd": event.usd,
            "agentloom.attempt": data.get("attempt") if data.get("attempt", 1) != 1 else None,
            "agentloom.stream": data.get("stream") or None,
        })
        attrs.update(_budget(data))
    elif isinstance(event, ev.ToolResult):
        attrs.update({
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": event.name,
            "gen_ai.tool.call.id": event.call_id or None,
            "agentloom.tool.args": data.get("args"),
            "agentloom.tool.size": data.get("size"),
            "agentloom.tool.attempts": data.get("attempts"),
            "agentloom.memory.hit": event.status in ("cached", "coalesced"),
            "agentloom.memory.id": data.get("memory_id"),
        })
        attrs.update(_budget(data))
    elif isinstance(event, ev.RunFinished):
        usage = data.get("usage")
        usage = usage if isinstance(usage, Mapping) else {}
        attrs.update({
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": event.name,
            "gen_ai.usage.input_tokens": usage.get("input_tokens"),
            "gen_ai.usage.output_tokens": usage.get("output_tokens"),
            "agentloom.run_id": event.run_id,
            "agentloom.memory.hits": usage.get("memory_hits"),
        })
        attrs.update(_budget({"settled": {k: v for k, v in usage.items() if k != "memory_hits"}, "remaining": data.get("remaining")}))
    elif isinstance(event, ev.Verdict):
        attrs.update({
            "agentloom.verdict.score": event.score,
            "agentloom.verdict.passed": data.get("passed"),
            "agentloom.verdict.verifier": data.get("verifier"),
            "agentloom.verdict.candidate": data.get("candidate_id"),
            "agentloom.verdict.feedback": data.get("feedback"),
        })
    else:
        if event.kind == "agent":
            attrs.update({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": event.name})
        else:  # a call's or an agent's kind is its gen_ai.operation.name
            attrs["agentloom.kind"] = event.kind
        attrs.update(flat("agentloom.", data))
    if event.error:
        attrs["error.type"] = event.error.split("(", 1)[0].split(":", 1)[0][:100]
    return attrs

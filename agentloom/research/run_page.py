"""What a recorded run looks like to a reader: its usage, report, timeline and the exported
HTML page. Shared by ``loom runs`` and ``loom ui`` so both show the same figures."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentloom.runstore import RunRecord, RunStore

__all__ = ["duration_of", "export_page", "report_markdown", "resumed_line", "timeline_of", "usage_of"]

_MEMORY_STATUSES = ("cached", "coalesced")


def usage_of(record: RunRecord, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's recorded usage, completed from its events where the record is silent."""
    usage = dict(record.usage or {})
    models = [e for e in events if e.get("kind") == "model_call" and e.get("status") == "ok"]
    tools = [e for e in events if e.get("kind") == "tool_call"]
    derived: dict[str, Any] = {
        "input_tokens": sum(int(e["data"].get("input_tokens") or 0) for e in models),
        "output_tokens": sum(int(e["data"].get("output_tokens") or 0) for e in models),
        "llm_calls": sum(1 for e in events if e.get("kind") == "model_call"),
        "tool_calls": sum(1 for e in tools if e.get("status") not in _MEMORY_STATUSES),
        "memory_hits": sum(1 for e in tools if e.get("status") in _MEMORY_STATUSES),
    }
    prices = [e["data"].get("usd") for e in models]
    derived["usd"] = None if any(p is None for p in prices) else round(sum(float(p) for p in prices), 8)
    for key, value in derived.items():
        usage.setdefault(key, value)
    usage.setdefault("tokens", int(usage.get("input_tokens") or 0) + int(usage.get("output_tokens") or 0))
    return usage


def report_markdown(store: RunStore, record: RunRecord) -> str | None:
    """The run's report: a report artifact, else the output's report/markdown field, else a text output."""
    for name in ("report.md", "report", "report_markdown"):
        content = store.artifact(record.id, name)
        if content:
            return content
    for artifact in store.artifacts(record.id):
        if artifact.get("mime") == "text/markdown" and artifact.get("content"):
            return str(artifact["content"])
    output = record.output
    if isinstance(output, str):
        return output
    if isinstance(output, dict):
        for key in ("report", "report_markdown", "markdown", "answer", "output", "text"):
            value = output.get(key)
            if isinstance(value, str) and value.strip():
                return value
    return None


def timeline_of(store: RunStore, record: RunRecord, events: list[dict[str, Any]] | None = None) -> Any:
    from agentloom.research.timeline import build_timeline

    events = store.events(record.id) if events is None else events
    wall = (record.usage or {}).get("wall_s")  # the report footer's wall time, shown beside the chart's
    return build_timeline(events, run_id=record.id, start=record.created or None, end=record.finished,
                          total=float(wall) if isinstance(wall, (int, float)) else None,
                          pauses=(record.meta or {}).get("pauses") or None)


def duration_of(record: RunRecord) -> float | None:
    """From start to finish, without the pauses between a stop and its resume (None while running)."""
    if not (record.finished and record.created):
        return None
    paused = sum(float(p[1]) - float(p[0]) for p in (record.meta or {}).get("pauses") or [] if len(p) >= 2)
    return max(0.0, record.finished - record.created - paused)


def resumed_line(record: RunRecord) -> str:
    """"yes, 2 times; 7.04s paused (not run time)" for a run continued after a stop, else ""."""
    meta = record.meta or {}
    if not meta.get("resumed"):
        return ""
    pauses = [p for p in meta.get("pauses") or [] if len(p) >= 2]
    times = len(pauses) or 1
    paused = sum(float(b) - float(a) for a, b, *_ in pauses)
    return f"yes, {times} time{'s' if times != 1 else ''}" + (f"; {paused:.2f}s paused (not run time)" if paused > 0 else "")


def export_page(store: RunStore, record: RunRecord) -> str:
    """The self-contained HTML page of a run (``loom runs export``): facts, timeline chart, report."""
    from agentloom.research.html_export import render_html

    usage = usage_of(record, store.events(record.id))
    usd = usage.get("usd")
    facts = {
        "run": record.id,
        "kind": record.kind + (f" ({record.name})" if record.name else ""),
        "status": record.status,
        "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created)) if record.created else "-",
        "usage": f"{'unknown' if usd is None else f'${float(usd):.4f}'}, {usage.get('tokens', 0)} tokens, "
        f"{usage.get('llm_calls', 0)} llm calls, {usage.get('tool_calls', 0)} tool calls, {usage.get('memory_hits', 0)} memory hits",
    }
    resumed = resumed_line(record)
    if resumed:
        facts["resumed"] = resumed
    if record.input is not None:
        text = record.input if isinstance(record.input, str) else json.dumps(record.input, ensure_ascii=False, default=str)
        text = " ".join(text.split())
        facts["input"] = text if len(text) <= 300 else text[:297] + "..."
    return render_html(timeline_of(store, record), report_markdown(store, record), facts=facts)

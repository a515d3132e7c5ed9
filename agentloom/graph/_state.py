"""The graph state's values: plain JSON (so checkpoints need no custom types and ``--json`` output
is the state itself), and the conversions between it and agentloom's value types."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "candidate_state",
    "candidates_from",
    "jsonable",
    "merge_branches",
    "merge_flags",
    "add_counts",
    "last",
    "to_candidate",
]


# --------------------------------------------------------------------------- reducers
def last(_old: Any, new: Any) -> Any:
    """A node's channel: the latest write wins (a node re-run in a loop replaces its output)."""
    return new


def merge_branches(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    """Map branch outputs: ``{map: {index: output}}``; ``{map: None}`` clears a map's results
    (its dispatcher does this before a new round of branches)."""
    out = dict(old or {})
    for key, value in (new or {}).items():
        out[key] = {} if value is None else {**out.get(key, {}), **value}
    return out


def add_counts(old: dict[str, int] | None, new: dict[str, int] | None) -> dict[str, int]:
    """Loop counters: how often each limited edge was taken."""
    out = dict(old or {})
    for key, value in (new or {}).items():
        out[key] = out.get(key, 0) + int(value)
    return out


def merge_flags(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    """Run flags (``budget_exhausted``...): set once, never unset."""
    out = dict(old or {})
    for key, value in (new or {}).items():
        if isinstance(value, list):
            out[key] = [*out.get(key, []), *value]
        else:
            out[key] = out.get(key) or value
    return out


# --------------------------------------------------------------------------- values
def jsonable(value: Any, _depth: int = 0) -> Any:
    """``value`` as plain JSON data (pydantic models dumped, dataclasses as dicts)."""
    if _depth > 50:
        return str(value)
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if hasattr(value, "model_dump"):
        return jsonable(value.model_dump(mode="json"), _depth + 1)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and not isinstance(value, type):
        return jsonable(to_dict(), _depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value), _depth + 1)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v, _depth + 1) for v in value]
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)


def _passages(value: Mapping[str, Any]) -> list[Any]:
    found: dict[str, Any] = {}
    for key in ("passages", "citations"):
        items = value.get(key)
        if isinstance(items, Mapping):
            items = list(items.values())
        for item in items if isinstance(items, list) else []:
            if isinstance(item, Mapping) and isinstance(item.get("id"), str):
                found.setdefault(item["id"], item)
    return list(found.values())


def to_candidate(value: Any, index: int, source: str) -> Any:
    """A ``Candidate`` from a state value: a node output (agent, crossover...), text, or a
    structured answer. Its id is deterministic (``source``), so reruns compare equal."""
    from agentloom.agents.candidates import Candidate, coerce_passages

    if isinstance(value, Candidate):
        return value
    if isinstance(value, str):
        return Candidate(text=value, id=source, source=source)
    if isinstance(value, Mapping):
        textual = {"text", "answer", "markdown", "output", "passages", "citations"}
        if not textual & set(value):
            return Candidate(output=dict(value), id=source, source=source)
        text = value.get("text")
        if not isinstance(text, str):
            text = value.get("markdown") if isinstance(value.get("markdown"), str) else None
        output = value.get("output")
        answer = value.get("answer") if isinstance(value.get("answer"), str) else None
        try:
            passages = coerce_passages(_passages(value))
        except TypeError:
            passages = {}
        return Candidate(
            text=text,
            output=output if isinstance(output, dict) else None,
            id=str(value.get("id") or source),
            answer=answer,
            passages=passages,
            source=str(value.get("source") or source),
            meta={"from": source, **({"grounded": value["grounded"]} if isinstance(value.get("grounded"), bool) else {})},
        )
    return Candidate(output=value if isinstance(value, dict) else None, text=None if isinstance(value, dict) else str(value),
                     id=source, source=source)


def candidates_from(value: Any, source: str) -> tuple[list[Any], dict[str, Any]]:
    """Candidates in a state value, and their verdicts when it is a verifier's output (then its
    selected candidates are used). A single value is one candidate."""
    from agentloom.agents.candidates import Verdict

    verdicts: dict[str, Any] = {}
    if isinstance(value, Mapping) and isinstance(value.get("selected"), list) and "verdicts" in value:
        for raw in value.get("verdicts") or []:
            if isinstance(raw, Mapping) and isinstance(raw.get("candidate_id"), str):
                fields = {f.name for f in dataclasses.fields(Verdict)}
                verdicts[raw["candidate_id"]] = Verdict(**{k: v for k, v in raw.items() if k in fields})
        items = value["selected"]
    elif isinstance(value, list):
        items = value
    elif value is None:
        items = []
    else:
        items = [value]
    out = [to_candidate(v, i, f"{source}-{i}") for i, v in enumerate(items) if v is not None]
    return out, verdicts


def candidate_state(candidate: Any) -> dict[str, Any]:
    """A ``Candidate`` as state data: text, structured output, what it cites and may cite."""
    output = candidate.output_dict() if hasattr(candidate, "output_dict") else None
    return {
        "id": candidate.id,
        "text": candidate.text if candidate.text is not None else candidate.content,
        "answer": candidate.answer,
        "output": output if output is not None else jsonable(candidate.output),
        "citations": [c.to_dict() for c in candidate.cited_passages()],
        "passages": [p.to_dict() for p in candidate.passages.values()],
        "source": candidate.source,
        "parents": list(candidate.parents),
        "meta": jsonable(candidate.meta),
    }

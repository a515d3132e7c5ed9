"""The JSON Schema of graph spec files, for editors (``# yaml-language-server: $schema=...``).

It is generated from the pydantic models, then taught the short forms the loader accepts
(``a -> b`` edges, ``default: offline`` models, ``verifiers: [citation]``...), so an editor never
flags a spec that ``loom validate`` accepts.
"""

from __future__ import annotations

from typing import Any

from agentloom.graph.spec import GraphSpec

__all__ = ["json_schema", "SCHEMA_ID"]

SCHEMA_ID = "https://agentloom.dev/schema/graph-v1.json"

_SHORT_DEFS: dict[str, dict[str, Any]] = {
    "EdgeSpec": {"type": "string", "pattern": r"^\s*\S.*->\s*\S+\s*$", "description": "a plain edge: 'a -> b'"},
    "ModelSpec": {"type": "string", "description": "'offline' or a litellm model string"},
    "ToolSpec": {"anyOf": [{"type": "null"}, {"type": "string", "description": "'module:attr' of a tool"}]},
    "OutputSpec": {"type": "string", "description": "a state path such as write.markdown"},
    "CacheSpec": {"type": "boolean", "description": "true: shared with no time limit; false: every call runs"},
    "SelectSpec": {"enum": ["top_k", "threshold", "quorum", "best_of_n", "first_finish"]},
}
_UNIONS = {
    "verifier": ("JudgeVerifierSpec", "FunctionVerifierSpec", "ConsensusVerifierSpec", "CitationVerifierSpec"),
    "crossover": ("MergeCrossoverSpec", "DistillRefineSpec", "FieldCrossoverSpec"),
}
_TAGS = {"verifier": ["judge", "function", "consensus", "citation"], "crossover": ["merge", "distill_refine", "field"]}


def _union_kind(node: dict[str, Any]) -> str | None:
    refs = node.get("oneOf")
    if not isinstance(refs, list):
        return None
    names = tuple(str(r.get("$ref", "")).rsplit("/", 1)[-1] for r in refs if isinstance(r, dict))
    for kind, members in _UNIONS.items():
        if names == members:
            return kind
    return None


def _teach(node: Any) -> Any:
    """Allow the by-name short form wherever a verifier or crossover union appears."""
    if isinstance(node, list):
        return [_teach(v) for v in node]
    if not isinstance(node, dict):
        return node
    kind = _union_kind(node)
    if kind is not None:
        rest = {k: v for k, v in node.items() if k != "oneOf"}
        return {**rest, "anyOf": [{"oneOf": node["oneOf"]}, {"enum": _TAGS[kind], "description": f"a {kind} by type"}]}
    out = {k: _teach(v) for k, v in node.items()}
    if out.get("type") == "array" and isinstance(out.get("items"), dict) and "anyOf" in out["items"] and out.get("title") == "Verifiers":
        array = {k: v for k, v in out.items() if k not in ("title", "description")}
        return {"title": out.get("title"), "description": out.get("description"), "anyOf": [array, out["items"]]}
    return out


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a graph spec v1, with every field described."""
    schema = _teach(GraphSpec.model_json_schema(by_alias=True, mode="validation"))
    for name, short in _SHORT_DEFS.items():
        full = schema["$defs"].get(name)
        if full is not None:
            meta = {k: full[k] for k in ("title", "description") if k in full}
            schema["$defs"][name] = {**meta, "anyOf": [full, short]}
    out: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID}
    out.update(schema)
    return out

"""Spec data in its short forms (``a -> b`` edges, ``judge: offline`` models...), for ``to_yaml``.
Each short form is one the loader reads back to the same spec."""

from __future__ import annotations

from typing import Any

__all__ = ["compact"]


def _only(value: Any, key: str) -> bool:
    return isinstance(value, dict) and set(value) == {key} and isinstance(value[key], str)


def _compact_node(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if isinstance(node.get("verifiers"), list):
        node["verifiers"] = [v["type"] if _only(v, "type") else v for v in node["verifiers"]]
    for key in ("crossover",):
        if _only(node.get(key), "type"):
            node[key] = node[key]["type"]
    if _only(node.get("select"), "policy"):
        node["select"] = node["select"]["policy"]
    for key in ("node", "generate"):
        if isinstance(node.get(key), dict):
            node[key] = _compact_node(node[key])
    return node


def compact(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (a dumped spec) with every value that has a short form written short."""
    out = dict(data)
    if isinstance(out.get("models"), dict):
        out["models"] = {k: (v["model"] if _only(v, "model") else v) for k, v in out["models"].items()}
    if isinstance(out.get("outputs"), dict):
        out["outputs"] = {k: (v["from"] if _only(v, "from") else v) for k, v in out["outputs"].items()}
    if isinstance(out.get("nodes"), dict):
        out["nodes"] = {k: _compact_node(v) for k, v in out["nodes"].items()}
    if isinstance(out.get("edges"), list):
        edges = []
        for edge in out["edges"]:
            if (
                isinstance(edge, dict)
                and set(edge) == {"from", "to"}
                and isinstance(edge["from"], str)
                and isinstance(edge["to"], str)
            ):
                edges.append(f"{edge['from']} -> {edge['to']}")
            else:
                edges.append(edge)
        out["edges"] = edges
    return out

"""Mermaid text of a graph spec: maps drawn as a fan-out, conditional edges dashed with their
condition, loops with their limit. Drawn from the spec, so it shows what the user wrote."""

from __future__ import annotations

from agentloom.graph.spec import Condition, EdgeSpec, GraphSpec, MapNode

__all__ = ["to_mermaid"]


def _label(node_name: str, kind: str, detail: str = "") -> str:
    text = f"{node_name}<br/><small>{kind}{(' · ' + detail) if detail else ''}</small>"
    return text.replace('"', "'")


def _condition(cond: Condition) -> str:
    if cond.verdict is not None:
        return f"verdict {cond.verdict}" + (f" of {cond.node}" if cond.node else "")
    tests = []
    for attr, sign in (("equals", "=="), ("not_equals", "!="), ("in_", "in"), ("gt", ">"), ("gte", ">="), ("lt", "<"), ("lte", "<=")):
        value = getattr(cond, attr)
        if value is not None:
            tests.append(f"{cond.field} {sign} {value}")
    return " and ".join(tests) or f"{cond.field}"


def _edge_label(edge: EdgeSpec) -> str:
    parts = []
    if edge.when is not None:
        parts.append(_condition(edge.when))
    if edge.limit is not None:
        parts.append(f"at most {edge.limit}x")
    return ", ".join(parts).replace('"', "'").replace("|", "/")


def _id(name: str) -> str:
    return {"START": "__start__", "END": "__end__"}.get(name, "n_" + name.replace("-", "_"))


def to_mermaid(spec: GraphSpec) -> str:
    """The graph as a Mermaid ``flowchart``."""
    lines = ["---", f"title: {spec.name}", "---", "flowchart TD"]
    lines.append("    __start__([START])")
    lines.append("    __end__([END])")
    for name, node in spec.nodes.items():
        if isinstance(node, MapNode):
            source = node.over if node.over is not None else f"{len(node.items or [])} items"
            lines.append(f'    {_id(name)}[["{_label(name, "map", f"over {source}")}"]]')
            body = f"{_id(name)}_body"
            lines.append(f'    {body}("{_label(name + "[i]", node.node.kind)}")')
            lines.append(f"    {_id(name)} -. one branch per item .-> {body}")
        else:
            detail = getattr(node, "planner", "") if node.kind == "planner" else ""
            lines.append(f'    {_id(name)}["{_label(name, node.kind, str(detail))}"]')
    names = list(spec.nodes)

    def out(name: str) -> str:
        return f"{_id(name)}_body" if isinstance(spec.nodes.get(name), MapNode) else _id(name)

    if spec.edges is None:
        chain = ["START", *names, "END"]
        for a, b in zip(chain, chain[1:], strict=False):
            lines.append(f"    {out(a)} --> {_id(b)}")
        return "\n".join(lines) + "\n"
    sources = {s for e in spec.edges for s in e.sources}
    if "START" not in sources:
        lines.append(f"    __start__ --> {_id(names[0])}")
    for edge in spec.edges:
        label = _edge_label(edge)
        arrow = f"-. {label} .->" if edge.routed else "-->"
        for s in edge.sources:
            for t in edge.targets:
                lines.append(f"    {out(s)} {arrow} {_id(t)}")
    for name in names:
        if name not in sources:
            lines.append(f"    {out(name)} --> __end__")
    return "\n".join(lines) + "\n"

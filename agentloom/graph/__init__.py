"""Agent graphs: a YAML or Python spec (v1), validated with every problem reported at once,
compiled to a LangGraph ``StateGraph`` and run durably (resumable after a crash).

- ``Graph``: build a spec in code, ``compile()`` it, ``run()`` it, ``to_yaml()`` it.
- ``load_graph(path)`` / ``parse_graph(text)``: read YAML into a ``Graph``.
- ``GraphSpec`` and friends: the pydantic models; ``json_schema()`` for editors.
- ``to_mermaid(spec)``: Mermaid text of a graph.

Interpolation in specs comes in two kinds that never mix: ``{name}`` reads a run input, a node's
output (``{plan.sub_tasks}``) or, in a map body, ``{item}`` / ``{index}`` (a string that is only
a placeholder keeps the value's type; ``{{``/``}}`` are literal braces); ``${env:VAR}`` reads an
environment variable when the run starts, for secrets. Unknown names are spec errors; a missing
variable is a one-line error naming it.
"""

from __future__ import annotations

from agentloom.graph.builder import Graph
from agentloom.graph.draw import to_mermaid
from agentloom.graph.loader import load_graph, parse_graph
from agentloom.graph.schema import json_schema
from agentloom.graph.spec import EdgeSpec, GraphSpec, NodeSpec

__all__ = ["EdgeSpec", "Graph", "GraphSpec", "NodeSpec", "json_schema", "load_graph", "parse_graph", "to_mermaid"]

"""Build the graph of ``deep_research.yaml`` in Python and check that the two are the same graph.

    python examples/build_deep_research.py          # prints "same graph" and exits 0
    python examples/build_deep_research.py --run    # also runs it (offline) and prints the answer

``agentloom.Graph`` writes the same spec as the YAML, so ``graph == load_graph(path)`` compares
every input, model, tool, node and edge.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agentloom import Graph, load_graph
from agentloom.research.pipeline import deep_research_graph

HERE = Path(__file__).resolve().parent


def build() -> Graph:
    """The deep-research pipeline that ``loom research`` runs, built in Python by
    ``agentloom.research.pipeline.deep_research_graph`` (read it for the builder API)."""
    graph = deep_research_graph()
    graph.base_dir = HERE  # relative paths (the corpus) resolve next to this file, as for the YAML
    return graph


def main(argv: list[str]) -> int:
    built = build()
    loaded = load_graph(HERE / "deep_research.yaml")
    if built != loaded:
        import difflib

        diff = difflib.unified_diff(
            loaded.to_yaml().splitlines(), built.to_yaml().splitlines(), "deep_research.yaml", "build()", lineterm=""
        )
        print("\n".join(diff))
        print("the graph built in Python differs from deep_research.yaml", file=sys.stderr)
        return 1
    print(f"same graph: {len(built.spec.nodes)} nodes, {len(built.spec.edges or [])} edges")
    if "--run" in argv:
        result = built.run_sync()
        print(result.output["answer"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

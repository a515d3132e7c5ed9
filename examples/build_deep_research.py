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

HERE = Path(__file__).resolve().parent


def build() -> Graph:
    """The deep-research pipeline: plan → research teams → verify → merge → write."""
    graph = Graph(
        "deep_research",
        description="Plan sub-questions, research them in parallel teams with shared memory, verify, merge, write a cited report.",
    )
    graph.base_dir = HERE  # relative paths (the corpus) resolve next to this file, as for the YAML
    graph.add_input(
        "question",
        default="Which desalination plant has the larger capacity, Northpoint or Kettle Bay?",
        description="what to research",
    )
    graph.add_input(
        "corpus",
        "path",
        default="corpus",
        description="the folder of documents to search (relative to this file when it is the default)",
    )
    graph.add_input("width", default="auto", description="research teams per round, or auto (the budget planner decides)")
    graph.add_input("depth", default="auto", description="research rounds at most, or auto")
    graph.add_model("default", "offline")
    graph.set_budget(tokens=400000, seconds=300)
    graph.set_memory(scope="run", admission="heuristic")
    graph.add_tool("corpus", paths=["{corpus}"])
    graph.add_tool("calculator")
    graph.add_tool("web", optional=True)
    graph.configure(max_concurrency=8, retry={"max_attempts": 2})

    graph.add_node(
        "plan", "planner", planner="budget", question="{question}", width="{width}", depth="{depth}", max_width=4,
        feedback="verify",
    )
    graph.add_node(
        "research",
        "map",
        over="plan.branches",
        team="team-{index}",
        node={"kind": "agent", "task": "{item}", "tools": ["corpus", "calculator", "web"], "width": "descending", "max_turns": 4},
    )
    graph.add_node("verify", "verifier", candidates="research", question="{question}", verifiers=["citation", "consensus"])
    graph.add_node("merge", "crossover", candidates="verify", question="{question}", crossover={"type": "merge", "k": 4})
    graph.add_node("write", "writer", question="{question}", findings=["merge", "research"])

    graph.add_edge("plan", "write", when={"field": "plan.stop", "equals": True})
    graph.add_edge("plan", "research")
    graph.add_edge("research", "verify")
    graph.add_edge("verify", "plan", when={"verdict": "fail"}, limit=1)
    graph.add_edge("verify", "merge")
    graph.add_edge("merge", "write")

    graph.add_output("report", "write.markdown", description="the Markdown report with numbered citations and references")
    graph.add_output("answer", "write.short_answer")
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

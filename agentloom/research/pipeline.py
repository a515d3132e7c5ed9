"""The deep-research pipeline as a graph: plan → research teams in parallel → verify → merge →
write. ``examples/deep_research.yaml`` is the same graph in YAML (a test keeps them equal)."""

from __future__ import annotations

from agentloom._paths import default_corpus
from agentloom.graph.builder import Graph

__all__ = ["deep_research_graph", "DEFAULT_QUESTION"]

DEFAULT_QUESTION = "Which desalination plant has the larger capacity, Northpoint or Kettle Bay?"


def deep_research_graph() -> Graph:
    """The graph ``loom research`` runs. Its ``corpus`` input defaults to the shipped corpus."""
    graph = Graph(
        "deep_research",
        description="Plan sub-questions, research them in parallel teams with shared memory, verify, merge, write a cited report.",
    )
    # the default corpus is the folder named "corpus" next to the spec, as for the YAML example
    graph.base_dir = default_corpus().parent
    graph.add_input("question", default=DEFAULT_QUESTION, description="what to research")
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

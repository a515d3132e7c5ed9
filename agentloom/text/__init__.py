"""Text formats and helpers shared by the framework and the models it calls: how prompts lay
out the question and findings (``sections``), the DAG planner's line format (``dag_lines``),
and lexical comparison plus the JSON payload of verifier and crossover requests (``lexical``).
They sit below ``agents``, ``planners`` and ``models`` so no side imports the other's internals."""

from __future__ import annotations

__all__: list[str] = []

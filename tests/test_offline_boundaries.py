"""The offline engine sees only what a real model sees, and imports nothing above it."""

from __future__ import annotations

import ast
from pathlib import Path

import agentloom

OFFLINE = Path(agentloom.__file__).parent / "models" / "offline"
ABOVE = ("agentloom.agents", "agentloom.planners", "agentloom.memory", "agentloom.graph", "agentloom.research")


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(OFFLINE.glob("*.py"))]


def test_the_offline_engine_never_reads_request_metadata() -> None:
    for path, tree in _modules():
        reads = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "metadata"]
        assert not reads, f"{path.name} reads .metadata at lines {reads}"


def test_the_offline_engine_imports_nothing_above_the_models() -> None:
    for path, tree in _modules():
        names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not [m for m in names if m.startswith(ABOVE)], f"{path.name} imports {sorted(m for m in names if m.startswith(ABOVE))}"


def test_the_production_writer_never_falls_back_to_the_offline_renderer() -> None:
    root = Path(agentloom.__file__).parent
    for rel in ("agents/writer.py", "graph/_nodes/writer.py"):
        tree = ast.parse((root / rel).read_text(encoding="utf-8"))
        names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not [m for m in names if m.startswith("agentloom.models.offline")], rel

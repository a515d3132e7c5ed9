"""The layering holds: no module reaches into another package's private modules, and the
top-level packages import each other in one direction only (no cycles)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "agentloom"


def _imports() -> list[tuple[str, list[str], str]]:
    """(importing module's dotted path parts, imported dotted name, "file:line") for every
    absolute import of agentloom inside the package."""
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.split(".")[0] == "agentloom":
                    out.append((".".join(parts), name.split("."), f"{path.relative_to(ROOT.parent)}:{node.lineno}"))
    return out


def test_no_module_reaches_into_another_packages_private_modules() -> None:
    reaching = []
    for importer, target, where in _imports():
        for i, segment in enumerate(target[1:], 1):
            if segment.startswith("_") and not segment.startswith("__"):
                owner = target[:i]
                if importer.split(".")[: len(owner)] != owner:
                    reaching.append(f"{where} imports {'.'.join(target)}")
                break
    assert reaching == []


def test_top_level_packages_import_in_one_direction() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for importer, target, _ in _imports():
        src = importer.split(".")
        if len(src) < 2 or len(target) < 2 or src[1] in ("cli", "_cli"):
            continue  # the package root and the CLI sit on top and may import anything
        if src[1] != target[1] and (ROOT / target[1]).is_dir() and (ROOT / src[1]).is_dir():
            edges[src[1]].add(target[1])
    cycles = sorted(f"{a} <-> {b}" for a in edges for b in edges[a] if a < b and a in edges.get(b, set()))
    assert cycles == []

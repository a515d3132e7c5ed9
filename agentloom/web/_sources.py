"""A cited passage in context, read only from inside the run's corpus folders (never elsewhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["SourceRefused", "passage_in_context"]

_CONTEXT_LINES = 8


class SourceRefused(Exception):
    """The citation points outside the run's corpus, or at nothing readable."""


def _inside(path: Path, roots: list[Path]) -> Path:
    for root in roots:
        base = root if root.is_dir() else root.parent
        candidate = (base / path).resolve() if not path.is_absolute() else path.resolve()
        if root.is_file() and candidate != root:
            continue
        if candidate.is_file() and candidate.is_relative_to(base):
            return candidate
    raise SourceRefused(f"{path} is not a file inside the run's corpus")


def passage_in_context(citation: dict[str, Any], corpus: list[str]) -> dict[str, Any]:
    """The citation with the lines around it: ``lines`` is ``[[number, text, cited], ...]``.
    A web source carries its ``url`` only. Paths are resolved (symlinks too) and must stay
    inside one of ``corpus``; anything else is ``SourceRefused``."""
    out = {k: citation.get(k) for k in ("n", "id", "path", "url", "line_start", "line_end", "title", "text")}
    if not citation.get("path"):
        if citation.get("url"):
            return out | {"lines": []}
        raise SourceRefused("the citation names neither a file nor a url")
    found = _inside(Path(str(citation["path"])), [Path(c).resolve() for c in corpus])
    lines = found.read_text(encoding="utf-8", errors="replace").splitlines()
    start = int(citation.get("line_start") or 1)
    end = int(citation.get("line_end") or start)
    lo, hi = max(1, start - _CONTEXT_LINES), min(len(lines), end + _CONTEXT_LINES)
    out["lines"] = [[n, lines[n - 1], start <= n <= end] for n in range(lo, hi + 1)]
    return out

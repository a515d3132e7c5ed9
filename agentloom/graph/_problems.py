"""Spec problems: one per mistake, each with a code, a message that says the fix, and where it is
(``file:line:col`` from YAML marks, or a dotted path for specs built in Python)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Problem", "Marks", "dotted", "suggest", "format_problems"]


@dataclass(frozen=True)
class Problem:
    """One spec mistake. ``line``/``col`` are 1-based; ``path`` is where in the spec it is."""

    code: str
    message: str
    path: tuple[Any, ...] = ()
    line: int | None = None
    col: int | None = None

    def format(self, source: str) -> str:
        """``file:line:col: CODE message`` (or ``source: CODE message`` without a position)."""
        if self.line is not None:
            return f"{source}:{self.line}:{self.col or 1}: {self.code} {self.message}"
        return f"{source}: {self.code} {self.message}"


@dataclass
class Marks:
    """Positions of the spec's values and mapping keys, by path (1-based line and column)."""

    values: dict[tuple[Any, ...], tuple[int, int]] = field(default_factory=dict)
    keys: dict[tuple[Any, ...], tuple[int, int]] = field(default_factory=dict)

    def find(self, path: tuple[Any, ...], *, key: bool = False) -> tuple[int, int] | None:
        """The position of ``path`` (its key when ``key``), else of its nearest known ancestor."""
        if key and path in self.keys:
            return self.keys[path]
        probe = path
        while True:
            if probe in self.values:
                return self.values[probe]
            if not probe:
                return None
            probe = probe[:-1]

    def locate(self, problem: Problem, *, key: bool = False) -> Problem:
        """``problem`` with its line and column filled in from its path."""
        if problem.line is not None:
            return problem
        found = self.find(problem.path, key=key)
        if found is None:
            return problem
        return Problem(problem.code, problem.message, problem.path, found[0], found[1])


def dotted(path: Iterable[Any]) -> str:
    """``nodes.plan.tools[2]`` for a path."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "the top level"


def suggest(word: Any, options: Iterable[str]) -> str:
    """``; did you mean 'x'?`` for the closest option, or an empty string."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, sorted(set(options)), n=1, cutoff=0.6)
    if not close:
        close = [o for o in options if o.lower() == word.lower()]
    return f"; did you mean '{close[0]}'?" if close else ""


def format_problems(problems: Iterable[Problem], source: str) -> list[str]:
    """Problems sorted by position, one formatted line each, without repeats."""
    ordered = sorted(problems, key=lambda p: (p.line or 0, p.col or 0, p.code, p.message))
    seen: dict[str, None] = {}
    for problem in ordered:
        seen.setdefault(problem.format(source), None)
    return list(seen)

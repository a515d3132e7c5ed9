"""Sentences that introduce a figure or a name found in none of their inputs.

Merge, crossover and the writer may only rephrase and combine what they were given. A small model
asked to merge answers will still write "10, 15 and 20 million gallons" that no candidate said;
this module finds such sentences so the caller can drop them. A figure counts as found when it
is in the inputs, or is the sum, difference, product or ratio of two figures that are (code, not
the model, is trusted with that arithmetic). Single digits are not checked: they label steps and
list items as often as they state facts.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from agentloom.citations import CITE_MARKER

__all__ = ["Grounded", "drop_ungrounded", "figures_in", "unsupported_terms"]

_FIGURE = re.compile(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?(?![\w])")
_NUMBERED = re.compile(r"\[\d{1,3}\]")
_NAME = re.compile(r"\b[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)*\b")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_COMMON = frozenset(
    """A An And As At But By For From He Her His However If In It Its No Not Of On One Or She So
    That The Their There These They This Those To We What When Where Which While Who Why With Yes
    Also After Before Both Each Either Neither Other Some Such Than Then Thus Together Total Overall
    Short Answer Findings Finding Question Summary Sources References Evidence None Unverified
    Combined Between Since Until During About Around Approximately Nearly Over Under""".split()
)


def _number(token: str) -> float | None:
    try:
        return float(token.replace(",", ""))
    except ValueError:
        return None


def figures_in(text: str) -> list[float]:
    """The numbers written in ``text`` (citation markers and ids left out)."""
    text = _NUMBERED.sub(" ", CITE_MARKER.sub(" ", text))
    return [n for n in (_number(m.group(0)) for m in _FIGURE.finditer(text)) if n is not None]


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= max(1e-9, 0.005 * max(abs(a), abs(b)))


def _derivable(value: float, known: set[float]) -> bool:
    if any(_close(value, k) for k in known):
        return True
    pool = sorted(known)[:200]
    for a, b in itertools.combinations(pool, 2):
        candidates = (a + b, abs(a - b), a * b, a / b if b else None, b / a if a else None)
        if any(c is not None and _close(value, c) for c in candidates):
            return True
    return False


def unsupported_terms(sentence: str, sources: str, known_figures: set[float] | None = None) -> list[str]:
    """Figures and capitalised names in ``sentence`` that ``sources`` do not hold (figures may
    also be derived from two source figures by one arithmetic step)."""
    known = known_figures if known_figures is not None else set(figures_in(sources))
    plain = _NUMBERED.sub(" ", CITE_MARKER.sub(" ", sentence))
    problems: list[str] = []
    for match in _FIGURE.finditer(plain):
        value = _number(match.group(0))
        if value is not None and not (value.is_integer() and 0 <= value <= 9) and not _derivable(value, known):
            problems.append(match.group(0))
    lowered = sources.lower()
    words = plain.split()
    for match in _NAME.finditer(plain):
        name = match.group(0)
        at_start = plain[: match.start()].strip() == "" or plain[: match.start()].rstrip().endswith((":", "#", "-", "*"))
        if name in _COMMON or (at_start and name.lower() in {w.lower() for w in words[:1]}):
            continue
        if name.lower() not in lowered:
            problems.append(name)
    return problems


@dataclass
class Grounded:
    """Text with its ungrounded sentences removed, and what was removed (with why)."""

    text: str
    dropped: list[dict[str, object]] = field(default_factory=list)


def _sentences(line: str) -> list[str]:
    return [s for s in _SENTENCE.split(line) if s.strip()]


def drop_ungrounded(text: str, sources: Iterable[str]) -> Grounded:
    """``text`` without the sentences holding a figure or a name absent from ``sources``.
    Markdown headings and lines are kept in place; only offending sentences go."""
    source_text = "\n".join(sources)
    known = set(figures_in(source_text))
    kept_lines: list[str] = []
    dropped: list[dict[str, object]] = []
    for line in text.split("\n"):
        if not line.strip() or line.lstrip().startswith("#"):
            kept_lines.append(line)
            continue
        keep: list[str] = []
        for sentence in _sentences(line):
            problems = unsupported_terms(sentence, source_text, known)
            if problems:
                dropped.append({"sentence": sentence.strip(), "unsupported": problems})
            else:
                keep.append(sentence.strip())
        if keep or not line.strip():
            indent = line[: len(line) - len(line.lstrip())]
            kept_lines.append(indent + " ".join(keep))
    return Grounded("\n".join(kept_lines), dropped)

"""Which targets a sentence gives a figure for: a number belongs to the name before it in its
clause (else after it, else before it in the sentence)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agentloom.models.offline import _text
from agentloom.models.offline._question import AGE, Question
from agentloom.models.offline._words import is_year, proper_name

if TYPE_CHECKING:
    from agentloom.models.offline._ranker import Scored

__all__ = [
    "answered_targets",
    "figure_targets",
]


def answered_targets(question: Question, chosen: Sequence[Scored]) -> set[int]:
    """The targets some chosen sentence is about, giving a figure for them when the question
    asks for one (see ``figure_targets``)."""
    out: set[int] = set()
    for item in chosen:
        out |= figure_targets(question, item) if question.wants_number else item.targets
    return out


def _name_spans(question: Question, text: str) -> list[tuple[int, int, frozenset[str]]]:
    """Where the names of a sentence are, with their terms. Dates are not names, nor a number
    after a stopword ("About 240"), nor a lone capitalised word that only opens the sentence
    ("Construction began ...") unless it names a target."""
    out: list[tuple[int, int, frozenset[str]]] = []
    for name in _text.entities(text):
        proper = proper_name(name)
        if proper is None:
            continue
        terms = frozenset(_text.terms(proper))
        for match in re.finditer(re.escape(name), text):
            if match.start() == 0 and " " not in proper and not any(t.named_as(terms) for t in question.targets):
                continue
            out.append((match.end() - len(proper), match.end(), terms))
    return out


_CLAUSE_BREAK = re.compile(r"[;:()\[\]—–]|,(?!\d)|\s(?:but|while|whereas|although|though)\s")


def _clause_at(text: str, at: int) -> tuple[int, int]:
    """The bounds of the clause of ``text`` that holds position ``at``."""
    start, end = 0, len(text)
    for match in _CLAUSE_BREAK.finditer(text):
        if match.end() <= at:
            start = match.end()
        elif match.start() > at:
            end = match.start()
            break
    return start, end


_PREPOSITION = re.compile(
    r"\s*(?:on|in|at|near|by|from|of|off|beside|behind|opposite|along|across|during|under|over)\b", re.I
)


def _in_phrase(text: str, at: int) -> bool:
    """Whether position ``at`` is inside a clause that opens with a preposition (", on Mill
    Street,"): a name there places the subject rather than owning a figure after it."""
    lo, _ = _clause_at(text, at)
    return lo > 0 and bool(_PREPOSITION.match(text[lo:at]))


def figure_targets(question: Question, item: Scored, units: frozenset[str] | None = None) -> frozenset[int]:
    """The targets a sentence gives a figure for (only figures in one of ``units``, when given
    and the question asks for no measure, which restricts the units itself). A number (a year
    only when a date is asked)
    belongs to a name of its own clause (the nearest before it, else the nearest after it), else
    to the nearest name before it in the sentence that is not in a prepositional phrase set off
    by commas (", on Mill Street,"): to that target when the name is one of them,
    to something else when it is not ("While the Alder works was shut, Birchley ran at 38,000"
    gives Birchley's figure, not Alder's). A number with no name to belong to belongs to
    what the sentence is about. Numbers inside a name ("Route 9") are not figures, nor, when a
    measure is asked, numbers in another unit ("how tall": 112 metres, not 1987)."""
    text = item.candidate.text
    spans = _text.number_spans(text)
    if not spans or not item.targets:
        return frozenset()
    names = _name_spans(question, text)
    out: set[int] = set()
    for value, start, end in spans:
        unit = _text.unit_after(text, end)
        if not (question.wants_year or question.measure == AGE or not is_year(value)):
            continue
        if not question.gives_measure(value, unit):
            continue
        if units is not None and not question.measure and unit not in units:
            continue
        if any(a <= start < b for a, b, _ in names):
            continue
        lo, hi = _clause_at(text, start)
        own = [n for n in names if lo <= n[0] and n[1] <= hi]
        before = [n for n in own if n[1] <= start]
        if not own:
            before = [n for n in names if n[1] <= start and not _in_phrase(text, n[0])]
        after = [n for n in own if n[0] > start]
        if before:
            owner = max(before, key=lambda n: n[1])[2]
        elif after:
            owner = min(after, key=lambda n: n[0])[2]
        else:
            out |= item.targets
            continue
        out |= {i for i in item.targets if question.targets[i].named_as(owner)}
    return frozenset(out)

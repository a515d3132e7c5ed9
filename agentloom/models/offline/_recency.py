"""Dating sources and preferring the latest: the year a sentence speaks from, whether two
sentences give different values for one thing, and moving a later rival first."""

from __future__ import annotations

import re

from agentloom.models.offline import _text
from agentloom.models.offline._question import Question
from agentloom.models.offline._ranker import Ranker, Scored
from agentloom.models.offline._sentences import Candidate
from agentloom.models.offline._words import is_year

__all__ = [
    "PAST",
    "Preference",
    "dated",
    "disagrees",
    "prefer_recent",
    "says_as_much",
]


PAST = re.compile(
    r"\b(?:original|originally|initial|initially|formerly|previously|at first|at opening|used to|until)\b", re.I
)


def dated(candidate: Candidate) -> int:
    """The year a sentence speaks from: its document's (a year in its file name, title or
    headings), else the latest year it names; 0 when it gives none."""
    years = [int(t) for t in candidate.context if t.isdigit() and is_year(float(t))]
    if years:
        return max(years)
    return max((int(v) for v in _text.numbers(candidate.text) if is_year(v)), default=0)


def _answers(question: Question, candidate: Candidate) -> set[tuple[float, str]]:
    """The values a sentence gives: its years for a date question, else its figures with a unit."""
    if question.wants_year:
        return {(v, "year") for v in _text.numbers(candidate.text) if is_year(v)}
    return {(v, u) for v, u in _text.quantities(candidate.text) if u and not is_year(v)}


def disagrees(question: Question, item: Candidate, other: Candidate) -> bool:
    """Whether ``item`` gives another value than ``other`` in a unit ``other`` uses."""
    mine, theirs = _answers(question, item), _answers(question, other)
    units = {u for _, u in theirs}
    return any(u in units and (v, u) not in theirs for v, u in mine)


def says_as_much(ranker: Ranker, item: Scored, other: Scored) -> bool:
    """Whether ``item`` speaks of everything asked that ``other`` speaks of: only then is its
    other value a value for the same thing ("the parks budget of 12" does not disagree
    with "the roads budget of 30")."""
    topic = ranker.question.asked
    return topic & other.candidate.term_set <= item.candidate.term_set


Preference = tuple[bool, bool, int, int, float]


def prefer_recent(ranker: Ranker, items: list[Scored], keys: dict[int, Preference]) -> list[Scored]:
    """``items`` in the order of their ``keys`` (see ``_preference``), with the most recently
    dated rival of the first moved before it: a sentence as good on the first three keys, with
    at least half its score, that gives another value, from a later document. Values change over
    time; the latest source is the one to answer with."""
    ordered = sorted(items, key=lambda s: keys[id(s)])

    def same(item: Scored) -> tuple[bool, bool, int]:
        return keys[id(item)][:3]

    question = ranker.question
    if not question.wants_number or len(ordered) < 2:
        return ordered
    best = ordered[0]
    rivals = [
        s
        for s in ordered[1:]
        if same(s) == same(best)
        and s.score >= 0.5 * best.score
        and not PAST.search(s.candidate.text)
        and says_as_much(ranker, s, best)
        and disagrees(question, s.candidate, best.candidate)
    ]
    if not rivals:
        return ordered
    latest = max(rivals, key=lambda s: (dated(s.candidate), s.score))
    if dated(latest.candidate) <= dated(best.candidate):
        return ordered
    return [latest, *(s for s in ordered if s is not latest)]

"""Choosing the sentences that answer a question (``select``), and the answer given when none do."""

from __future__ import annotations

from collections.abc import Sequence

from agentloom.models.offline import _text
from agentloom.models.offline._figures import answered_targets, figure_targets
from agentloom.models.offline._ranker import Ranker, Scored
from agentloom.models.offline._recency import PAST, Preference, dated, disagrees, prefer_recent, says_as_much
from agentloom.models.offline._sentences import Candidate

__all__ = [
    "MIN_ANSWER_COVERAGE",
    "NO_EVIDENCE",
    "no_evidence",
    "select",
]


#: The exact answer given when no sentence in the sources supports an answer.
NO_EVIDENCE = "No supporting evidence was found in the sources for: {question}"


def no_evidence(question: str) -> str:
    """The no-evidence answer for ``question``."""
    return NO_EVIDENCE.format(question=_text.squash(question) or "the question")


#: The chosen sentences together must cover this share of the question's units, else there is
#: no evidence.
MIN_ANSWER_COVERAGE = 0.6


def _units(ranker: Ranker, item: Scored) -> set[str]:
    q = ranker.question
    return {f"#{i}" for i in item.targets} | set(q.asked & item.candidate.term_set)


def _adds(ranker: Ranker, chosen: list[Scored], item: Scored) -> bool:
    """Whether a sentence adds to the chosen ones: it covers a part of the question they do not
    (what a chosen sentence's document is about by its file name, title or headings counts as
    covered: "2024" in ``capital_budget_2024.md`` needs no sentence of its own), or it gives
    another value for a thing they answer (another figure in a unit they use, another year for
    a date), so that a disagreement between sources stays visible. A value the sources mark as
    past ("originally", "until"), or from an older document than the sentence it disagrees
    with, is history rather than disagreement and is left out."""
    q = ranker.question
    covered: set[str] = set()
    for other in chosen:
        covered |= _units(ranker, other) | (q.topic_terms & other.candidate.context)
    if _units(ranker, item) - covered:
        return True
    if not q.wants_number or PAST.search(item.candidate.text):
        return False
    mine = figure_targets(q, item) if q.targets else frozenset()
    for other in chosen:
        if q.targets and not (mine & figure_targets(q, other)):
            continue
        if not says_as_much(ranker, item, other) or dated(item.candidate) < dated(other.candidate):
            continue
        if disagrees(q, item.candidate, other.candidate):
            return True
    return False


def _preference(ranker: Ranker, index: int, item: Scored) -> Preference:
    """How good a sentence is for target ``index``, smaller first: one giving a figure for it
    (when a quantity is asked), then one whose subject is not something else, then one saying
    more of what is asked, then one about fewer targets, then the more relevant."""
    q = ranker.question
    numeric = q.wants_number and index in figure_targets(q, item)
    topic = q.asked
    other = ranker.about_other(item.candidate)
    return (not numeric, other, -len(topic & item.candidate.term_set), len(item.targets), -item.score)


def select(
    ranker: Ranker,
    *,
    limit: int | None = None,
    require: Sequence[Candidate] = (),
    allow_tables: bool = False,
) -> list[Scored]:
    """The sentences that answer the question: for each target the best sentence about it (in
    order: one giving a figure for it when a quantity is asked, one whose subject is not
    something else, one saying more of what is asked, one about fewer targets, the most
    relevant; a later-dated rival that gives another value wins, see ``prefer_recent``), then
    the best of the rest that add to them (see ``_adds``; never one about something else, see
    ``Ranker.about_other``), without near-duplicates, bounded to ``limit`` (default
    2 + targets, at least 3, at most 6). ``require`` sentences (e.g. those a computation used)
    are always included. Returns [] when the chosen sentences do not cover enough of the
    question: there is no evidence."""
    q = ranker.question
    limit = limit or min(6, max(3, 2 + len(q.targets)))
    ranked = [s for s in ranker.ranked() if ranker.eligible(s, allow_tables=allow_tables)]
    chosen: list[Scored] = []

    def take(item: Scored) -> bool:
        for other in chosen:
            if other.candidate.text == item.candidate.text:
                return False
            same_words = _text.overlap(item.candidate.term_set, other.candidate.term_set) >= 0.8
            if same_words and not disagrees(q, item.candidate, other.candidate):  # a near-duplicate
                return False
        chosen.append(item)
        return True

    by_text = {s.candidate.text: s for s in ranker.ranked()}
    for needed in require:
        item = by_text.get(needed.text)
        if item is not None and all(c.candidate.text != item.candidate.text for c in chosen):
            chosen.append(item)
    for index in range(len(q.targets)):
        if index in answered_targets(q, chosen):
            continue
        about = [s for s in ranked if index in s.targets]

        keys = {id(s): _preference(ranker, index, s) for s in about}
        for item in prefer_recent(ranker, about, keys):
            if take(item):
                break
    top = ranked[0].score if ranked else 0.0
    descriptive = not q.asked  # "tell me about X": no one thing is asked
    for item in ranked:
        if len(chosen) >= limit or item.score < 0.3 * top:
            break
        if chosen and ranker.about_other(item.candidate):
            continue  # about something else
        if not chosen or descriptive or _adds(ranker, chosen, item):
            take(item)
    if not chosen or ranker.coverage([c.candidate for c in chosen]) < MIN_ANSWER_COVERAGE:
        return []
    chosen.sort(key=lambda s: (-s.score, s.candidate.order))
    return chosen

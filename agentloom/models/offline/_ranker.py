"""Scoring and ranking sentences against a question (``Ranker``), and which of them may stand in
an answer."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from agentloom.models.offline import _text
from agentloom.models.offline._figures import figure_targets
from agentloom.models.offline._question import Question
from agentloom.models.offline._sentences import Candidate
from agentloom.models.offline._words import MONTHS, is_year

__all__ = [
    "Ranker",
    "Scored",
]


@dataclass(slots=True)
class Scored:
    """A candidate with its relevance: the score, and the weighted share of the question's topic
    terms it covers."""

    candidate: Candidate
    score: float
    coverage: float
    targets: frozenset[int]


def _as_asked(candidates: list[Candidate], question: Question) -> list[Candidate]:
    """The candidates with the words a source uses for a question term written as that term
    ("215,000 people" answers "population"), so that scoring, coverage and eligibility treat them
    alike. The text is unchanged: only the terms are."""
    alias: dict[str, str] = {}
    for term, others in sorted(question.related.items()):
        for other in sorted(others):
            alias.setdefault(other, term)
    if not alias:
        return candidates
    out: list[Candidate] = []
    for c in candidates:
        if not (alias.keys() & (c.term_set | c.context)):
            out.append(c)
            continue
        terms = [alias.get(t, t) for t in c.terms]
        said = frozenset(alias[t] for t in c.term_set if t in alias) - c.term_set
        context = frozenset(alias.get(t, t) for t in c.context)
        out.append(replace(c, terms=terms, term_set=frozenset(terms), context=context, related_only=said))
    return out


#: A sentence that says something ended: "from 2008 to 2015", "until 2015", "former", "formerly".
_ENDED = re.compile(r"\bfrom (?:\w+ )?(?:19|20)\d\d to (?:\w+ )?(?:19|20)\d\d\b|\buntil (?:\w+ )?(?:19|20)\d\d\b|\bformer(?:ly)?\b|\bno longer\b", re.I)


class Ranker:
    """Scores sentences against a question: BM25 of what is asked (topic terms, with half credit
    for those only the passage's file name or headings carry; a source's own word for a term
    counts as the term, see ``Question.related``), boosted when the sentence is about a thing
    the question names and, when a quantity is asked for, when it holds one."""

    def __init__(self, question: Question, candidates: Sequence[Candidate]) -> None:
        self.question = question
        self.candidates = _as_asked(list(candidates), question)
        docs = [c.terms for c in self.candidates]
        self.idf = _text.idf(docs)
        self.avg_len = sum(len(d) for d in docs) / len(docs) if docs else 1.0
        absent = math.log(1.0 + (len(docs) + 0.5) / 0.5)
        self.weights = {t: self.idf.get(t, absent) for t in question.key_terms}
        self._rarest = max(self.idf.values(), default=1.0)
        self._mention_cache: dict[int, tuple[frozenset[str], frozenset[int]]] = {}
        self._scored: list[Scored] | None = None

    def named(self, candidate: Candidate) -> frozenset[int]:
        """The targets the sentence names itself."""
        return self._mentions(candidate.term_set)

    def _mentions(self, terms: frozenset[str]) -> frozenset[int]:
        key = id(terms)
        hit = self._mention_cache.get(key)
        if hit is None or hit[0] is not terms:
            found = frozenset(i for i, t in enumerate(self.question.targets) if t.mentioned_by(terms))
            hit = self._mention_cache[key] = (terms, found)
        return hit[1]

    def targets_of(self, candidate: Candidate) -> frozenset[int]:
        """The targets a sentence names; when it names none, those the sentence before it names
        ("Route 7 will run ... The route is expected to open ..."), else those its passage is
        about (by file name, title or heading)."""
        if not self.question.targets:
            return frozenset()
        return self._mentions(candidate.term_set) or self._mentions(candidate.before) or self._titles(candidate.context)

    def about_other(self, candidate: Candidate) -> bool:
        """Whether the sentence's subject is a thing the question does not ask about: a name
        that is none of the targets ("While the Alder works was shut, Birchley ran at full
        capacity" is about Birchley), or "the <noun>" of a document about something else
        ("The lake fills the shortfall ... as during the Alder shutdown", in the reservoir's
        document)."""
        targets = self.question.targets
        if not targets or self.question.wants_name:  # "who runs X?": the answer is another name
            return False
        if candidate.subject and not candidate.weak_subject:
            return not any(t.named_as(candidate.subject) for t in targets)
        noun = candidate.noun
        if not noun or noun not in candidate.context or noun in self.question.key_terms:
            return False
        return not self._titles(candidate.context)

    def _titles(self, context: frozenset[str]) -> frozenset[int]:
        return frozenset(i for i, t in enumerate(self.question.targets) if t.titled_by(context))

    def coverage(self, items: Iterable[Candidate], targets: frozenset[int] | None = None) -> float:
        """The share of the question's units (targets and topic terms) that ``items`` cover
        together; a target counts when a sentence names it or its passage is about it, and a
        topic term when a sentence that says something asked has it or its document's file
        name, title or headings do ("The closure was caused by ..." under "Bridge closure, May
        2019" covers "May 2019 bridge closure").
        ``targets``, when the items' targets are already known, saves finding them again."""
        q = self.question
        found: set[int] = set(targets or ())
        terms: set[str] = set()
        topic = q.topic_terms - q.entity_terms
        for item in items:
            if targets is None:
                found |= self.targets_of(item)
            terms |= item.term_set
            if topic & item.term_set or self.named(item):  # what its document is about qualifies what it says
                terms |= item.context
        targets = frozenset(found)
        covered = len(targets) + len(topic & terms)
        if not q.targets and q.entity_terms:
            # no targets: the named things count as one unit, covered by their terms
            covered += 1 if q.entity_terms & terms else 0
            return covered / (len(topic) + 1)
        return covered / q.units()

    def score(self, candidate: Candidate) -> Scored:
        q = self.question
        topic = _text.bm25(q.topic_terms, candidate.terms, self.idf, self.avg_len, default=self._rarest)
        if topic > 0:
            topic += 0.5 * sum(self.weights.get(t, 0.0) for t in q.topic_terms & candidate.context - candidate.term_set)
        named = self.named(candidate)
        targets = self.targets_of(candidate)
        entity = _text.bm25(q.entity_terms, candidate.terms, self.idf, self.avg_len, default=self._rarest) if q.entity_terms else 0.0
        factor = 1.0 + (0.5 if named or (not q.targets and q.entity_terms & candidate.term_set) else 0.25 if targets else 0.0)
        figures = _text.numbers(candidate.text)
        if any(is_year(v) for v in figures) if q.wants_year else q.wants_number and any(not is_year(v) for v in figures):
            factor *= 1.3
        if not candidate.complete:
            factor *= 0.5
        if q.present and _ENDED.search(candidate.text):
            factor *= 0.6  # a present-tense question wants what holds now, not a role or state that ended
        coverage = self.coverage([candidate], targets)
        return Scored(candidate, topic * factor + 0.3 * entity, coverage, targets)

    def ranked(self) -> list[Scored]:
        """Every candidate, best first (ties keep passage order)."""
        if self._scored is None:
            scored = [self.score(c) for c in self.candidates]
            self._scored = sorted(scored, key=lambda s: (-s.score, s.candidate.order))
        return self._scored

    def eligible(self, item: Scored, *, allow_tables: bool = False) -> bool:
        """Whether a sentence may stand in an answer: whole, a statement (not a heading or a
        table cell), saying something of what is asked (itself, or, when it names a target,
        under a heading or title that says it: "Fir College spent 40 million" under
        "Budgets"), about a thing the question names."""
        c = item.candidate
        q = self.question
        if item.score <= 0 or not c.complete or c.heading or (c.tabular and not allow_tables):
            return False
        if not (c.statement or len(c.terms) >= 8 or (allow_tables and c.tabular)):
            return False
        if q.asked and not q.asked & c.term_set and not (q.asked & c.context and self.named(c)):
            return False  # says nothing asked (a sentence naming a target may say it under its heading)
        if q.targets and not item.targets:
            return False
        hits = q.asked & c.term_set
        if q.targets and hits and hits <= c.related_only and not q.wants_name:
            # said only in other words: only of the target itself, with its own figure when one
            # is asked ("300 residents slept in the Glenholm hall" is no population)
            words = frozenset().union(*(q.related.get(t, frozenset()) for t in hits))
            counted = words & {u for _, u in _text.quantities(c.text)}  # "215,000 people": the word counts a figure
            if not self._own(c) or (q.wants_number and not figure_targets(q, item, counted or None)):
                return False
        return self._answers_kind(c)

    def _own(self, c: Candidate) -> bool:
        """Whether a sentence is about a target itself: its subject names one, or, with no named
        subject, its document is about one."""
        if c.subject and any(t.named_as(c.subject) for t in self.question.targets):
            return True
        return (not c.subject or c.weak_subject) and bool(self._titles(c.context))

    def _answers_kind(self, c: Candidate) -> bool:
        """A "who" answer names someone the question does not; a "when" answer holds a date; a
        "how many/much" answer holds a number; a "how tall/long/old" answer holds that measure
        ("112 metres"; for an age, a year): "52,000 litres per hour" says nothing of how
        long something lasted."""
        q = self.question
        spans = _text.number_spans(c.text)
        if q.measure and not any(q.gives_measure(v, _text.unit_after(c.text, end)) for v, _, end in spans):
            return False
        if q.wants_name:
            asked = {e.lower() for e in q.entities}
            names = [e for e in _text.entities(c.text) if e.lower() not in asked and not _text.content_terms(e) <= q.entity_terms]
            if not names:
                return False
        if q.wants_year and not (
            any(is_year(v) for v in _text.numbers(c.text)) or MONTHS & set(re.findall(r"[a-z]+", c.text.lower()))
        ):
            return False
        return not (q.wants_count and not q.wants_year and not _useful_numbers(c.text, False))


def _useful_numbers(text: str, years: bool) -> bool:
    return any(years or not is_year(v) for v in _text.numbers(text))

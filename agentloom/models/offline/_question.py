"""Reading a question: where a request states it (``find_question``) and what it asks for
(``Question``: its targets, topic, the measure or kind of answer it wants)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agentloom.models.offline import _text
from agentloom.models.offline._targets import (
    Target,
    kind_terms,
    name_groups,
    targets_from,
    without_appositives,
)
from agentloom.models.offline._words import FRAME_WORDS, is_date, is_year
from agentloom.models.types import ModelRequest
from agentloom.text.sections import question_in_messages

__all__ = [
    "AGE",
    "Question",
    "find_question",
    "question_in",
]


#: A question about the present: "who is", "what does", "how many ... are" (no year or "was").
_PRESENT = re.compile(r"^\s*(?:\w+\s+){0,3}?(?:is|are|does|do|has|have)\b", re.I)
_PAST_MARK = re.compile(r"\b(?:was|were|did|had|in (?:19|20)\d\d|(?:19|20)\d\d)\b", re.I)
_LABEL = re.compile(r"^\s*(?:research\s+)?(?:sub-?question|question|task|query|goal)\s*[:\-]\s*", re.I)
_SPLIT_PARTS = re.compile(r",|;|\bor\b|\band\b|\bversus\b|\bvs\b\.?|\bcompared?\s+(?:with|to)\b|\bthan\b", re.I)


def find_question(request: ModelRequest) -> str:
    """The question a request is about: the prompt's question section, else the first user
    message (its labelled ``Question:`` line, else its first paragraph ending in "?", else its
    first paragraph)."""
    hint = question_in_messages(m.content or "" for m in request.messages if m.role == "user")
    if hint:
        return _text.squash(hint)
    for message in request.messages:
        if message.role == "user" and message.content and message.content.strip():
            return question_in(message.content)
    return ""


def question_in(text: str) -> str:
    """The question inside a free-form task text (see ``find_question``)."""
    for line in text.splitlines():
        if _LABEL.match(line):
            rest = _LABEL.sub("", line).strip()
            if rest:
                return _text.squash(rest)
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    for paragraph in paragraphs:
        if paragraph.endswith("?"):
            return _text.squash(paragraph)
    return _text.squash(paragraphs[0]) if paragraphs else ""


@dataclass(slots=True)
class Question:
    """A question analysed once: its terms, entities, targets and what kind of answer it wants.

    ``entity_terms`` name the things asked about (entities, coordinated parts); ``topic_terms``
    are the rest ("installed capacity", "chief engineer"), among them ``kind_terms``, the kind
    nouns written next to a name ("the Cedar Cove pumping station"): they count towards how
    much of the question an answer covers, but an answer need not say them (``asked`` is the
    topic without them). ``related`` maps a topic term to the words a source may use instead
    ("population" -> people, residents; a "how long" question's "length" -> km, metres);
    ``measure`` is the measure asked for, if any ("length", "height", "age" ...)."""

    text: str
    terms: list[str]
    entities: list[str]
    targets: list[Target]
    parts: list[str]
    wants_number: bool
    wants_year: bool
    entity_terms: frozenset[str] = frozenset()
    topic_terms: frozenset[str] = frozenset()
    wants_count: bool = False
    wants_name: bool = False
    related: dict[str, frozenset[str]] = field(default_factory=dict)
    kind_terms: frozenset[str] = frozenset()
    measure: str = ""
    present: bool = False

    def gives_measure(self, value: float, unit: str) -> bool:
        """Whether a figure can be the measure the question asks for ("how tall": metres or feet;
        "how old": a year or years) or a count of something else it asks about ("how long is it
        and how many stops": 22 stops); any figure when it asks for no measure."""
        if not self.measure:
            return True
        if is_year(value):
            return self.measure == AGE
        return unit in self.related.get(self.measure, frozenset()) | self.topic_terms

    @property
    def related_words(self) -> list[str]:
        """The words of ``related`` as written, for search queries ("people", "residents")."""
        wanted = set().union(*self.related.values()) if self.related else set()
        words = [*(w for others in _text.RELATED.values() for w in others), *_text.RELATED, *_text.HOW_MEASURE]
        out: dict[str, None] = {}
        for word in words:
            if _text.stem(word) in wanted and _text.stem(word) not in {_text.stem(w) for w in out}:
                out.setdefault(word, None)
        return list(out)

    @property
    def asked(self) -> frozenset[str]:
        """What is asked of the things named: the topic terms without entity and kind words."""
        return self.topic_terms - self.entity_terms - self.kind_terms

    @property
    def key_terms(self) -> set[str]:
        """Topic and entity terms: the question's terms without the words that only frame it."""
        return {t for t in self.terms if t not in FRAME_WORDS}

    @classmethod
    def parse(cls, text: str) -> Question:
        text = _text.squash(text)
        lower = text.lower()
        ents = [e for e in _text.entities(text) if not is_date(e) and _text.content_terms(e)]
        groups = name_groups(text, ents)
        plain = without_appositives(text, groups)
        parts = [p.strip(" ?.!") for p in _SPLIT_PARTS.split(plain) if _text.content_terms(p)]
        entity_terms = set().union(*(_text.content_terms(e) for e in ents)) if ents else set()
        kinds = kind_terms(text, ents) - entity_terms
        targets = targets_from(groups, entity_terms | kinds, parts)
        for target in targets:
            entity_terms |= target.all_terms
        wants_year = bool(re.search(r"\b(when|what year|which year|since when)\b", lower))
        wants_count = bool(re.search(r"\bhow (much|many)\b", lower))
        wants_name = bool(re.search(r"^(who|whom|whose)\b|\b(who|whom|whose) (is|was|are|were|runs?|ran|leads?|led|manages?|designed|built|owns?|operates?|chairs?)\b", lower))
        wants_number = wants_year or bool(
            re.search(
                r"\b(how (much|many|long|large|big|high|tall|far|deep|old|often|wide|heavy|fast)|capacit|cost|price|size|"
                r"number|figure|percent|share|total|combined|length|rating|output|budget|larger|smaller|population)",
                lower,
            )
        )
        terms = _text.terms(text)
        measure = _measure(lower)
        comparative = _comparative_measure(lower)
        if comparative:  # "how much taller": the heights, unless the question names what it compares
            terms = [t for t in terms if t != _text.stem(comparative[0])]
            if not {t for t in terms if t not in FRAME_WORDS} - entity_terms - kinds:
                measure = measure or comparative[1]
        if not measure:  # "the combined length of ...": a measure named outright
            measure = next((t for t in terms if t in _MEASURES), None)
        if measure and measure not in terms:
            terms.append(measure)
        key = {t for t in terms if t not in FRAME_WORDS}
        if measure:  # "how long did it last": "last" is how the measure is asked, not a topic of its own
            key -= _measure_words(measure) - {measure}
        topic = (key - entity_terms) or key
        related = _related(topic - entity_terms, key, entity_terms, measure)
        return cls(
            text,
            terms,
            ents,
            targets,
            parts,
            wants_number,
            wants_year,
            frozenset(entity_terms & key),
            frozenset(topic),
            wants_count,
            wants_name,
            related,
            frozenset(kinds & key),
            measure or "",
            bool(_PRESENT.match(text)) and not _PAST_MARK.search(text),
        )

    def units(self) -> int:
        """How many things an answer has to cover: each target (or entity) and each topic term."""
        return max(1, len(self.targets) + len(self.topic_terms - self.entity_terms))


_DURATION = re.compile(
    r"\bhow long\s+(?:do|does|did|will|would|has|have|had|can|could|should|to|before|after|until)\b"
    r"|\bhow long\b.*\b(?:take|took|last|lasted|remain|stay|stayed)\b"
)


def _measure(lower: str) -> str | None:
    """The measure a "how <adjective>" question asks for ("how long is X" -> length, "how long
    did X last" -> duration), stemmed; None for other questions."""
    match = re.search(r"\bhow (\w+)\b", lower)
    if not match or match.group(1) not in _text.HOW_MEASURE:
        return None
    if match.group(1) == "long" and _DURATION.search(lower):
        return _text.stem("duration")
    return _text.stem(_text.HOW_MEASURE[match.group(1)])


def _comparative_measure(lower: str) -> tuple[str, str] | None:
    """``(comparative, stemmed measure)`` for a question with a comparative of a measure
    ("how much taller" -> taller, height), else None."""
    for word in re.findall(r"[a-z]+", lower):
        if word in _text.COMPARATIVE_MEASURE:
            return word, _text.stem(_text.COMPARATIVE_MEASURE[word])
    return None


AGE = _text.stem("age")
#: The measures a question may ask for by name or by "how <adjective>" (stemmed).
_MEASURES = frozenset(_text.stem(m) for m in _text.HOW_MEASURE.values())


def _measure_words(measure: str) -> frozenset[str]:
    """The words a source gives a measure with: its related words, the adjectives that ask for
    it ("long", "tall") and, for a duration, the verbs ("last", "take")."""
    words = set(_text.related_terms().get(measure, frozenset()))
    words |= {_text.stem(a) for a, m in _text.HOW_MEASURE.items() if _text.stem(m) == measure}
    if measure == _text.stem("duration"):
        words |= {_text.stem(w) for w in ("last", "lasted", "take", "took", "remain", "stay")}
    return frozenset(words)


def _related(topic: set[str], key: set[str], entity_terms: set[str], measure: str | None) -> dict[str, frozenset[str]]:
    """For each topic term, the words a source may use instead (see ``_text.RELATED``), leaving
    out words the question itself uses or that name what it is about."""
    table = _text.related_terms()
    out: dict[str, frozenset[str]] = {}
    for term in sorted(topic):
        others = table.get(term, frozenset())
        if term == measure:
            others = _measure_words(measure)
        others = frozenset(others - key - entity_terms - {term})
        if others:
            out[term] = others
    return out

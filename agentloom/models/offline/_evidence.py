"""Evidence in a conversation: what the tools returned, the sentences of those passages, and a
ranking of the sentences against a question.

Shared by the offline ``act``, ``summarize``, ``join`` and ``write`` handlers, so that all pick
the same sentences for the same question, and all cite every sentence with the passage it came
from. The rules are about English and documents, never about one corpus:

- Reading the question: the things it names are its targets; two names joined as an appositive
  ("Line 3, the Estuary Line") are one target; dates ("March 2023") are not names; kind nouns
  next to a name ("the Kettle Bay desalination plant", "tram Line 3") tell what it is, not what
  is asked; "how long/tall/old ..." and "how much taller ..." ask for a measure (length,
  height, age ...); a source may say what is asked in its own words ("population" -> people,
  residents; a length -> km, metres; see ``_text.RELATED``), which count as the question's.
- Reading a sentence: it is about a target it names, else the one the sentence before it opens
  with, else the one its document is about (file name, title, headings, and the document's own
  title when its first passage was retrieved; titles shorten names: "saltmarsh_outage_2023.md").
  A sentence whose subject is something else ("During the outage at Saltmarsh, Northpoint ran
  ...") is about that; one that says what is asked only in other words counts only when it is
  about the target itself. A figure belongs to the name before it in its clause (else after it,
  else before it in the sentence, skipping places set off by commas); dates are not figures.
- Choosing sentences: for each target the best one giving its figure; then those that add a
  part of the question (what a chosen sentence's document is about counts as said) or another
  value for the same thing from a source at least as recent (a disagreement stays visible; a
  value marked as past, "originally", or from an older document is history and is left out; a
  later document's value wins over an older one's). Too little coverage means no evidence.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from agentloom.citations import Citation, collect_passages
from agentloom.models.offline import _text
from agentloom.models.types import Message, ModelRequest, ToolCall
from agentloom.tools.base import canonical_args

__all__ = [
    "Candidate",
    "Exchange",
    "NO_EVIDENCE",
    "Question",
    "Ranker",
    "Scored",
    "Target",
    "answered_targets",
    "calls_made",
    "candidates_from",
    "claim_candidate",
    "dated",
    "exchanges",
    "figure_targets",
    "find_question",
    "no_evidence",
    "passages_in",
    "select",
]

#: The exact answer given when no sentence in the sources supports an answer.
NO_EVIDENCE = "No supporting evidence was found in the sources for: {question}"

#: Words that frame a question ("how much larger") rather than name its topic; they are left out
#: when measuring how much of a question the evidence covers.
FRAME_WORDS = frozenset(
    _text.stem(w)
    for w in """larger largest smaller smallest bigger biggest higher highest lower lowest longer longest
    shorter shortest greater greatest more less fewer long large big high low small size expected expect
    does happen difference different between which compared versus whole combined together altogether
    sum""".split()
)

_MONTHS = frozenset(
    "january february march april may june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday".split()
)
_LABEL = re.compile(r"^\s*(?:research\s+)?(?:sub-?question|question|task|query|goal)\s*[:\-]\s*", re.I)
_SPLIT_PARTS = re.compile(r",|;|\bor\b|\band\b|\bversus\b|\bvs\b\.?|\bcompared?\s+(?:with|to)\b|\bthan\b", re.I)


def no_evidence(question: str) -> str:
    """The no-evidence answer for ``question``."""
    return NO_EVIDENCE.format(question=_text.squash(question) or "the question")


# --------------------------------------------------------------------------- the question
def find_question(request: ModelRequest) -> str:
    """The question a request is about: ``metadata["question"]``, else the first user message
    (its labelled ``Question:`` line, else its first paragraph ending in "?", else its first
    paragraph)."""
    hint = request.metadata.get("question")
    if isinstance(hint, str) and hint.strip():
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
class Target:
    """A thing the question asks about (a named entity or one coordinated sub-topic), with the
    terms that identify it, the numbers its name contains ("Line 3") and the term sets of the
    other names the question gives it ("Line 3, the Estuary Line")."""

    label: str
    terms: frozenset[str]
    required: frozenset[str] = frozenset()
    aliases: tuple[frozenset[str], ...] = ()
    head: str = ""

    @property
    def all_terms(self) -> frozenset[str]:
        """The terms of every name of the target."""
        return self.terms.union(*self.aliases) if self.aliases else self.terms

    def mentioned_by(self, terms: set[str] | frozenset[str]) -> bool:
        """Whether a text with these terms names this target by any of its names: every number in
        the name, and all of a one- or two-word name, or its first word and at least half of a
        longer one ("Desalination Plant" alone does not name the Saltmarsh Desalination Plant)."""
        headed = len(self.terms) < 3 or not self.head or self.head in terms
        if headed and _names(self.terms, self.required, terms):
            return True
        return any(_names(alias, frozenset(t for t in alias if t[0].isdigit()), terms) for alias in self.aliases)

    def named_as(self, name: frozenset[str]) -> bool:
        """Whether a name written in a source (its terms) is this target: it is one of its names,
        or, for a name of three words or more, its first word alone ("Saltmarsh" for the
        Saltmarsh Desalination Plant)."""
        if self.mentioned_by(name):
            return True
        return len(self.terms) >= 3 and bool(self.head) and name == {self.head} | self.required

    def titled_by(self, terms: set[str] | frozenset[str]) -> bool:
        """Whether a file name, title or heading with these terms is about this target: it names
        it, or, for a name of three words or more, it has the name's first word and numbers
        (titles shorten names: ``saltmarsh_outage_2023.md`` is about the Saltmarsh Desalination
        Plant)."""
        if self.mentioned_by(terms):
            return True
        return len(self.terms) >= 3 and bool(self.head) and self.head in terms and self.required <= terms


def _names(name: frozenset[str], required: frozenset[str], terms: set[str] | frozenset[str]) -> bool:
    if not name or not required <= terms:
        return False
    needed = len(name) if len(name) <= 2 else math.ceil(len(name) / 2)
    return len(name & terms) >= needed


@dataclass(slots=True)
class Question:
    """A question analysed once: its terms, entities, targets and what kind of answer it wants.

    ``entity_terms`` name the things asked about (entities, coordinated parts); ``topic_terms``
    are the rest ("installed capacity", "chief engineer"), among them ``kind_terms``, the kind
    nouns written next to a name ("the Kettle Bay desalination plant"): they count towards how
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

    def gives_measure(self, value: float, unit: str) -> bool:
        """Whether a figure can be the measure the question asks for ("how tall": metres or feet;
        "how old": a year or years) or a count of something else it asks about ("how long is it
        and how many stops": 22 stops); any figure when it asks for no measure."""
        if not self.measure:
            return True
        if _is_year(value):
            return self.measure == _AGE
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
        ents = [e for e in _text.entities(text) if not _is_date(e) and _text.content_terms(e)]
        groups = _name_groups(text, ents)
        plain = _without_appositives(text, groups)
        parts = [p.strip(" ?.!") for p in _SPLIT_PARTS.split(plain) if _text.content_terms(p)]
        entity_terms = set().union(*(_text.content_terms(e) for e in ents)) if ents else set()
        kinds = _kind_terms(text, ents) - entity_terms
        targets = _targets_from(groups, entity_terms | kinds, parts)
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


_AGE = _text.stem("age")
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


def _is_date(phrase: str) -> bool:
    """A phrase made only of month or day names and numbers ("March 2023") is a date, not a name."""
    words = phrase.lower().split()
    return all(w in _MONTHS or w.isdigit() for w in words)


_APPOSITIVE_GLUE = r"(?:,\s+(?:the\s+|also\s+(?:known|called)\s+(?:as\s+)?|known\s+as\s+(?:the\s+)?)|\s+\((?:the\s+)?)"


def _name_groups(text: str, ents: list[str]) -> list[list[str]]:
    """The question's names, with appositives grouped: in "Line 3, the Estuary Line, ..." or
    "Line 3 (the Estuary Line)" both names are one thing. Not in a list ("A, the B, and C")."""
    groups: list[list[str]] = []
    for name in ents:
        if groups and _appositive(text, groups[-1][-1], name):
            groups[-1].append(name)
        else:
            groups.append([name])
    return groups


def _appositive(text: str, first: str, second: str) -> bool:
    pattern = re.escape(first) + _APPOSITIVE_GLUE + re.escape(second) + r"(?P<after>.*)$"
    match = re.search(pattern, text)
    if not match:
        return False
    after = match.group("after")
    # a list goes on with another name: "A, the B, and C" / "A, the B or C"
    listed = re.match(r"^\)?\s*,?\s*(?:and|or|vs\.?|versus)\s+(?:the\s+)?[A-Z0-9]", after)
    return not listed and not re.match(r"^\s*,\s*(?:the\s+)?[A-Z]", after)


def _without_appositives(text: str, groups: list[list[str]]) -> str:
    """``text`` without the second names of appositives (", the Estuary Line,")."""
    for group in groups:
        for alias in group[1:]:
            text = re.sub(_APPOSITIVE_GLUE + re.escape(alias) + r"\)?", "", text, count=1)
    return text


_KIND_AFTER = r"\s+((?:[a-z][a-z-]+\s+){0,2}[a-z][a-z-]+)(?=\s*(?:[?.!,;)]|$|\s+(?:and|or|vs|versus|than|compared)\b))"
_KIND_BEFORE = (
    r"(?:^|\b(?:is|are|was|were|the|a|an|of|for|at|in|on|to|does|do|did|has|have|and|or|with|between)\s+)"
    r"([a-z][a-z-]+)\s+$"
)


_AUXILIARY = re.compile(r"\b(?:do|does|did|will|would|can|could|should|shall|may|might|must)\b", re.I)


def _kind_terms(text: str, ents: list[str]) -> set[str]:
    """Terms of the kind nouns written right next to a name ("the Kettle Bay desalination
    plant", "tram Line 3"): they tell what the name is, not what is asked about it. Words after
    a name that an auxiliary verb came before ("how much did X cost?") are its verb instead."""
    out: set[str] = set()
    for name in ents:
        for match in re.finditer(re.escape(name), text):
            after = re.match(_KIND_AFTER, text[match.end() :])
            if after and not _AUXILIARY.search(text[: match.start()]):
                words = after.group(1).split()
                if not any(w in _text.STOPWORDS for w in words):
                    out |= _text.content_terms(after.group(1))
            before = re.search(_KIND_BEFORE, text[: match.start()])
            if before and not before.group(1).endswith(("ed", "ing")):
                out |= _text.content_terms(before.group(1))
    return out


def _targets_from(groups: list[list[str]], entity_terms: set[str], parts: list[str]) -> list[Target]:
    """Entities when the question names two or more things; else its coordinated parts ("flood
    defence ... compared with transport"), each identified by the terms no other part shares.
    A later part that is a clause of its own ("... and how many stops does it have") asks
    something more of the same thing, and one that opens with a preposition (", in cubic metres
    per day") qualifies it: neither is a part to tell apart."""
    if len(groups) >= 2:
        return _distinct([(g[0], _text.content_terms(g[0]), g[1:]) for g in groups])
    nouns = [p for i, p in enumerate(parts) if i == 0 or not _is_clause(p)]
    if len(nouns) >= 2:
        sets: list[tuple[str, set[str], list[str]]] = [
            (p, _text.content_terms(p) - entity_terms - FRAME_WORDS, []) for p in nouns
        ]
        sets = [(p, s, a) for p, s, a in sets if s]
        if len(sets) >= 2:
            return _distinct(sets)
    return [_target(g[0], _text.content_terms(g[0]), g[1:]) for g in groups]


_CLAUSE_START = re.compile(
    r"^\s*(?:and\s+|but\s+)?(?:what|when|where|who|whom|whose|which|why|how|is|are|was|were|does|do|did|has|have|had|can|will)\b",
    re.I,
)
_BACK_REFERENCE = re.compile(r"\b(?:it|its|they|them|their)\b", re.I)


_QUALIFIER = re.compile(r"^\s*(?:in|at|on|per|for|of|during|by|from|to|since|until|as|with|within|over|under)\b", re.I)


def _is_clause(part: str) -> bool:
    """Whether a part of a question is not a coordinated noun phrase: a clause of its own (a
    question word, or a pronoun that refers back) or a qualifier (", in cubic metres per day")."""
    return bool(_CLAUSE_START.match(part) or _BACK_REFERENCE.search(part) or _QUALIFIER.match(part))


def _distinct(items: list[tuple[str, set[str], list[str]]]) -> list[Target]:
    shared = set.intersection(*(s for _, s, _ in items)) if items else set()
    out: list[Target] = []
    for label, terms, aliases in items:
        own = terms - shared or terms
        if all(t[0].isdigit() for t in own):  # "Line 1" / "Line 2": the number alone is not a name
            own = terms
        if own and all(t.terms != frozenset(own) for t in out):
            out.append(_target(label, own, aliases))
    return out


def _target(label: str, terms: set[str], aliases: list[str] | None = None) -> Target:
    names = tuple(frozenset(_text.content_terms(a)) for a in aliases or [] if _text.content_terms(a))
    head = next((t for t in _text.terms(label) if t in terms and not t[0].isdigit()), "")
    return Target(label, frozenset(terms), frozenset(t for t in terms if t[0].isdigit()), names, head)


# --------------------------------------------------------------------------- the conversation
@dataclass(slots=True)
class Exchange:
    """One tool call and its result as the conversation shows them."""

    call: ToolCall
    args: dict[str, Any]
    value: Any
    ok: bool


def _args_of(call: ToolCall) -> dict[str, Any]:
    try:
        return call.args()
    except ValueError:
        return {}


def calls_made(messages: Sequence[Message]) -> set[tuple[str, str]]:
    """Every tool call already requested, as ``(name, canonical arguments)``."""
    return {(c.name, canonical_args(_args_of(c))) for m in messages if m.role == "assistant" for c in m.tool_calls}


def _parse(content: str | None) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content


def exchanges(messages: Sequence[Message]) -> list[Exchange]:
    """The tool results in the conversation, each paired with the call that asked for it."""
    calls = {c.id: c for m in messages if m.role == "assistant" for c in m.tool_calls}
    out: list[Exchange] = []
    for message in messages:
        if message.role != "tool":
            continue
        call = calls.get(message.tool_call_id or "") or ToolCall(message.tool_call_id or "", message.name or "")
        value = _parse(message.content)
        failed = isinstance(value, dict) and "error" in value and set(value) <= {"error", "type"}
        out.append(Exchange(call, _args_of(call), value, not failed))
    return out


def passages_in(found: Iterable[Exchange]) -> tuple[dict[str, Citation], dict[str, int]]:
    """Every passage the tool results hold (the longest text seen for each id) and the order in
    which each id first appeared (search rank within call order)."""
    passages: dict[str, Citation] = {}
    order: dict[str, int] = {}
    for exchange in found:
        if not exchange.ok:
            continue
        fresh = collect_passages(exchange.value)
        for pid in fresh:
            order.setdefault(pid, len(order))
        collect_passages(exchange.value, passages)
    return passages, order


# --------------------------------------------------------------------------- sentences
@dataclass(slots=True)
class Candidate:
    """A sentence of a passage: its text as written, the passage id that cites it, its terms,
    the terms of the passage's file name, title and headings (what it is about), the terms of
    the name the sentence before it opens with (what "it" or "the line" refers to), the terms of
    its own subject (a name, or "the <noun>"), and whether it is whole (not cut off by a
    truncated search snippet)."""

    text: str
    source: str
    terms: list[str]
    order: int
    context: frozenset[str] = frozenset()
    complete: bool = True
    tabular: bool = False
    heading: bool = False
    statement: bool = True
    before: frozenset[str] = frozenset()
    term_set: frozenset[str] = field(default_factory=frozenset)
    subject: frozenset[str] = frozenset()
    weak_subject: bool = False
    noun: str = ""
    related_only: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.term_set:
            self.term_set = frozenset(self.terms)


def _is_truncated(text: str) -> bool:
    stripped = text.rstrip()
    return stripped.endswith("…") or stripped.endswith("...")


_STATEMENT_END = re.compile(r"[.!?:][\"'’”)\]]*$")


_PREDICATE = re.compile(
    r"^(?:\s*,[^,]{1,60},)?(?:\s+[a-z]+)?\s+(?:is|was|are|were|has|had|have|will|would|can|could|may|must|should"
    r"|[a-z]+ed|[a-z]+s|ran|began|built|held|led|made|paid|rose|fell|grew|took|gave|kept|won|lost|sold|cut|shut|set|met)\b"
)


_INTRO = re.compile(
    r"^(?:during|in|after|before|since|unlike|following|when|while|as|although|though|despite|by|on|at|for|with|"
    r"without|under|over|from|until|once|because|if)\b[^,]{0,120},\s*",
    re.I,
)


def _opening_subject(sentence: str) -> tuple[frozenset[str], bool]:
    """The terms of the name the sentence's main clause opens with, after an introductory phrase
    ("During the outage at Saltmarsh, Northpoint ran ..." -> northpoint; "The older Clock Tower
    is ..." -> clock, tower); empty when the main clause opens with no name followed by a verb
    ("About 240 homes were flooded"). The flag says the name is one capitalised word that opens
    the sentence, so it may be capitalised only for that ("Construction began ...") or be a name
    ("Northpoint can produce ...")."""
    rest = _INTRO.sub("", sentence, count=1)
    opening = rest == sentence
    rest, n = re.subn(r"^(?i:the|a|an)\s+(?:[a-z][a-z-]+\s+){0,2}(?=[A-Z])", "", rest)
    match = re.match(_text.ENTITY_PATTERN, rest)
    if not match:
        return frozenset(), False
    name = _proper(match.group(0))
    if name is None or not rest.startswith(name) or not _PREDICATE.match(rest[len(name) :]):
        return frozenset(), False
    return frozenset(_text.terms(name)), opening and not n and " " not in name


def _opening_noun(sentence: str) -> str:
    """The stemmed noun of a main clause that opens with "The <noun>" and a verb ("The
    reservoir covers ..." -> reservoir): the thing its document is about, named by its kind."""
    rest = _INTRO.sub("", sentence, count=1)
    match = re.match(r"^(?:The|This|That|Its)\s+([a-z][a-z-]+)\b", rest)
    if not match or not _PREDICATE.match(rest[match.end() :]):
        return ""
    return _text.stem(match.group(1))


def _subject_terms(sentence: str) -> frozenset[str]:
    """The terms of the name a sentence is about: its first named thing followed by a verb
    ("Line 4, the Airport Link, will run ..." -> line, 4; "Unlike Northpoint, Kettle Bay is ..."
    -> kettle, bay). That is what "it" or "the line" in the next sentence most likely means."""
    for name in _text.entities(sentence):
        if _proper(name) is None:
            continue
        at = sentence.find(name)
        if at >= 0 and _PREDICATE.match(sentence[at + len(name) :]):
            return frozenset(_text.terms(name))
    return frozenset()


def _shouting(text: str) -> bool:
    """A title line in capitals ("FACT SHEET"): most of its letters are upper case."""
    letters = [ch for ch in text if ch.isalpha()]
    return len(letters) >= 6 and sum(ch.isupper() for ch in letters) >= 0.7 * len(letters)


def _context_terms(citation: Citation) -> frozenset[str]:
    words: list[str] = []
    if citation.path:
        stem = citation.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        stem = re.sub(r"(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])", " ", stem)
        words.append(re.sub(r"[_\-.]+", " ", stem))
    if citation.title:
        words.append(citation.title)
    for line in citation.text.splitlines():
        if line.lstrip().startswith("#"):
            words.append(line.lstrip("# "))
    return frozenset(_text.terms(" ".join(words)))


@dataclass(frozen=True, slots=True)
class _Piece:
    text: str
    terms: tuple[str, ...]
    complete: bool
    heading: bool
    statement: bool
    before: frozenset[str]
    subject: frozenset[str]
    weak_subject: bool
    noun: str


@lru_cache(maxsize=8192)
def _pieces(text: str) -> tuple[_Piece, ...]:
    """The analysed sentences of one passage text (cached: passages recur across turns and teams)."""
    headings = {_text.squash(line.strip().lstrip("#").strip()) for line in text.splitlines() if line.lstrip().startswith("#")}
    raw = _text.sentences(text)
    out: list[_Piece] = []
    previous: frozenset[str] = frozenset()
    for i, sentence in enumerate(raw):
        clean = _text.strip_markers(sentence)
        if not clean:
            continue
        is_heading = clean in headings or _shouting(clean)
        subject, weak = _opening_subject(clean)
        out.append(
            _Piece(
                text=clean,
                terms=tuple(_text.terms(clean)),
                complete=not (i == len(raw) - 1 and _is_truncated(sentence)),
                heading=is_heading,
                statement=bool(_STATEMENT_END.search(clean)),
                before=previous,
                subject=subject,
                weak_subject=weak,
                noun=_opening_noun(clean),
            )
        )
        previous = frozenset() if is_heading else _subject_terms(clean)
    return tuple(out)


def _document_titles(passages: Iterable[Citation]) -> dict[str, frozenset[str]]:
    """The terms of each document's title, for every passage of that document: the first line
    of a passage that opens the file (line 1), when it is a heading or a short line without a
    full stop ("# Incident report: Oakhaven water outage, June 2021")."""
    out: dict[str, frozenset[str]] = {}
    for citation in passages:
        if not citation.path or citation.line_start != 1:
            continue
        first = next((line.strip() for line in citation.text.splitlines() if line.strip()), "")
        if first.startswith("#") or (len(first) <= 120 and not first.endswith((".", "!", "?"))):
            out[citation.path] = frozenset(_text.terms(first.lstrip("# ")))
    return out


def candidates_from(passages: dict[str, Citation], order: dict[str, int]) -> list[Candidate]:
    """The sentences of every passage, in passage order. Marker-only or empty sentences are
    dropped; a last sentence cut off by "…" is kept but marked incomplete; headings and
    fragments without a full stop are marked so answers can skip them. A sentence's context is
    its passage's file name, title and headings, and its document's title when the passage
    that opens the document is among them."""
    out: list[Candidate] = []
    titles = _document_titles(passages.values())
    for pid in sorted(passages, key=lambda i: order.get(i, len(order))):
        citation = passages[pid]
        context = _context_terms(citation) | titles.get(citation.path or "", frozenset())
        for piece in _pieces(citation.text):
            out.append(
                Candidate(
                    text=piece.text,
                    source=pid,
                    terms=list(piece.terms),
                    order=len(out),
                    context=context,
                    complete=piece.complete,
                    tabular="|" in piece.text,
                    heading=piece.heading,
                    statement=piece.statement,
                    before=piece.before,
                    subject=piece.subject,
                    weak_subject=piece.weak_subject,
                    noun=piece.noun,
                )
            )
    return out


def claim_candidate(text: str, source: str, order: int, path: str | None = None) -> Candidate:
    """A claim already cut from a passage (a finding's sentence, markers removed) as a
    candidate, analysed like the passage's own sentences: its terms and subject, and, when the
    passage's ``path`` is known, its file name as context."""
    subject, weak = _opening_subject(text)
    context = _context_terms(Citation(source, "", path=path)) if path else frozenset()
    return Candidate(
        text=text,
        source=source,
        terms=_text.terms(text),
        order=order,
        context=context,
        statement=bool(_STATEMENT_END.search(text)),
        subject=subject,
        weak_subject=weak,
        noun=_opening_noun(text),
    )


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
    ("412,000 people" answers "population"), so that scoring, coverage and eligibility treat them
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
        ("Line 4 will run ... The line is expected to open ..."), else those its passage is
        about (by file name, title or heading)."""
        if not self.question.targets:
            return frozenset()
        return self._mentions(candidate.term_set) or self._mentions(candidate.before) or self._titles(candidate.context)

    def about_other(self, candidate: Candidate) -> bool:
        """Whether the sentence's subject is a thing the question does not ask about: a name
        that is none of the targets ("During the outage at Saltmarsh, Northpoint ran at full
        capacity" is about Northpoint), or "the <noun>" of a document about something else
        ("The reservoir covers the gap ... as during the Saltmarsh outage", in the reservoir's
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
        name, title or headings do ("The outage was caused by ..." under "Water outage, June
        2021" covers "June 2021 water outage").
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
        if any(_is_year(v) for v in figures) if q.wants_year else q.wants_number and any(not _is_year(v) for v in figures):
            factor *= 1.3
        if not candidate.complete:
            factor *= 0.5
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
        under a heading or title that says it: "Kestrel College spent 96 million" under
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
            # is asked ("600 residents spent the night at the Fenmoor hall" is no population)
            words = frozenset().union(*(q.related.get(t, frozenset()) for t in hits))
            counted = words & {u for _, u in _text.quantities(c.text)}  # "412,000 people": the word counts a figure
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
        ("112 metres"; for an age, a year): "60,000 cubic metres per day" says nothing of how
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
            any(_is_year(v) for v in _text.numbers(c.text)) or _MONTHS & set(re.findall(r"[a-z]+", c.text.lower()))
        ):
            return False
        return not (q.wants_count and not q.wants_year and not _useful_numbers(c.text, False))


def _useful_numbers(text: str, years: bool) -> bool:
    return any(years or not _is_year(v) for v in _text.numbers(text))


def _is_year(value: float) -> bool:
    return value.is_integer() and 1800 <= value <= 2100


#: The chosen sentences together must cover this share of the question's units, else there is
#: no evidence.
MIN_ANSWER_COVERAGE = 0.6


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
        proper = _proper(name)
        if proper is None:
            continue
        terms = frozenset(_text.terms(proper))
        for match in re.finditer(re.escape(name), text):
            if match.start() == 0 and " " not in proper and not any(t.named_as(terms) for t in question.targets):
                continue
            out.append((match.end() - len(proper), match.end(), terms))
    return out


def _proper(name: str) -> str | None:
    """A capitalised phrase as a name: without the stopwords that open it ("About 240" is no
    name); None for a date or a number."""
    words = name.split()
    while words and words[0].lower() in _text.STOPWORDS:
        words.pop(0)
    if not words or all(w.replace(",", "").replace(".", "").isdigit() for w in words) or _is_date(" ".join(words)):
        return None
    return " ".join(words)


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
    """Whether position ``at`` is inside a clause that opens with a preposition (", on Market
    Square,"): a name there places the subject rather than owning a figure after it."""
    lo, _ = _clause_at(text, at)
    return lo > 0 and bool(_PREPOSITION.match(text[lo:at]))


def figure_targets(question: Question, item: Scored, units: frozenset[str] | None = None) -> frozenset[int]:
    """The targets a sentence gives a figure for (only figures in one of ``units``, when given
    and the question asks for no measure, which restricts the units itself). A number (a year
    only when a date is asked)
    belongs to a name of its own clause (the nearest before it, else the nearest after it), else
    to the nearest name before it in the sentence that is not in a prepositional phrase set off
    by commas (", on Market Square,"): to that target when the name is one of them,
    to something else when it is not ("During the outage at Saltmarsh, Northpoint ran at 45,000"
    gives Northpoint's figure, not Saltmarsh's). A number with no name to belong to belongs to
    what the sentence is about. Numbers inside a name ("Line 3") are not figures, nor, when a
    measure is asked, numbers in another unit ("how tall": 112 metres, not 1987)."""
    text = item.candidate.text
    spans = _text.number_spans(text)
    if not spans or not item.targets:
        return frozenset()
    names = _name_spans(question, text)
    out: set[int] = set()
    for value, start, end in spans:
        unit = _text.unit_after(text, end)
        if not (question.wants_year or question.measure == _AGE or not _is_year(value)):
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


def _units(ranker: Ranker, item: Scored) -> set[str]:
    q = ranker.question
    return {f"#{i}" for i in item.targets} | set(q.asked & item.candidate.term_set)


_PAST = re.compile(
    r"\b(?:original|originally|initial|initially|formerly|previously|at first|at opening|used to|until)\b", re.I
)


def dated(candidate: Candidate) -> int:
    """The year a sentence speaks from: its document's (a year in its file name, title or
    headings), else the latest year it names; 0 when it gives none."""
    years = [int(t) for t in candidate.context if t.isdigit() and _is_year(float(t))]
    if years:
        return max(years)
    return max((int(v) for v in _text.numbers(candidate.text) if _is_year(v)), default=0)


def _answers(question: Question, candidate: Candidate) -> set[tuple[float, str]]:
    """The values a sentence gives: its years for a date question, else its figures with a unit."""
    if question.wants_year:
        return {(v, "year") for v in _text.numbers(candidate.text) if _is_year(v)}
    return {(v, u) for v, u in _text.quantities(candidate.text) if u and not _is_year(v)}


def _disagrees(question: Question, item: Candidate, other: Candidate) -> bool:
    """Whether ``item`` gives another value than ``other`` in a unit ``other`` uses."""
    mine, theirs = _answers(question, item), _answers(question, other)
    units = {u for _, u in theirs}
    return any(u in units and (v, u) not in theirs for v, u in mine)


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
    if not q.wants_number or _PAST.search(item.candidate.text):
        return False
    mine = figure_targets(q, item) if q.targets else frozenset()
    for other in chosen:
        if q.targets and not (mine & figure_targets(q, other)):
            continue
        if not _says_as_much(ranker, item, other) or dated(item.candidate) < dated(other.candidate):
            continue
        if _disagrees(q, item.candidate, other.candidate):
            return True
    return False


def _says_as_much(ranker: Ranker, item: Scored, other: Scored) -> bool:
    """Whether ``item`` speaks of everything asked that ``other`` speaks of: only then is its
    other value a value for the same thing ("the transport budget of 148" does not disagree
    with "the flood defence budget of 73")."""
    topic = ranker.question.asked
    return topic & other.candidate.term_set <= item.candidate.term_set


_Preference = tuple[bool, bool, int, int, float]


def _prefer_recent(ranker: Ranker, items: list[Scored], keys: dict[int, _Preference]) -> list[Scored]:
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
        and not _PAST.search(s.candidate.text)
        and _says_as_much(ranker, s, best)
        and _disagrees(question, s.candidate, best.candidate)
    ]
    if not rivals:
        return ordered
    latest = max(rivals, key=lambda s: (dated(s.candidate), s.score))
    if dated(latest.candidate) <= dated(best.candidate):
        return ordered
    return [latest, *(s for s in ordered if s is not latest)]


def _preference(ranker: Ranker, index: int, item: Scored) -> _Preference:
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
    relevant; a later-dated rival that gives another value wins, see ``_prefer_recent``), then
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
            if same_words and not _disagrees(q, item.candidate, other.candidate):  # a near-duplicate
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
        for item in _prefer_recent(ranker, about, keys):
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

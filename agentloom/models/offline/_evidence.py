"""Evidence in a conversation: what the tools returned, the sentences of those passages, and a
ranking of the sentences against a question.

Shared by the offline ``act`` and ``summarize`` handlers, so that both pick the same sentences
for the same question, and both cite every sentence with the passage it came from.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
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
    "exchanges",
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
    terms that identify it and the numbers its name contains ("Line 3")."""

    label: str
    terms: frozenset[str]
    required: frozenset[str] = frozenset()

    def mentioned_by(self, terms: set[str] | frozenset[str]) -> bool:
        """Whether a text with these terms names this target: every number in the name, and all of
        a one- or two-word name, or at least half of a longer one."""
        if not self.terms or not self.required <= terms:
            return False
        hits = len(self.terms & terms)
        needed = len(self.terms) if len(self.terms) <= 2 else math.ceil(len(self.terms) / 2)
        return hits >= needed


@dataclass(slots=True)
class Question:
    """A question analysed once: its terms, entities, targets and what kind of answer it wants.

    ``entity_terms`` name the things asked about (entities, coordinated parts); ``topic_terms``
    are what is asked of them ("installed capacity", "chief engineer")."""

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

    @property
    def key_terms(self) -> set[str]:
        """Topic and entity terms: the question's terms without the words that only frame it."""
        return {t for t in self.terms if t not in FRAME_WORDS}

    @classmethod
    def parse(cls, text: str) -> Question:
        text = _text.squash(text)
        lower = text.lower()
        ents = [e for e in _text.entities(text) if e.lower() not in _MONTHS and _text.content_terms(e)]
        parts = [p.strip(" ?.!") for p in _SPLIT_PARTS.split(text) if _text.content_terms(p)]
        entity_terms = set().union(*(_text.content_terms(e) for e in ents)) if ents else set()
        targets = _targets_from(ents, entity_terms, parts)
        for target in targets:
            entity_terms |= target.terms
        wants_year = bool(re.search(r"\b(when|what year|which year|since when)\b", lower))
        wants_count = bool(re.search(r"\bhow (much|many)\b", lower))
        wants_name = bool(re.search(r"^(who|whom|whose)\b|\b(who|whom|whose) (is|was|are|were|runs?|ran|leads?|led|manages?|designed|built|owns?|operates?|chairs?)\b", lower))
        wants_number = wants_year or bool(
            re.search(
                r"\b(how (much|many|long|large|big|high|tall|far|deep|old|often)|capacit|cost|price|size|"
                r"number|figure|percent|share|total|combined|length|rating|output|budget|larger|smaller)",
                lower,
            )
        )
        terms = _text.terms(text)
        key = {t for t in terms if t not in FRAME_WORDS}
        topic = (key - entity_terms) or key
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
        )

    def units(self) -> int:
        """How many things an answer has to cover: each target (or entity) and each topic term."""
        return max(1, len(self.targets) + len(self.topic_terms - self.entity_terms))


def _targets_from(ents: list[str], entity_terms: set[str], parts: list[str]) -> list[Target]:
    """Entities when the question names two or more; else its coordinated parts ("flood defence
    ... compared with transport"), each identified by the terms no other part shares."""
    if len(ents) >= 2:
        return _distinct([(e, _text.content_terms(e)) for e in ents])
    if len(parts) >= 2:
        sets = [(p, _text.content_terms(p) - entity_terms - FRAME_WORDS) for p in parts]
        sets = [(p, s) for p, s in sets if s]
        if len(sets) >= 2:
            return _distinct(sets)
    return [_target(e, _text.content_terms(e)) for e in ents]


def _distinct(items: list[tuple[str, set[str]]]) -> list[Target]:
    shared = set.intersection(*(s for _, s in items)) if items else set()
    out: list[Target] = []
    for label, terms in items:
        own = terms - shared or terms
        if all(t[0].isdigit() for t in own):  # "Line 1" / "Line 2": the number alone is not a name
            own = terms
        if own and all(t.terms != frozenset(own) for t in out):
            out.append(_target(label, own))
    return out


def _target(label: str, terms: set[str]) -> Target:
    return Target(label, frozenset(terms), frozenset(t for t in terms if t[0].isdigit()))


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
    the name the sentence before it opens with (what "it" or "the line" refers to), and whether
    it is whole (not cut off by a truncated search snippet)."""

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

    def __post_init__(self) -> None:
        if not self.term_set:
            self.term_set = frozenset(self.terms)


def _is_truncated(text: str) -> bool:
    stripped = text.rstrip()
    return stripped.endswith("…") or stripped.endswith("...")


_STATEMENT_END = re.compile(r"[.!?:][\"'’”)\]]*$")


_PREDICATE = re.compile(
    r"^(?:\s*,[^,]{1,60},)?(?:\s+[a-z]+)?\s+(?:is|was|are|were|has|had|have|will|would|can|could|may|must|should"
    r"|[a-z]+ed|[a-z]+s)\b"
)


def _subject_terms(sentence: str) -> frozenset[str]:
    """The terms of the name a sentence is about: its first named thing followed by a verb
    ("Line 4, the Airport Link, will run ..." -> line, 4; "Unlike Northpoint, Kettle Bay is ..."
    -> kettle, bay). That is what "it" or "the line" in the next sentence most likely means."""
    for name in _text.entities(sentence):
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
        out.append(
            _Piece(
                text=clean,
                terms=tuple(_text.terms(clean)),
                complete=not (i == len(raw) - 1 and _is_truncated(sentence)),
                heading=is_heading,
                statement=bool(_STATEMENT_END.search(clean)),
                before=previous,
            )
        )
        previous = frozenset() if is_heading else _subject_terms(clean)
    return tuple(out)


def candidates_from(passages: dict[str, Citation], order: dict[str, int]) -> list[Candidate]:
    """The sentences of every passage, in passage order. Marker-only or empty sentences are
    dropped; a last sentence cut off by "…" is kept but marked incomplete; headings and
    fragments without a full stop are marked so answers can skip them."""
    out: list[Candidate] = []
    for pid in sorted(passages, key=lambda i: order.get(i, len(order))):
        citation = passages[pid]
        context = _context_terms(citation)
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
                )
            )
    return out


@dataclass(slots=True)
class Scored:
    """A candidate with its relevance: the score, and the weighted share of the question's topic
    terms it covers."""

    candidate: Candidate
    score: float
    coverage: float
    targets: frozenset[int]


class Ranker:
    """Scores sentences against a question: BM25 of what is asked (topic terms, with half credit
    for those only the passage's file name or headings carry), boosted when the sentence is
    about a thing the question names and, when a quantity is asked for, when it holds one."""

    def __init__(self, question: Question, candidates: Sequence[Candidate]) -> None:
        self.question = question
        self.candidates = list(candidates)
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
        return self._mentions(candidate.term_set) or self._mentions(candidate.before) or self._mentions(candidate.context)

    def coverage(self, items: Iterable[Candidate], targets: frozenset[int] | None = None) -> float:
        """The share of the question's units (targets and topic terms) that ``items`` cover
        together; a target counts when a sentence names it or its passage is about it.
        ``targets``, when the items' targets are already known, saves finding them again."""
        q = self.question
        found: set[int] = set(targets or ())
        terms: set[str] = set()
        for item in items:
            if targets is None:
                found |= self.targets_of(item)
            terms |= item.term_set
        targets = frozenset(found)
        topic = q.topic_terms - q.entity_terms
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
        table cell), saying something of what is asked, about a thing the question names."""
        c = item.candidate
        q = self.question
        if item.score <= 0 or not c.complete or c.heading or (c.tabular and not allow_tables):
            return False
        if not (c.statement or len(c.terms) >= 8 or (allow_tables and c.tabular)):
            return False
        if q.topic_terms - q.entity_terms and not (q.topic_terms - q.entity_terms) & c.term_set:
            return False
        if q.targets and not item.targets:
            return False
        return self._answers_kind(c)

    def _answers_kind(self, c: Candidate) -> bool:
        """A "who" answer names someone the question does not; a "when" answer holds a date; a
        "how many/much" answer holds a number."""
        q = self.question
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
    """The targets some chosen sentence is about, holding a figure when the question asks for one."""
    out: set[int] = set()
    for item in chosen:
        if not question.wants_number or _useful_numbers(item.candidate.text, question.wants_year):
            out |= item.targets
    return out


def _units(ranker: Ranker, item: Scored) -> set[str]:
    q = ranker.question
    return {f"#{i}" for i in item.targets} | set(q.topic_terms & item.candidate.term_set)


def _adds(ranker: Ranker, chosen: list[Scored], item: Scored) -> bool:
    """Whether a sentence adds to the chosen ones: it covers a part of the question they do not,
    or, when a quantity is asked, it gives another figure in a unit they use (a second source's
    figure for the same thing, so a disagreement stays visible)."""
    covered: set[str] = set()
    for other in chosen:
        covered |= _units(ranker, other)
    if _units(ranker, item) - covered:
        return True
    if not ranker.question.wants_number:
        return False
    known = {(v, u) for other in chosen for v, u in _text.quantities(other.candidate.text) if u}
    units = {u for _, u in known}
    return any(u in units and (v, u) not in known and not _is_year(v) for v, u in _text.quantities(item.candidate.text))


def select(
    ranker: Ranker,
    *,
    limit: int | None = None,
    require: Sequence[Candidate] = (),
    allow_tables: bool = False,
) -> list[Scored]:
    """The sentences that answer the question: for each target the best sentence about it
    (one holding a number first when a quantity is asked), then the best of the rest, without
    near-duplicates, bounded to ``limit`` (default 2 + targets, at least 3, at most 6). ``require``
    sentences (e.g. those a computation used) are always included. Returns [] when the chosen
    sentences do not cover enough of the question: there is no evidence."""
    q = ranker.question
    limit = limit or min(6, max(3, 2 + len(q.targets)))
    ranked = [s for s in ranker.ranked() if ranker.eligible(s, allow_tables=allow_tables)]
    chosen: list[Scored] = []

    def take(item: Scored) -> bool:
        for other in chosen:
            if other.candidate.text == item.candidate.text:
                return False
            if _text.overlap(item.candidate.term_set, other.candidate.term_set) >= 0.8:
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

        def preference(s: Scored) -> tuple[bool, int, float]:
            numeric = q.wants_number and _useful_numbers(s.candidate.text, q.wants_year)
            return (not numeric, len(s.targets), -s.score)

        for item in sorted(about, key=preference):
            if take(item):
                break
    top = ranked[0].score if ranked else 0.0
    descriptive = not (q.topic_terms - q.entity_terms)  # "tell me about X": no one thing is asked
    for item in ranked:
        if len(chosen) >= limit or item.score < 0.3 * top:
            break
        if not chosen or descriptive or _adds(ranker, chosen, item):
            take(item)
    if not chosen or ranker.coverage([c.candidate for c in chosen]) < MIN_ANSWER_COVERAGE:
        return []
    chosen.sort(key=lambda s: (-s.score, s.candidate.order))
    return chosen

"""The sentences of passages as candidate claims (``Candidate``): their terms, subject, what
their document is about, and whether they are whole statements."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from agentloom.citations import Citation
from agentloom.models.offline import _text
from agentloom.models.offline._words import proper_name

__all__ = [
    "Candidate",
    "candidates_from",
    "claim_candidate",
]


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
    ("While the Alder works was shut, Birchley ran ..." -> northpoint; "The older Bell House
    is ..." -> clock, tower); empty when the main clause opens with no name followed by a verb
    ("About 90 houses were sold"). The flag says the name is one capitalised word that opens
    the sentence, so it may be capitalised only for that ("Construction began ...") or be a name
    ("Birchley can pump ...")."""
    rest = _INTRO.sub("", sentence, count=1)
    opening = rest == sentence
    rest, n = re.subn(r"^(?i:the|a|an)\s+(?:[a-z][a-z-]+\s+){0,2}(?=[A-Z])", "", rest)
    match = re.match(_text.ENTITY_PATTERN, rest)
    if not match:
        return frozenset(), False
    name = proper_name(match.group(0))
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
    ("Route 7, the Coast Road, will run ..." -> line, 4; "Unlike Birchley, Cedar Cove is ..."
    -> kettle, bay). That is what "it" or "the line" in the next sentence most likely means."""
    for name in _text.entities(sentence):
        if proper_name(name) is None:
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
    raw = _text.sentences(_text.join_lists(text))
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
    full stop ("# Incident report: Hazelford bridge closure, May 2019")."""
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

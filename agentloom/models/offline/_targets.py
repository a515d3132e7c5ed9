"""The things a question asks about (``Target``): its names, appositives grouped ("Route 9, the
Coast Road"), the kind nouns next to them, or its coordinated parts."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from agentloom.models.offline import _text
from agentloom.models.offline._words import FRAME_WORDS

__all__ = [
    "Target",
    "kind_terms",
    "name_groups",
    "targets_from",
    "without_appositives",
]


@dataclass(slots=True)
class Target:
    """A thing the question asks about (a named entity or one coordinated sub-topic), with the
    terms that identify it, the numbers its name contains ("Route 9") and the term sets of the
    other names the question gives it ("Route 9, the Coast Road")."""

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
        longer one ("Pumping Station" alone does not name the Alder Pumping Station)."""
        headed = len(self.terms) < 3 or not self.head or self.head in terms
        if headed and _names(self.terms, self.required, terms):
            return True
        return any(_names(alias, frozenset(t for t in alias if t[0].isdigit()), terms) for alias in self.aliases)

    def named_as(self, name: frozenset[str]) -> bool:
        """Whether a name written in a source (its terms) is this target: it is one of its names,
        or, for a name of three words or more, its first word alone ("Alder" for the
        Alder Pumping Station)."""
        if self.mentioned_by(name):
            return True
        return len(self.terms) >= 3 and bool(self.head) and name == {self.head} | self.required

    def titled_by(self, terms: set[str] | frozenset[str]) -> bool:
        """Whether a file name, title or heading with these terms is about this target: it names
        it, or, for a name of three words or more, it has the name's first word and numbers
        (titles shorten names: ``alder_shutdown_2020.md`` is about the Alder Pumping
        Plant)."""
        if self.mentioned_by(terms):
            return True
        return len(self.terms) >= 3 and bool(self.head) and self.head in terms and self.required <= terms


def _names(name: frozenset[str], required: frozenset[str], terms: set[str] | frozenset[str]) -> bool:
    if not name or not required <= terms:
        return False
    needed = len(name) if len(name) <= 2 else math.ceil(len(name) / 2)
    return len(name & terms) >= needed


_APPOSITIVE_GLUE = r"(?:,\s+(?:the\s+|also\s+(?:known|called)\s+(?:as\s+)?|known\s+as\s+(?:the\s+)?)|\s+\((?:the\s+)?)"


def name_groups(text: str, ents: list[str]) -> list[list[str]]:
    """The question's names, with appositives grouped: in "Route 9, the Coast Road, ..." or
    "Route 9 (the Coast Road)" both names are one thing. Not in a list ("A, the B, and C")."""
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


def without_appositives(text: str, groups: list[list[str]]) -> str:
    """``text`` without the second names of appositives (", the Coast Road,")."""
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


def kind_terms(text: str, ents: list[str]) -> set[str]:
    """Terms of the kind nouns written right next to a name ("the Cedar Cove pumping
    station", "bus Route 9"): they tell what the name is, not what is asked about it. Words after
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


def targets_from(groups: list[list[str]], entity_terms: set[str], parts: list[str]) -> list[Target]:
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
    question word, or a pronoun that refers back) or a qualifier (", in litres per hour")."""
    return bool(_CLAUSE_START.match(part) or _BACK_REFERENCE.search(part) or _QUALIFIER.match(part))


def _distinct(items: list[tuple[str, set[str], list[str]]]) -> list[Target]:
    shared = set.intersection(*(s for _, s, _ in items)) if items else set()
    out: list[Target] = []
    for label, terms, aliases in items:
        own = terms - shared or terms
        if all(t[0].isdigit() for t in own):  # "Route 1" / "Route 2": the number alone is not a name
            own = terms
        if own and all(t.terms != frozenset(own) for t in out):
            out.append(_target(label, own, aliases))
    return out


def _target(label: str, terms: set[str], aliases: list[str] | None = None) -> Target:
    names = tuple(frozenset(_text.content_terms(a)) for a in aliases or [] if _text.content_terms(a))
    head = next((t for t in _text.terms(label) if t in terms and not t[0].isdigit()), "")
    return Target(label, frozenset(terms), frozenset(t for t in terms if t[0].isdigit()), names, head)

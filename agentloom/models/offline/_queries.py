"""The search queries the offline ``act`` policy sends for a question: its key words, one per
target, and one per target in the words a source may use instead."""

from __future__ import annotations

import re

from agentloom.models.offline import _text
from agentloom.models.offline._calculation import EXPLICIT
from agentloom.models.offline._evidence import FRAME_WORDS, Question

__all__ = [
    "search_queries",
]

def _words(text: str, skip: set[str] | None = None) -> list[str]:
    """Content words of ``text`` as written (for search queries), without stopwords, frame words
    or repeats."""
    out: list[str] = []
    seen: set[str] = set()
    for word in re.findall(r"\d[\d,.]*\d|[A-Za-z0-9][\w'’.-]*[A-Za-z0-9]|[A-Za-z0-9]", text):
        lower = word.lower()
        stemmed = _text.stem(lower)
        if lower in _text.STOPWORDS or stemmed in FRAME_WORDS or stemmed in seen:
            continue
        if skip and stemmed in skip:
            continue
        seen.add(stemmed)
        out.append(word)
    return out


def search_queries(question: Question, *, related: bool = True) -> list[str]:
    """The whole question's key words, then one query per target (its name plus the question's
    topic words), then, when a source may word what is asked differently, one per target with
    those words ("Elmsford people residents inhabitants"; left out with ``related=False``),
    without two queries of the same words. An arithmetic expression written in the
    question is left out; a question that is only arithmetic needs no search."""
    expression = EXPLICIT.search(question.text)
    if expression is not None and not _words(EXPLICIT.sub(" ", question.text)):
        return []
    whole = _words(EXPLICIT.sub(" ", question.text))[:12]
    queries = [" ".join(whole)] if whole else []
    label_terms: set[str] = set()
    for target in question.targets:
        label_terms |= _text.content_terms(target.label)
    entity_words = _words(" ".join(question.entities))
    topic = _words(question.text, skip=label_terms | set(_text.content_terms(" ".join(question.entities))))[:4]
    for target in question.targets:
        own = _words(target.label)
        if target.label in question.entities:
            extra = topic
        else:  # a coordinated part: give it the thing the question is about
            extra = entity_words if len(question.entities) == 1 else []
        words = _words(" ".join(own + extra))[:8]
        if words:
            queries.append(" ".join(words))
    words_for = question.related_words[:4] if related else []
    if words_for:  # the words a source may use for what is asked ("population" -> "people")
        names = [_words(t.label) for t in question.targets] or [entity_words]
        for own in names:
            queries.append(" ".join(own + words_for))
    unique: list[str] = []
    seen: set[frozenset[str]] = set()
    for query in queries:
        key = frozenset(_text.terms(query))
        if key and key not in seen:
            seen.add(key)
            unique.append(query)
    return unique

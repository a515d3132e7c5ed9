"""Offline ``summarize``: an extractive summary of the evidence in a conversation, for its task.

The summary is made of sentences from the request itself: those of the passages that tool results
returned, and sentences of other messages that already carry a citation marker (an earlier
summary, a team's finding). Each keeps its marker. Sentences are ranked against the task and
added best first, without near-duplicates, until ``max_tokens`` is reached.
"""

from __future__ import annotations

from agentloom.citations import CITE_MARKER
from agentloom.models.offline import _text
from agentloom.models.offline._evidence import (
    Candidate,
    Question,
    Ranker,
    candidates_from,
    exchanges,
    find_question,
    no_evidence,
    passages_in,
)
from agentloom.models.types import Completion, Message, ModelRequest
from agentloom.tokens import count_tokens

__all__ = ["respond", "summarize"]

#: Summary length when the request sets no ``max_tokens``.
DEFAULT_TOKENS = 400


def respond(request: ModelRequest) -> Completion:
    """The summary of the request's evidence for its task."""
    question = find_question(request)
    limit = request.max_tokens or DEFAULT_TOKENS
    return Completion(text=summarize(question, request.messages, limit), finish_reason="stop")


def _marked_sentences(messages: list[Message], question: str, start: int) -> list[Candidate]:
    """Sentences of non-tool messages that carry a citation marker, cited by their first marker."""
    out: list[Candidate] = []
    for message in messages:
        if message.role in ("tool", "system") or not message.content:
            continue
        for sentence in _text.sentences(message.content):
            ids = CITE_MARKER.findall(sentence)
            clean = _text.strip_markers(sentence)
            if not ids or not clean or _text.squash(clean) == _text.squash(question):
                continue
            out.append(Candidate(text=clean, source=ids[0], terms=_text.terms(clean), order=start + len(out)))
    return out


def summarize(question: str, messages: list[Message], max_tokens: int) -> str:
    """At most ``max_tokens`` of the most relevant cited sentences, each followed by its marker;
    the no-evidence line when the conversation holds none."""
    passages, order = passages_in(exchanges(messages))
    candidates = candidates_from(passages, order)
    candidates += _marked_sentences(messages, question, len(candidates))
    candidates = [c for c in candidates if c.complete and not c.heading and len(c.terms) >= 3]
    if not candidates:
        return no_evidence(question)
    ranker = Ranker(Question.parse(question), candidates)
    ranked = ranker.ranked() if question else [ranker.score(c) for c in candidates]
    if question:
        topic = ranker.question.topic_terms | ranker.question.entity_terms
        ranked = [s for s in ranked if s.score > 0 and topic & s.candidate.term_set]
    lines: list[str] = []
    kept: list[frozenset[str]] = []
    used = 0
    for item in ranked:
        terms = item.candidate.term_set
        if any(_text.overlap(terms, other) >= 0.8 for other in kept):
            continue
        line = f"{item.candidate.text} [{item.candidate.source}]"
        cost = count_tokens(line) + 1
        if used + cost > max_tokens:
            if lines:
                break
            continue
        lines.append(line)
        kept.append(terms)
        used += cost
    return "\n".join(lines) if lines else no_evidence(question)

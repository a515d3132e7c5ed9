"""Offline ``verify`` and ``equivalence``: deterministic, lexical judgements.

A candidate's score is how much of it its cited passages support (content-word support of
each sentence, weighted by its length) times how much of the question's content terms it
covers. The same measure answers pairwise comparisons and claim entailment; equivalence
compares normalised answers, or the last answer reached in a partial trace.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from agentloom.answers import answer_key
from agentloom.citations import cited_ids
from agentloom.models.types import Completion, ModelRequest
from agentloom.text.lexical import (
    claim_support,
    content_terms,
    jaccard,
    read_payload,
    split_sentences,
    strip_markers,
    term_words,
)
from agentloom.text.sections import question_in_messages

__all__ = ["respond", "respond_equivalence", "score_text", "Scored"]

SUPPORTED = 0.5
_LAST_QUANTITY = re.compile(r"([-+]?\$?\d[\d,]*(?:\.\d+)?)\s*(%|[a-z]+)?", re.I)
_KNOWN_UNITS = {"%", "km", "m", "cm", "mm", "kg", "g", "mg", "s", "min", "h", "percent", "dollars", "usd", "miles", "meters", "metres"}


@dataclass
class Scored:
    """The offline judge's view of one candidate."""

    score: float
    support: float
    coverage: float
    feedback: list[str] = field(default_factory=list)
    field_scores: dict[str, float] = field(default_factory=dict)


def _passages(payload: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in payload.get("passages") or []:
        if isinstance(p, dict) and isinstance(p.get("id"), str):
            out[p["id"]] = str(p.get("text", ""))
    return out


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def score_text(text: str, passages: dict[str, str], question: str | None, output: dict[str, Any] | None = None) -> Scored:
    """Support by cited passages times coverage of the question's terms, with feedback lines."""
    feedback: list[str] = []
    sentences = split_sentences(text)
    if passages:
        weighted, total = 0.0, 0.0
        for sentence in sentences:
            weight = float(max(1, len(content_terms(sentence))))
            ids = cited_ids(sentence)
            known = [passages[i] for i in ids if i in passages]
            value = claim_support(strip_markers(sentence), known).value if known else 0.0
            total += weight
            weighted += weight * value
            if value < SUPPORTED:
                if not ids:
                    why = "cites no passage"
                elif not known:
                    why = f"cites unknown passage(s) {', '.join(i for i in ids if i not in passages)}"
                else:
                    why = f"only {value:.0%} supported by {', '.join(ids)}"
                feedback.append(f"unsupported: {strip_markers(sentence)} ({why})")
        support = weighted / total if total else 0.0
    else:
        support = 1.0
    question_terms = set(content_terms(question))
    answer_terms = set(content_terms(text))
    if question_terms:
        missing = sorted(question_terms - answer_terms)
        coverage = 1.0 - len(missing) / len(question_terms)
        if missing:
            words = term_words(question)
            feedback.append(f"missing: {', '.join(words.get(t, t) for t in missing)}")
    else:
        coverage = 1.0
    if not sentences:
        support, coverage = 0.0, 0.0
        feedback.append("empty answer")
    fields: dict[str, float] = {}
    if output and passages:
        texts = list(passages.values())
        for name, value in output.items():
            fields[name] = round(claim_support(_value_text(value), texts).value, 6)
    return Scored(round(support * coverage, 6), support, coverage, feedback, fields)


def _candidate_score(candidate: dict[str, Any], passages: dict[str, str], question: str | None) -> Scored:
    output = candidate.get("output") if isinstance(candidate.get("output"), dict) else None
    return score_text(str(candidate.get("text") or ""), passages, question, output)


def respond(request: ModelRequest) -> Completion:
    """Answer a ``verify`` request in the schema it asks for (score, comparison or entailment)."""
    payload = read_payload(request.messages)
    fields = set(request.output_type.model_fields) if request.output_type is not None else set()
    question = payload.get("question") or question_in_messages(m.content or "" for m in request.messages if m.role == "user") or None
    passages = _passages(payload)
    if "winner" in fields:
        a = _candidate_score(payload.get("A") or {}, passages, question)
        b = _candidate_score(payload.get("B") or {}, passages, question)
        if abs(a.score - b.score) < 1e-9:
            out: dict[str, Any] = {"winner": "tie", "confidence": 0.0, "feedback": "equally supported and complete"}
        else:
            winner, loser = ("A", b) if a.score > b.score else ("B", a)
            why = loser.feedback[0] if loser.feedback else f"scored {loser.score:.2f}"
            out = {"winner": winner, "confidence": round(abs(a.score - b.score), 6), "feedback": why}
    elif "entailed" in fields:
        support = claim_support(str(payload.get("claim") or ""), list(passages.values()))
        out = {
            "entailed": support.supported(0.6),
            "confidence": round(support.value, 6),
            "reason": "verbatim in the passage" if support.contained else f"{support.fraction:.0%} of content words found",
        }
    else:
        candidate = payload.get("candidate") or {"text": request.last_user_text()}
        scored = _candidate_score(candidate, passages, question)
        threshold = float(payload.get("threshold", 0.5) or 0.5)
        out = {
            "score": scored.score,
            "passed": scored.score >= threshold,
            "feedback": "\n".join(scored.feedback),
            "field_scores": scored.field_scores,
        }
    return Completion(text=json.dumps(out), finish_reason="stop")


def _reached(item: dict[str, Any]) -> str | None:
    """The normalised answer an item gives, or the last one its partial trace reaches."""
    answer = str(item.get("answer") or "").strip()
    if answer:
        return answer_key(answer)
    for step in reversed([str(s) for s in item.get("trace") or []]):
        key = answer_key(step)
        if key.startswith("num:"):
            return key
        found = _LAST_QUANTITY.findall(step)
        if found:
            number, unit = found[-1]
            with_unit = answer_key(f"{number} {unit}".strip())
            return with_unit if with_unit.startswith("num:") and unit in _KNOWN_UNITS else answer_key(number)
    return None


def respond_equivalence(request: ModelRequest) -> Completion:
    """Whether two answers (or partial traces) reach the same answer."""
    payload = read_payload(request.messages)
    a, b = payload.get("a") or {}, payload.get("b") or {}
    ka, kb = _reached(a), _reached(b)
    if ka is not None and kb is not None:
        if ka == kb:
            out = {"equivalent": True, "confidence": 1.0, "reason": "same normalised answer"}
        elif ka.startswith("text:") and kb.startswith("text:"):
            wa, wb = set(ka[5:].split()), set(kb[5:].split())
            small, big = (wa, wb) if len(wa) <= len(wb) else (wb, wa)
            negated = bool(big & {"not", "no", "never", "none"}) != bool(small & {"not", "no", "never", "none"})
            same = bool(small) and small <= big and not negated
            out = {
                "equivalent": same,
                "confidence": round(len(small) / max(1, len(big)), 6) if same else 0.9,
                "reason": "one answer contains the other" if same else "different answers",
            }
        else:
            out = {"equivalent": False, "confidence": 0.9, "reason": "different answers"}
    else:
        ta = " ".join(str(s) for s in a.get("trace") or []) + " " + str(a.get("answer") or "")
        tb = " ".join(str(s) for s in b.get("trace") or []) + " " + str(b.get("answer") or "")
        overlap = jaccard(content_terms(ta), content_terms(tb))
        out = {"equivalent": overlap >= 0.6, "confidence": round(overlap, 6), "reason": f"traces overlap {overlap:.0%}"}
    return Completion(text=json.dumps(out), finish_reason="stop")

"""Lexical helpers shared by the verifiers, the crossovers and any model that answers them:
sentences, content terms, citation support, near-duplicates, and the JSON payload that
carries candidates and passages inside a request's messages (``render_payload`` writes it,
``read_payload`` reads it back)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agentloom.citations import CITE_ID, CITE_MARKER, cited_ids

__all__ = [
    "STOPWORDS",
    "Support",
    "claim_support",
    "conflicting",
    "content_terms",
    "jaccard",
    "near_duplicate",
    "numbers_in",
    "read_payload",
    "render_payload",
    "split_sentences",
    "strip_markers",
    "term_words",
    "with_markers",
]

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more
    most my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those through
    to too under until up very was we were what when where which while who whom why will with would you
    your yours yourself yourselves which whose may might must shall one ones answer question candidate
    according per via""".split()
)

_WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_SENTENCE_END = re.compile(rf"[.!?](?:\s*\[{CITE_ID}\])*(?=\s+[A-Z0-9\"'(*-])")
_ONLY_MARKERS = re.compile(rf"^(?:\s*\[{CITE_ID}\]\s*[.,;]?)+$")
_FENCE = re.compile(r"```json\s*\n(.*?)\n```", re.S)


def strip_markers(text: str) -> str:
    """``text`` without its ``[p_...]`` citation markers, whitespace collapsed."""
    return " ".join(CITE_MARKER.sub(" ", text).split()).replace(" .", ".").replace(" ,", ",")


def split_sentences(text: str | None) -> list[str]:
    """Sentences and list items of ``text``; a run of citation markers after a sentence's full
    stop stays with that sentence."""
    out: list[str] = []
    for line in (text or "").splitlines():
        line = line.strip().lstrip("-*•").strip()
        if not line:
            continue
        cuts = [m.end() for m in _SENTENCE_END.finditer(line)]
        for start, end in zip([0, *cuts], [*cuts, len(line)], strict=True):
            piece = line[start:end].strip()
            if not piece:
                continue
            if out and _ONLY_MARKERS.match(piece):
                out[-1] = f"{out[-1]} {piece}"
            else:
                out.append(piece)
    return out


def _stem(word: str) -> str:
    if word.isdigit() or len(word) <= 3:
        return word
    for suffix, keep in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("edly", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + keep
    return word


_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}


def _clean_number(token: str) -> str:
    token = token.replace(",", "")
    if "." in token:
        token = token.rstrip("0").rstrip(".") or "0"
    return token


def content_terms(text: str | None) -> list[str]:
    """Lower-cased, lightly stemmed content words and numbers of ``text`` (markers removed)."""
    terms: list[str] = []
    for raw in _WORD.findall(CITE_MARKER.sub(" ", text or "").lower()):
        if raw[0].isdigit():
            terms.append(_clean_number(raw))
            continue
        if raw in _NUMBER_WORDS and raw != "one":
            terms.append(_NUMBER_WORDS[raw])
            continue
        if raw in STOPWORDS or len(raw) < 2:
            continue
        terms.append(_stem(raw))
    return terms


def term_words(text: str | None) -> dict[str, str]:
    """Each content term of ``text`` mapped to the first word it came from (for readable feedback)."""
    out: dict[str, str] = {}
    for raw in _WORD.findall(CITE_MARKER.sub(" ", text or "").lower()):
        terms = content_terms(raw)
        if terms:
            out.setdefault(terms[0], raw)
    return out


def numbers_in(terms: Iterable[str]) -> set[str]:
    """The numeric terms among ``terms``."""
    return {t for t in terms if _NUMBER.match(t)}


def jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    sa, sb = set(a), set(b)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def near_duplicate(a: str, b: str, *, threshold: float = 0.7) -> bool:
    """Whether two sentences say the same thing: similar content words and the same numbers."""
    ta, tb = content_terms(a), content_terms(b)
    if not ta or not tb:
        return strip_markers(a).lower() == strip_markers(b).lower()
    return numbers_in(ta) == numbers_in(tb) and jaccard(ta, tb) >= threshold


def conflicting(a: str, b: str, *, threshold: float = 0.6) -> bool:
    """Whether two sentences make the same claim with different numbers (e.g. two years)."""
    ta, tb = content_terms(a), content_terms(b)
    na, nb = numbers_in(ta), numbers_in(tb)
    if not na or not nb or na == nb:
        return False
    words_a, words_b = [t for t in ta if t not in na], [t for t in tb if t not in nb]
    return bool(words_a) and jaccard(words_a, words_b) >= threshold


@dataclass(frozen=True, slots=True)
class Support:
    """How well passages back a claim: the share of its content terms they contain, the
    claim's numbers they lack, and whether the claim appears in them verbatim."""

    fraction: float
    missing_numbers: tuple[str, ...]
    contained: bool

    def supported(self, threshold: float) -> bool:
        return self.contained or (self.fraction >= threshold and not self.missing_numbers)

    @property
    def value(self) -> float:
        """A 0..1 support value; a missing number halves it."""
        if self.contained:
            return 1.0
        return self.fraction * (0.5 if self.missing_numbers else 1.0)


def _squash(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", strip_markers(text).lower()).split())


def claim_support(claim: str, passage_texts: Iterable[str]) -> Support:
    """Lexical support of ``claim`` by the union of ``passage_texts``."""
    texts = [t for t in passage_texts if t]
    terms = content_terms(claim)
    if not texts:
        return Support(0.0, tuple(sorted(numbers_in(terms))), False)
    squashed_claim = _squash(claim)
    if squashed_claim and any(squashed_claim in _squash(t) for t in texts):
        return Support(1.0, (), True)
    if not terms:
        return Support(0.0, (), False)
    pool: set[str] = set()
    for text in texts:
        pool.update(content_terms(text))
    hit = sum(1 for t in terms if t in pool)
    missing = tuple(sorted(n for n in numbers_in(terms) if n not in pool))
    return Support(hit / len(terms), missing, False)


def render_payload(payload: Mapping[str, Any]) -> str:
    """The request's data as a fenced JSON block (what real models read and offline handlers parse)."""
    return "```json\n" + json.dumps(payload, ensure_ascii=False, indent=1, default=str) + "\n```"


def read_payload(messages: Iterable[Any], metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The last fenced JSON object in the user messages, else ``metadata['payload']``, else ``{}``."""
    for message in reversed(list(messages)):
        if getattr(message, "role", None) != "user" or not message.content:
            continue
        for block in reversed(_FENCE.findall(message.content)):
            try:
                value = json.loads(block)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    fallback = (metadata or {}).get("payload")
    return dict(fallback) if isinstance(fallback, Mapping) else {}


def with_markers(sentence: str, ids: Iterable[str]) -> str:
    """``sentence`` carrying exactly the markers ``ids`` (in that order), before its full stop."""
    wanted = list(ids)
    if not wanted or cited_ids(sentence) == wanted:
        return sentence
    body = strip_markers(sentence).rstrip()
    end = body[-1] if body and body[-1] in ".!?" else "."
    body = body.rstrip(".!?").rstrip()
    return f"{body} {' '.join(f'[{i}]' for i in wanted)}{end}"

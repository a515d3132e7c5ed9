"""Text helpers for the memory bank: terms, safe FTS5 queries, similarity, hashes, token sizes."""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from typing import Any

__all__ = [
    "STOPWORDS",
    "terms",
    "term_set",
    "fts_query",
    "fts_words",
    "jaccard",
    "content_hash",
    "normalize_text",
    "value_text",
    "shorten",
]

_WORD = re.compile(r"[^\W_]+(?:[_'][^\W_]+)*", re.UNICODE)
_TERM = re.compile(r"[^\W_]{2,}", re.UNICODE)  # words of two or more letters/digits; _ and ' split

#: Words that carry no topic: dropped from queries and similarity sets (also keeps FTS fast).
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then there these they this
    those through to too under until up very was we were what when where which while who whom why will
    with would you your yours yourself yourselves query k id none null true false""".split()
)


def terms(text: str | None, *, limit: int | None = None) -> list[str]:
    """Lower-cased content words of ``text`` in first-seen order, without stopwords or repeats
    (lightly stemmed, so 'panels' and 'panel' are one term)."""
    seen: dict[str, None] = {}
    for word in _TERM.findall((text or "").lower()):
        if word in STOPWORDS:
            continue
        seen.setdefault(_stem(word), None)
        if limit is not None and len(seen) >= limit:
            break
    return list(seen)


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """A tiny suffix stripper so 'panels' matches 'panel' in similarity (FTS uses porter)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def term_set(text: str | None, *, limit: int = 400) -> frozenset[str]:
    """The set of content words of ``text`` (bounded, for Jaccard similarity)."""
    return frozenset(terms(text, limit=limit))


def fts_query(text: str | None, *, mode: str = "and", limit: int = 12) -> str:
    """A safe FTS5 MATCH expression: every term quoted (no operator or syntax can leak in),
    joined with AND or OR. Empty when ``text`` has no content word."""
    words = fts_words(text, limit)
    joiner = " AND " if mode == "and" else " OR "
    return joiner.join(f'"{w}"' for w in words)


def fts_words(text: str | None, limit: int) -> list[str]:
    """The first ``limit`` distinct content words of ``text``, lower-cased, in order."""
    seen: dict[str, None] = {}
    for match in _WORD.finditer((text or "").lower()):
        for part in match.group(0).replace("'", " ").replace("_", " ").split():
            if len(part) >= 2 and part not in STOPWORDS:
                seen.setdefault(part, None)
        if len(seen) >= limit:
            break
    return list(seen)[:limit]


def jaccard(a: frozenset[str] | set[str], b: frozenset[str] | set[str]) -> float:
    """|a ∩ b| / |a ∪ b| (0 when both are empty)."""
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def normalize_text(text: str) -> str:
    """The form exact duplicates share: case, runs of whitespace and surrounding punctuation
    do not count."""
    return " ".join(text.lower().split()).strip(" .,;:!?\"'")


def content_hash(kind: str, value: str, fingerprint: str | None = None) -> str:
    """Identity of an entry's content: the tool-call fingerprint for tool results, else the
    normalized value. Two entries with the same hash in one scope are duplicates."""
    basis = f"fp:{fingerprint}" if fingerprint else f"{kind}:{normalize_text(value)}"
    return hashlib.sha256(basis.encode()).hexdigest()[:32]


def value_text(value: Any) -> tuple[str, str]:
    """A tool value as stored text and its format: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value, "text"
    return json.dumps(_plain(value), ensure_ascii=False, default=str), "json"


def _plain(value: Any) -> Any:
    """Pydantic models and tuples as plain JSON data."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut at a word boundary to at most ``limit`` characters."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:") + "…"

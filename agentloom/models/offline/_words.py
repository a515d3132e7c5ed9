"""Word classes shared by the evidence modules: words that frame a question, dates, years and
proper names."""

from __future__ import annotations

from agentloom.models.offline import _text

__all__ = [
    "FRAME_WORDS",
    "MONTHS",
    "is_date",
    "is_year",
    "proper_name",
]


#: Words that frame a question ("how much larger") rather than name its topic; they are left out
#: when measuring how much of a question the evidence covers.
FRAME_WORDS = frozenset(
    _text.stem(w)
    for w in """larger largest smaller smallest bigger biggest higher highest lower lowest longer longest
    shorter shortest greater greatest more less fewer long large big high low small size expected expect
    does happen difference different between which compared versus whole combined together altogether
    sum""".split()
)

MONTHS = frozenset(
    "january february march april may june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday".split()
)


def is_date(phrase: str) -> bool:
    """A phrase made only of month or day names and numbers ("May 2019") is a date, not a name."""
    words = phrase.lower().split()
    return all(w in MONTHS or w.isdigit() for w in words)


def is_year(value: float) -> bool:
    return value.is_integer() and 1800 <= value <= 2100


def proper_name(name: str) -> str | None:
    """A capitalised phrase as a name: without the stopwords that open it ("About 240" is no
    name); None for a date or a number."""
    words = name.split()
    while words and words[0].lower() in _text.STOPWORDS:
        words.pop(0)
    if not words or all(w.replace(",", "").replace(".", "").isdigit() for w in words) or is_date(" ".join(words)):
        return None
    return " ".join(words)

"""Matching rules for ``loom eval``: number and unit normalisation, the strict short-answer
test, the "corpus does not say" test, and lexical grounding with the evaluator's own tokeniser
(never an engine's, so no engine can grade itself)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

__all__ = [
    "GROUNDING",
    "contains",
    "grounded",
    "normalize",
    "says_missing",
    "says_no_evidence",
    "sentences",
    "short_answer_holds",
    "terms",
]

#: Share of a sentence's content terms a passage must hold for the sentence to be grounded in it.
GROUNDING = 0.6

_NO_EVIDENCE = re.compile(r"\bno (supporting |relevant )?evidence\b|\bnothing (relevant )?was found\b", re.I)
_MISSING = re.compile(
    r"\bno (supporting |relevant |such )?(evidence|information|record|mention|data|figure)s?\b"
    r"|\bnothing (relevant |in the corpus |in the sources )?(was found|says|mentions|states)\b"
    r"|\b(is|was|are|were) not (found|mentioned|stated|given|recorded|reported|covered|in the (corpus|sources|documents))\b"
    r"|\b(do|does|did)(n't| not) (say|mention|state|contain|give|record|report|cover|include)\b"
    r"|\b(corpus|sources|documents) (do|does)(n't| not)\b"
    r"|\bcannot be (answered|determined|found)\b|\bnot in the (corpus|sources|documents)\b",
    re.I,
)

# Unit spellings folded to one token each, on both sides of a match. Longest first.
_UNITS: tuple[tuple[str, str], ...] = (
    (r"cubic met(?:re|er)s?|m³|m\^3|\bm3\b", "m3"),
    (r"square kilomet(?:re|er)s?|km²|\bkm2\b|\bsq km\b", "km2"),
    (r"square met(?:re|er)s?|m²|\bm2\b", "sqm"),
    (r"kilomet(?:re|er)s? per hour|km/h|\bkph\b", "kmh"),
    (r"kilomet(?:re|er)s?|\bkms?\b", "km"),
    (r"centimet(?:re|er)s?|\bcm\b", "cm"),
    (r"millimet(?:re|er)s?|\bmm\b", "mm"),
    (r"\bmet(?:re|er)s?\b|(?<=\d)\s?m\b", " m"),
    (r"kilogram(?:me)?s?|\bkgs?\b", "kg"),
    (r"\bgrams?\b|(?<=\d)\s?g\b", " g"),
    (r"\btonnes?\b|\btons?\b|(?<=\d)\s?t\b", " t"),
    (r"hectares?|\bha\b", "ha"),
    (r"\blit(?:re|er)s?\b|(?<=\d)\s?l\b", " l"),
    (r"megawatt[- ]hours?|\bmwh\b", "mwh"),
    (r"kilowatt[- ]hours?|\bkwh\b", "kwh"),
    (r"kilowatts?|\bkw\b", "kw"),
    (r"megawatts?|\bmw\b", "mw"),
    (r"per ?cent\b|%", " pct"),
    (r"degrees? c(?:elsius)?\b|°c", "degc"),
    (r"\bminutes?\b|\bmins?\b", "min"),
    (r"\bhours?\b|\bhrs?\b", "h"),
    (r"\bseconds?\b|\bsecs?\b", "s"),
)
_UNIT_RES = [(re.compile(p, re.I), " " + u.strip() + " ") for p, u in _UNITS]
_CURRENCY = (("£", "gbp"), ("€", "eur"), ("$", "usd"))
_NUMBER_WORDS = {
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
    "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
}
_SCALE = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}


def _number(text: str) -> str:
    """A decimal written without trailing zeros: ``2.60`` -> ``2.6``, ``5.0`` -> ``5``."""
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def normalize(text: str) -> str:
    """Text reduced for matching: NFKC, lower case, no markdown emphasis, one kind of dash,
    no thousands separators, single spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[*_`]+", "", text)
    text = re.sub(r"[‐‑‒–—−]", "-", text)
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)
    return " ".join(text.split())


def canonical(text: str) -> str:
    """``normalize`` plus number and unit folding: currency before or after a number becomes
    one code after it, ``1.5 million`` becomes ``1500000``, unit spellings become one token,
    a hyphen between a number and its unit becomes a space."""
    text = normalize(unicodedata.normalize("NFKC", text).replace("m³", "m3").replace("km²", "km2").replace("m²", "m2"))

    def scale(match: re.Match[str]) -> str:
        value = float(match.group(1)) * _SCALE[match.group(2)]
        return _number(f"{value:.6f}") if value != int(value) else str(int(value))

    text = re.sub(r"(\d+(?:\.\d+)?) (thousand|million|billion)\b", scale, text)
    for symbol, code in _CURRENCY:
        text = re.sub(re.escape(symbol) + r"\s?(\d+(?:\.\d+)?)", rf"\1 {code}", text)
    text = re.sub(r"\b(gbp|eur|usd)\s?(\d+(?:\.\d+)?)", r"\2 \1", text)
    text = re.sub(r"\bpounds?( sterling)?\b", "gbp", text)
    text = re.sub(r"\beuros?\b", "eur", text)
    text = re.sub(r"\bdollars?\b", "usd", text)
    text = re.sub(r"(?<=\d)-(?=[a-z%°])", " ", text)
    for pattern, unit in _UNIT_RES:
        text = pattern.sub(unit, text)
    text = re.sub(r"\d+\.\d+", lambda m: _number(m.group(0)), text)
    words = [_NUMBER_WORDS.get(w, w) for w in text.split()]
    return " ".join(words)


def contains(haystack: str, needle: str) -> bool:
    """Whether ``needle`` occurs in ``haystack`` once both are canonical: a number needs a
    boundary on both sides ("3" is not in "34"); a word needs one at its start and may run on
    ("eradicat" is in "eradicated")."""
    needle = canonical(needle)
    haystack = canonical(haystack)
    if not needle:
        return False
    pattern = re.escape(needle)
    if needle[0].isalnum():
        pattern = r"(?<![0-9a-z])" + pattern
    if needle[-1].isdigit():
        pattern = pattern + r"(?![0-9]|\.\d)"
    return re.search(pattern, haystack) is not None


def says_no_evidence(text: str) -> bool:
    """Whether a report states that no (supporting) evidence was found."""
    return bool(_NO_EVIDENCE.search(text))


def says_missing(text: str) -> bool:
    """Whether an answer says the corpus does not hold what was asked."""
    return bool(_MISSING.search(normalize(text)))


_YES_NO = {"yes", "no"}


def short_answer_holds(short: str, expected: Sequence[str], *, unanswerable: bool = False) -> tuple[bool, list[str]]:
    """The strict test: whether the short answer holds every expected value (a yes/no value
    must be the answer's first word); for an unanswerable question, whether it says the corpus
    does not contain the answer. Returns the verdict and the values it lacks."""
    if unanswerable:
        return (says_missing(short), [] if says_missing(short) else ["(says the corpus does not contain it)"])
    missing: list[str] = []
    for i, value in enumerate(expected):
        if i == 0 and value.strip().lower() in _YES_NO:
            first = re.match(r"\W*([a-z]+)", normalize(short))
            if not first or first.group(1) != value.strip().lower():
                missing.append(value)
            continue
        if not contains(short, value):
            missing.append(value)
    return (not missing and bool(expected), missing)


# --------------------------------------------------------------------------- grounding
_STOP = frozenset(
    "the a an and or of to in on at by for from with as is are was were be been being it its this that these those "
    "which who whom what when where why how has have had do does did not no but than then so such into over under "
    "about after before per also there their they them he she his her we our you your can could will would may might "
    "all any each more most other some only same very between during up down out new one".split()
)
_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word[0].isdigit():
            return word[: -len(suffix)]
    return word


def terms(text: str) -> set[str]:
    """Content terms of a text: lower-case words and numbers, stop words out, plural and
    tense endings cut."""
    words = _WORD.findall(normalize(text))
    return {_stem(w) for w in words if w not in _STOP and (len(w) > 2 or w[0].isdigit())}


def sentences(text: str) -> list[str]:
    """Sentences of a report body: split at line ends and after ., ! or ? before a space."""
    out: list[str] = []
    for line in text.splitlines():
        out += [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9*\[(])", line) if s.strip()]
    return out


def grounded(citing: Sequence[str], passage: str) -> bool:
    """Whether every citing sentence has at least ``GROUNDING`` of its content terms in the passage."""
    if not citing:
        return False
    have = terms(passage)
    for sentence in citing:
        want = terms(sentence)
        if want and len(want & have) / len(want) < GROUNDING:
            return False
    return True

"""When two answers say the same thing: normalisation for consensus (numbers written any way:
``1,000``, ``1000.0``, ``one thousand``, ``1.5 million``; case, whitespace, punctuation; units
where given: ``5 km`` == ``5000 m``, ``45,000 m³`` == ``45000 cubic metres``, ``50%`` ==
``50 percent``) and ``agreement``, the one measure of how many answers agree. Planners,
selection policies and verifiers all use it, so they never disagree on what "equal" means."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from agentloom.citations import CITE_MARKER

__all__ = ["agreement", "answer_key", "extract_answer", "parse_quantity", "parse_number", "words_to_number"]

_SMALL = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000, "trillion": 10**12}

#: unit word -> (dimension, factor to the dimension's base unit)
_UNITS: dict[str, tuple[str, float]] = {}
for _names, _dim, _factor in (
    ("km kms kilometer kilometers kilometre kilometres", "length", 1000.0),
    ("m meter meters metre metres", "length", 1.0),
    ("cm centimeter centimeters centimetre centimetres", "length", 0.01),
    ("mm millimeter millimeters millimetre millimetres", "length", 0.001),
    ("mi mile miles", "length", 1609.344),
    ("ft foot feet", "length", 0.3048),
    ("in inch inches", "length", 0.0254),
    ("kg kgs kilogram kilograms", "mass", 1000.0),
    ("g gram grams", "mass", 1.0),
    ("mg milligram milligrams", "mass", 0.001),
    ("lb lbs pound pounds", "mass", 453.59237),
    ("t tonne tonnes", "mass", 1_000_000.0),
    ("s sec secs second seconds", "time", 1.0),
    ("min mins minute minutes", "time", 60.0),
    ("h hr hrs hour hours", "time", 3600.0),
    ("day days", "time", 86400.0),
    ("% percent per-cent pct", "percent", 1.0),
    ("$ usd dollar dollars", "usd", 1.0),
    ("€ eur euro euros", "eur", 1.0),
    ("£ gbp", "gbp", 1.0),
    ("m³ m3 cubic-metre cubic-metres cubic-meter cubic-meters", "volume", 1.0),
    ("km³ km3 cubic-kilometre cubic-kilometres cubic-kilometer cubic-kilometers", "volume", 1e9),
    ("cm³ cm3 cc cubic-centimetre cubic-centimetres cubic-centimeter cubic-centimeters", "volume", 1e-6),
    ("l litre litres liter liters", "volume", 0.001),
    ("ml millilitre millilitres milliliter milliliters", "volume", 1e-6),
    ("m² m2 square-metre square-metres square-meter square-meters sqm", "area", 1.0),
    ("km² km2 square-kilometre square-kilometres square-kilometer square-kilometers sqkm", "area", 1e6),
    ("ha hectare hectares", "area", 1e4),
):
    for _name in _names.split():
        _UNITS[_name.replace("-", " ")] = (_dim, _factor)
_UNITS["per cent"] = ("percent", 1.0)

_PREFIXES = re.compile(
    r"^(?:so,?\s+)?(?:the\s+)?(?:final\s+)?(?:answer|result|solution)\s*(?:is|:|=)\s*|^[a-z]\s*=\s*", re.I
)
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_ANSWER_LINE = re.compile(r"(?:final\s+answer|answer)\s*(?:is|:)\s*(.+)", re.I)
_NUM = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e[-+]?\d+)?|[-+]?\.\d+"
_QUANTITY = re.compile(
    rf"^(?P<pre>[$€£])?\s*(?P<num>{_NUM})\s*(?:(?P<scale>thousand|million|billion|trillion|bn|k)\b)?\s*"
    rf"(?P<unit>%|per cent|(?:cubic|square)\s+[a-z]+|[a-z€$£-]+[²³23]?)?$",
    re.I,
)


def words_to_number(text: str) -> float | None:
    """``"one thousand two hundred"`` -> 1200; None when ``text`` is not a number in words."""
    words = [w for w in re.split(r"[\s-]+", text.lower().strip()) if w and w != "and"]
    if not words:
        return None
    sign = 1
    if words[0] in ("minus", "negative"):
        sign, words = -1, words[1:]
    if words and words[0] == "a":
        words = ["one", *words[1:]]
    total, group, seen = 0, 0, False
    for word in words:
        if word in _SMALL:
            group += _SMALL[word]
        elif word == "hundred":
            group = (group or 1) * 100
        elif word in _SCALES:
            total += (group or 1) * _SCALES[word]
            group = 0
        else:
            return None
        seen = True
    return float(sign * (total + group)) if seen else None


def _split_unit(text: str) -> tuple[str, str | None, str | None]:
    """Peel a currency symbol and a trailing unit off ``text``: (number part, prefix, unit)."""
    prefix = text[0] if text[:1] in ("$", "€", "£") else None
    body = text[1:].strip() if prefix else text
    for unit in sorted(_UNITS, key=len, reverse=True):
        if body.lower().endswith(" " + unit) or (unit in ("%", "$") and body.endswith(unit)):
            return body[: len(body) - len(unit)].strip(), prefix, unit
    return body, prefix, None


def parse_number(text: str) -> float | None:
    """A bare number in digits or words (``1,000``, ``1e3``, ``one thousand``), else None."""
    quantity = parse_quantity(text)
    return quantity[1] if quantity is not None and quantity[0] == "" else None


def parse_quantity(text: str) -> tuple[str, float] | None:
    """``(dimension, value in the base unit)`` for a number with an optional unit; None otherwise.

    A plain number has dimension ``""``. ``5 km`` -> ("length", 5000.0); ``50%`` -> ("percent", 50.0).
    """
    text = text.strip().rstrip(".").strip()
    if not text:
        return None
    match = _QUANTITY.match(text)
    if match:
        value = float(match.group("num").replace(",", ""))
        scale = (match.group("scale") or "").lower()
        value *= {"": 1, "thousand": 1e3, "k": 1e3, "million": 1e6, "bn": 1e9, "billion": 1e9, "trillion": 1e12}[scale]
        unit = " ".join((match.group("unit") or "").lower().split())
        dim, factor = "", 1.0
        if unit:
            # an unknown unit word ("12 apples") is its own dimension, singular
            dim, factor = _UNITS.get(unit, (unit[:-1] if unit.endswith("s") and len(unit) > 3 else unit, 1.0))
        if match.group("pre"):
            pre_dim = _UNITS[match.group("pre")][0]
            if dim and dim != pre_dim:
                return None
            dim = pre_dim
        return dim, value * factor
    number_part, prefix, word_unit = _split_unit(text)
    value_w = words_to_number(number_part)
    if value_w is None:
        return None
    dim, factor = ("", 1.0) if word_unit is None else _UNITS[word_unit.lower()]
    if prefix:
        dim = _UNITS[prefix][0]
    return dim, value_w * factor


def extract_answer(text: str | None) -> str:
    """The final answer inside a longer text: ``\\boxed{...}``, the last ``Answer: ...`` line,
    else the whole text."""
    text = (text or "").strip()
    boxed = _BOXED.findall(text)
    if boxed:
        return boxed[-1].strip()
    lines = [m.group(1).strip() for m in _ANSWER_LINE.finditer(text)]
    return lines[-1] if lines else text


def _format(value: float) -> str:
    if value == 0:
        return "0"
    text = f"{value:.9g}"
    if "e" not in text and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def answer_key(text: str | None, *, units: bool = True) -> str:
    """A canonical key: equal keys mean equivalent answers. Numbers (with units when
    ``units``) become ``num:<dimension>:<value>``; other text is lower-cased with articles,
    punctuation and extra whitespace removed."""
    answer = extract_answer(text)
    answer = CITE_MARKER.sub(" ", answer)
    answer = _PREFIXES.sub("", answer.strip()).strip()
    answer = answer.strip(" .!?;:\"'`*").strip()
    quantity = parse_quantity(answer)
    if quantity is not None:
        dim, value = quantity
        if not units:
            dim = ""
        return f"num:{dim}:{_format(value)}"
    lowered = answer.lower()
    lowered = re.sub(r"[^\w\s%$€£.-]", " ", lowered)
    lowered = re.sub(r"(?<!\d)[.-]|[.-](?!\d)", " ", lowered)
    words = [w for w in lowered.split() if w not in ("a", "an", "the")]
    return "text:" + " ".join(words)


def _answer_text(answer: Any) -> str:
    """The text an answer is compared by: a candidate's ``final_answer()``, else ``str``."""
    final = getattr(answer, "final_answer", None)
    if callable(final):
        return str(final())
    return "" if answer is None else str(answer)


def _default_key(answer: Any) -> str | None:
    text = _answer_text(answer)
    return answer_key(text) if text.strip() else None


def agreement(answers: Sequence[Any], key: Callable[[Any], str | None] | None = None) -> tuple[float, str | None]:
    """The share of the answered ``answers`` in the largest cluster of equivalent answers, and
    that cluster's answer (as its first member wrote it; None on a tie); ``(0.0, None)`` when
    nothing was answered. Answers are strings or candidates (their ``final_answer()``); blank
    ones do not count. ``key`` (default: the unit-aware ``answer_key``) decides equivalence."""
    groups: dict[str, list[Any]] = {}
    for answer in answers:
        k = (key or _default_key)(answer)
        if k is not None:
            groups.setdefault(k, []).append(answer)
    answered = sum(len(g) for g in groups.values())
    if not answered:
        return 0.0, None
    sizes = sorted((len(g) for g in groups.values()), reverse=True)
    top = max(groups.values(), key=len)
    majority = None if len(sizes) > 1 and sizes[0] == sizes[1] else _answer_text(top[0]).strip()
    return sizes[0] / answered, majority

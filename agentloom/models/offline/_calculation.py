"""Arithmetic for the offline ``act`` policy: an expression written in the question, the
calculator expression a sum, difference or ratio question needs from the figures the sources
give, and the ``Computed:`` line for a calculator result."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentloom.models.offline import _text
from agentloom.models.offline._evidence import Candidate, Exchange, Question, Ranker, dated

__all__ = [
    "EXPLICIT",
    "calculated",
    "calculation_line",
    "explicit_expression",
    "plan_calculation",
]

EXPLICIT = re.compile(
    r"\(?\s*-?\d[\d,]*(?:\.\d+)?\s*\)?(?:(?:\s*[+*/×÷^]\s*|\s+-\s+)\(?\s*-?\d[\d,]*(?:\.\d+)?\s*\)?)+"
)
_SUM = re.compile(r"\b(combined|in total|total|together|sum|altogether|in all|add up)\b")
#: Comparatives that ask how two quantities differ ("how much taller", "how many more").
_COMPARATIVES = (
    "larger bigger more less fewer smaller higher lower longer shorter greater cheaper dearer taller older younger "
    "newer heavier lighter wider narrower deeper shallower faster slower farther further earlier later"
)
_ALTERNATIVES = _COMPARATIVES.replace(" ", "|")
_RATIO = re.compile(rf"\b(ratio|times (as|{_ALTERNATIVES})|how many times (as|{_ALTERNATIVES}))\b")
_DIFFERENCE = re.compile(
    rf"\b(difference|how much ({_ALTERNATIVES})|"
    r"how many (more|fewer)|more than|less than|exceed)"
)
_COMPARE = re.compile(r"\b(which|compare[sd]?|comparison|versus|vs)\b")
_COMPARE_ALONE = re.compile(r"\b(compare[sd]?|comparison|versus|vs)\b")
_COMPARATIVE = re.compile(r"\b(larger|largest|bigger|biggest|more|higher|highest|greater|smaller|smallest|less|lower|longer|shorter)\b")


def explicit_expression(text: str) -> str | None:
    """An arithmetic expression written in the question ("What is 1,200 - 800?"), normalised for
    the calculator, or None."""
    best = ""
    for match in EXPLICIT.finditer(text):
        candidate = match.group(0).strip()
        if len(candidate) > len(best):
            best = candidate
    if not best:
        return None
    expr = best.replace(",", "").replace("×", "*").replace("÷", "/").replace("^", "**")
    if expr.count("(") != expr.count(")"):
        expr = expr.replace("(", "").replace(")", "")
    return " ".join(expr.split())


def _operation(question: Question) -> str | None:
    lower = question.text.lower()
    if _RATIO.search(lower):
        return "ratio"
    if _DIFFERENCE.search(lower):
        return "difference"
    if _SUM.search(lower):
        return "sum"
    if _COMPARE_ALONE.search(lower) or (_COMPARE.search(lower) and _COMPARATIVE.search(lower)):
        return "difference"
    return None


@dataclass(slots=True)
class _Figure:
    value: float
    unit: str
    score: float
    source: Candidate
    year: int = 0
    named: bool = False
    alone: bool = False
    distance: int = 0


def _mentions(text: str, target_terms: frozenset[str]) -> list[int]:
    """Character positions of the words of ``text`` that belong to a target's name."""
    return [m.start() for m in re.finditer(r"[A-Za-z0-9]+", text) if _text.stem(m.group(0).lower()) in target_terms]


def _figures(question: Question, ranker: Ranker) -> list[list[_Figure]]:
    """Numbers the sources give for each target, with their unit (the word after the number),
    whether the sentence names the target itself and whether it is about that target alone."""
    per_target: list[list[_Figure]] = [[] for _ in question.targets]
    asked = set(_text.numbers(question.text))
    for item in ranker.ranked():
        if item.score <= 0 or not item.targets or not item.candidate.complete:
            continue
        text = item.candidate.text
        spans = _text.number_spans(text)
        if not spans:
            continue
        positions = {i: _mentions(text, question.targets[i].terms) for i in item.targets}
        kept = [
            (value, start, end, _text.unit_after(text, end))
            for value, start, end in spans
            if value not in asked and (question.wants_year or not (value.is_integer() and 1800 <= value <= 2100))
        ]
        parallel = _parallel_owners(kept, positions)
        for value, start, _end, unit in kept:
            if len(item.targets) == 1:
                owner = next(iter(item.targets))
            elif start in parallel:
                owner = parallel[start]
            else:
                owner = _nearest_owner(positions, start)
            if any(str(_text.format_number(value)) in t for t in question.targets[owner].required):
                continue  # "3" in "Route 9" is a name, not a figure
            per_target[owner].append(
                _Figure(
                    value,
                    unit,
                    item.score,
                    item.candidate,
                    dated(item.candidate),
                    named=owner in ranker.named(item.candidate),
                    alone=len(item.targets) == 1,
                    distance=min((abs(p - start) for p in positions.get(owner, [])), default=10**6),
                )
            )
    return per_target


def _nearest_owner(positions: dict[int, list[int]], at: int) -> int:
    """The target named nearest before position ``at`` (else nearest after it)."""

    def distance(i: int) -> tuple[int, int, int]:
        before = [at - p for p in positions[i] if p <= at]
        after = [p - at for p in positions[i] if p > at]
        return (0, min(before), i) if before else (1, min(after) if after else 10**9, i)

    return min(positions, key=distance)


def _parallel_owners(
    figures: list[tuple[float, int, int, str]], positions: dict[int, list[int]]
) -> dict[int, int]:
    """Owners of numbers in a parallel construction: when a sentence names k targets and gives
    exactly k numbers in one unit ("A is less than half the length of B (180 metres against 420
    metres)"), the numbers go to the targets in the order the targets are named."""
    named = [i for i in positions if positions[i]]
    if len(named) < 2:
        return {}
    order = sorted(named, key=lambda i: min(positions[i]))
    by_unit: dict[str, list[int]] = {}
    for _, start, _, unit in figures:
        by_unit.setdefault(unit, []).append(start)
    owners: dict[int, int] = {}
    for starts in by_unit.values():
        if len(starts) == len(order):
            owners.update(zip(sorted(starts), order, strict=True))
    return owners


def plan_calculation(question: Question, ranker: Ranker) -> tuple[str, list[Candidate]] | None:
    """The calculator expression a comparison, difference, sum or ratio question needs, built
    from one figure per target in a unit they all share (the measure the question asks for, when
    it asks for one: "combined length" adds km, not stops), with the sentences the figures came
    from; None when the question asks for no arithmetic or the figures are not known yet."""
    operation = _operation(question)
    if operation is None or len(question.targets) < 2:
        return None
    per_target = _figures(question, ranker)
    if any(not figures for figures in per_target):
        return None
    units = set.intersection(
        *({f.unit for f in figures if question.gives_measure(f.value, f.unit)} for figures in per_target)
    )
    if len(units) > 1:
        units.discard("")  # a figure with no unit word is the weakest match for another's
    if not units:
        return None

    def strength(unit: str) -> float:
        return sum(max(f.score for f in figures if f.unit == unit) for figures in per_target)

    unit = max(sorted(units), key=strength)

    def pick(figures: list[_Figure]) -> _Figure:
        # a sentence about this target alone beats one about several, one naming it beats one
        # only near it; among well-supported figures the most recently dated wins (values change
        # over time), then the one written closest to the target's name
        pool = [f for f in figures if f.unit == unit]
        pool = [f for f in pool if f.alone] or pool
        pool = [f for f in pool if f.named] or pool
        best = max(f.score for f in pool)
        close = [f for f in pool if f.score >= 0.5 * best]
        return max(close, key=lambda f: (f.year, f.score, -f.distance, -f.source.order))

    chosen = [pick(figures) for figures in per_target]
    if len({(f.source.text, f.value) for f in chosen}) < len(chosen):
        return None  # one figure claimed by two targets: the sources do not tell them apart
    values = [_text.format_number(f.value) for f in chosen]
    if operation == "sum":
        expression = " + ".join(values)
    elif operation == "ratio":
        expression = f"{values[0]} / {values[1]}"
        chosen = chosen[:2]
    else:
        first, second = sorted(chosen[:2], key=lambda f: -f.value)
        expression = f"{_text.format_number(first.value)} - {_text.format_number(second.value)}"
        chosen = [first, second]
    return expression, [f.source for f in chosen]


def calculated(found: list[Exchange]) -> bool:
    return any(ex.call.name == "calculator" for ex in found)


def calculation_line(found: list[Exchange]) -> tuple[str, str] | None:
    """``(expression, "Computed: ... = ...")`` for the last successful calculator result."""
    for ex in reversed(found):
        if ex.call.name != "calculator" or not ex.ok:
            continue
        expression = next((v for v in ex.args.values() if isinstance(v, str)), None)
        value = ex.value
        if isinstance(value, dict):
            value = next((value[k] for k in ("value", "result", "answer") if k in value), None)
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                value = None
        if expression and isinstance(value, int | float) and not isinstance(value, bool):
            return expression, f"Computed: {expression} = {_text.format_number(float(value))}."
    return None

"""Offline ``act``: a deterministic tool-using policy that searches, reads and answers extractively.

Turn 1 searches for the whole question, for each thing it names and, when a source may word
what is asked differently ("population" -> people, residents), for each thing with those words
(up to the turn's width, read from the Agent's ``Tool-call width this turn: N`` line). Later
turns read passages whose search snippets were cut off (the searches in other words wait while
there is something to read), run the searches that did not fit, and compute with the
``calculator`` when the question asks for a sum, difference ("how much taller", "how many
more") or ratio of figures the sources gave for its targets in one unit. No call is ever
repeated. The answer is made only of sentences from the tool results, chosen by
``_evidence.select``, each followed by its passage's citation marker, plus a ``Computed:`` line
for a calculation; with nothing relevant it says that no supporting evidence was found.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from agentloom.citations import Citation
from agentloom.models.offline import _text
from agentloom.models.offline._evidence import (
    FRAME_WORDS,
    Candidate,
    Exchange,
    Question,
    Ranker,
    answered_targets,
    calls_made,
    candidates_from,
    dated,
    exchanges,
    find_question,
    no_evidence,
    passages_in,
    select,
)
from agentloom.models.types import Completion, ModelRequest, ToolCall
from agentloom.tools.base import canonical_args

__all__ = ["answer", "explicit_expression", "plan_calculation", "respond", "search_queries", "structured", "tool_width"]

DEFAULT_WIDTH = 3
#: Tool turns after which the policy answers with what it has.
MAX_TOOL_TURNS = 6
_WIDTH_LINE = re.compile(r"tool-call width this turn:\s*(\d+)", re.I)
_SEARCH_TOOLS = ("corpus_search", "web_search")
_EXPLICIT = re.compile(
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


# --------------------------------------------------------------------------- entry point
def respond(request: ModelRequest) -> Completion:
    """The next step for an agent turn: tool calls while there is something useful to look up,
    then an extractive, cited answer."""
    question = Question.parse(find_question(request))
    found = exchanges(request.messages)
    passages, order = passages_in(found)
    tools = _tool_schemas(request)
    turns = sum(1 for m in request.messages if m.role == "assistant" and m.tool_calls)
    max_turns = int(request.metadata.get("max_turns") or MAX_TOOL_TURNS)
    ranker = Ranker(question, candidates_from(passages, order))
    if tools and question.text and turns < max_turns and request.output_type is None:
        calls = _next_calls(request, question, tools, found, passages, ranker, turns)
        if calls:
            return Completion(text=None, tool_calls=calls, finish_reason="tool_calls")
    text = answer(question, found, passages, order, ranker=ranker)
    if request.output_type is not None:
        return Completion(text=json.dumps(structured(request.output_type, question, text)), finish_reason="stop")
    return Completion(text=text, finish_reason="stop")


def structured(output_type: type[BaseModel], question: Question, text: str) -> dict[str, Any]:
    """The answer shaped as ``output_type``'s JSON: string fields get the answer (a field named
    like "question" gets the question), string lists get its sentences (or, for fields about
    citations or sources, the cited ids), numbers get the computed value or the answer's first
    figure, booleans say whether evidence was found. Unknown shapes are left out, so the
    model's validation reports them rather than this handler inventing values."""
    schema = output_type.model_json_schema()
    found = not text.startswith(no_evidence(question.text)[:40])
    computed = re.search(r"Computed: .* = (-?[\d.]+)\.$", text)
    figures = [v for v in _text.numbers(text) if not (v.is_integer() and 1800 <= v <= 2100)]
    number = float(computed.group(1)) if computed else (figures[0] if figures else None)
    out: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        kind = prop.get("type") or next((a.get("type") for a in prop.get("anyOf", []) if a.get("type") != "null"), None)
        lowered = name.lower()
        if kind == "string":
            out[name] = question.text if "question" in lowered else text
        elif kind == "array" and (prop.get("items") or {}).get("type") == "string":
            if any(w in lowered for w in ("citation", "source", "reference")) or lowered == "ids" or lowered.endswith("_ids"):
                out[name] = [m.strip("[]") for m in _text.markers(text)]
            else:
                out[name] = [s for s in _text.sentences(text)]
        elif kind in ("number", "integer") and number is not None:
            out[name] = int(number) if kind == "integer" and float(number).is_integer() else number
        elif kind == "boolean":
            out[name] = found
    return out


def tool_width(request: ModelRequest) -> int:
    """How many tool calls this turn may make: the Agent's ``Tool-call width this turn: N`` line
    (the last one in the system messages), else ``metadata["width"]``, else 3."""
    for message in reversed(request.messages):
        if message.role == "system" and message.content:
            found = _WIDTH_LINE.findall(message.content)
            if found:
                return max(1, int(found[-1]))
    hint = request.metadata.get("width")
    if isinstance(hint, int) and hint > 0:
        return hint
    return DEFAULT_WIDTH


# --------------------------------------------------------------------------- tools
def _tool_schemas(request: ModelRequest) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for entry in request.tools:
        fn = entry.get("function", entry) if isinstance(entry, dict) else {}
        name = fn.get("name")
        if isinstance(name, str):
            out[name] = fn.get("parameters") or {}
    return out


def _arg_name(schema: dict[str, Any], preferred: str) -> str:
    """The tool's argument for a value: ``preferred`` when the schema has it, else its first
    required (or first) string parameter."""
    props = schema.get("properties") or {}
    if preferred in props or not props:
        return preferred
    strings = [k for k, v in props.items() if isinstance(v, dict) and v.get("type") == "string"]
    required = [k for k in schema.get("required") or [] if k in strings]
    return (required or strings or [preferred])[0]


def _call_id(turn: int, index: int, name: str, args: dict[str, Any]) -> str:
    digest = hashlib.sha1(f"{name}\x00{canonical_args(args)}".encode()).hexdigest()[:8]
    return f"call_{turn}_{index}_{digest}"


def _next_calls(
    request: ModelRequest,
    question: Question,
    tools: dict[str, dict[str, Any]],
    found: list[Exchange],
    passages: dict[str, Citation],
    ranker: Ranker,
    turn: int,
) -> list[ToolCall]:
    """The calls worth making now, in priority order, never repeating one already made."""
    done = calls_made(request.messages)
    wanted: list[tuple[str, dict[str, Any]]] = []
    wanted += _memory_calls(request, tools)
    calculator = "calculator" in tools
    if calculator:
        explicit = explicit_expression(question.text)
        if explicit:
            wanted.append(("calculator", {_arg_name(tools["calculator"], "expression"): explicit}))
    searches = _search_calls(question, tools)
    if not found:
        wanted += searches
    else:
        enough = _enough(question, ranker)
        reads = _read_calls(question, ranker, passages, tools)
        # the searches in the source's own words wait while there are passages to read in full
        primary = _search_calls(question, tools, related=False) if reads else searches
        pending = [call for call in primary if (call[0], canonical_args(call[1])) not in done] if not enough else []
        if calculator and not _calculated(found) and not pending and not reads:
            # compute once the searches are in, so the figures are the best the sources give
            plan = plan_calculation(question, ranker)
            if plan is not None:
                wanted.append(("calculator", {_arg_name(tools["calculator"], "expression"): plan[0]}))
        wanted += reads
        wanted += pending
    calls: list[ToolCall] = []
    seen = set(done)
    width = tool_width(request)
    for name, args in wanted:
        key = (name, canonical_args(args))
        if key in seen or name not in tools:
            continue
        seen.add(key)
        calls.append(ToolCall(_call_id(turn, len(calls), name, args), name, json.dumps(args, ensure_ascii=False)))
        if len(calls) >= width:
            break
    return calls


def _memory_calls(request: ModelRequest, tools: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    if "memory_read" not in tools:
        return []
    try:
        from agentloom.models.offline.memory_hints import memory_read_calls
    except ImportError:
        return []
    out: list[tuple[str, dict[str, Any]]] = []
    for call in memory_read_calls(request):
        try:
            out.append((call.name, call.args()))
        except ValueError:
            continue
    return out


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
    those words ("Marrowick people residents inhabitants"; left out with ``related=False``),
    without two queries of the same words. An arithmetic expression written in the
    question is left out; a question that is only arithmetic needs no search."""
    expression = _EXPLICIT.search(question.text)
    if expression is not None and not _words(_EXPLICIT.sub(" ", question.text)):
        return []
    whole = _words(_EXPLICIT.sub(" ", question.text))[:12]
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


def _search_calls(
    question: Question, tools: dict[str, dict[str, Any]], *, related: bool = True
) -> list[tuple[str, dict[str, Any]]]:
    available = [name for name in _SEARCH_TOOLS if name in tools]
    if not available:
        return []
    queries = search_queries(question, related=related)
    primary = available[0]
    out: list[tuple[str, dict[str, Any]]] = []
    for i, query in enumerate(queries):
        out.append((primary, {_arg_name(tools[primary], "query"): query}))
        if i == 0 and len(available) > 1:  # both corpus and web: the whole question goes to both
            out.append((available[1], {_arg_name(tools[available[1]], "query"): query}))
    return out


def _read_calls(
    question: Question, ranker: Ranker, passages: dict[str, Citation], tools: dict[str, dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    """read_passage for passages cut off with "…" whose visible text is relevant, best first."""
    if "read_passage" not in tools:
        return []
    arg = _arg_name(tools["read_passage"], "id")
    best: dict[str, float] = {}
    for item in ranker.ranked():
        pid = item.candidate.source
        citation = passages.get(pid)
        if citation is None or not _truncated(citation.text) or pid.startswith("w_"):
            continue
        if item.coverage >= 0.2 or item.targets:
            best[pid] = max(best.get(pid, 0.0), item.score)
    return [("read_passage", {arg: pid}) for pid in sorted(best, key=lambda p: -best[p])]


def _truncated(text: str) -> bool:
    stripped = text.rstrip()
    return stripped.endswith("…") or stripped.endswith("...")


def _enough(question: Question, ranker: Ranker) -> bool:
    """Whether the evidence already answers every part: a selection exists and it answers every
    target the question has (with a figure, when one is asked)."""
    chosen = select(ranker)
    if not chosen:
        return False
    answered = answered_targets(question, chosen)
    return all(i in answered for i in range(len(question.targets)))


# --------------------------------------------------------------------------- arithmetic
def explicit_expression(text: str) -> str | None:
    """An arithmetic expression written in the question ("What is 1,200 - 800?"), normalised for
    the calculator, or None."""
    best = ""
    for match in _EXPLICIT.finditer(text):
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
                continue  # "3" in "Line 3" is a name, not a figure
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


def _calculated(found: list[Exchange]) -> bool:
    return any(ex.call.name == "calculator" for ex in found)


def _calculation_line(found: list[Exchange]) -> tuple[str, str] | None:
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


# --------------------------------------------------------------------------- the answer
def answer(
    question: Question,
    found: list[Exchange],
    passages: dict[str, Citation],
    order: dict[str, int],
    *,
    ranker: Ranker | None = None,
) -> str:
    """The extractive answer: the best sentences from the tool results, each followed by its
    passage's marker, and the computation when one was made; else the no-evidence line.
    ``ranker`` may carry the candidates already ranked for this question."""
    if ranker is None:
        ranker = Ranker(question, candidates_from(passages, order))
    candidates = ranker.candidates
    calculation = _calculation_line(found)
    require: list[Candidate] = []
    if calculation is not None:
        plan = plan_calculation(question, ranker)
        if plan is not None and " ".join(plan[0].split()) == " ".join(calculation[0].split()):
            require = plan[1]
    chosen = select(ranker, require=require) if candidates else []
    if not chosen:
        if calculation is not None and not search_queries(question):
            return calculation[1]  # the question was only arithmetic
        return no_evidence(question.text)
    lines = [f"{item.candidate.text} [{item.candidate.source}]" for item in chosen]
    if calculation is not None:
        lines.append(calculation[1])
    return " ".join(lines)

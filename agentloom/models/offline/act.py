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
from typing import Any

from pydantic import BaseModel

from agentloom.citations import Citation
from agentloom.models.offline import _text
from agentloom.models.offline._calculation import (
    calculated,
    calculation_line,
    explicit_expression,
    plan_calculation,
)
from agentloom.models.offline._evidence import (
    Candidate,
    Exchange,
    Question,
    Ranker,
    answered_targets,
    calls_made,
    candidates_from,
    exchanges,
    find_question,
    no_evidence,
    passages_in,
    select,
)
from agentloom.models.offline._queries import search_queries
from agentloom.models.types import Completion, ModelRequest, ToolCall, canonical_args

__all__ = ["answer", "explicit_expression", "plan_calculation", "respond", "search_queries", "structured", "tool_width"]

DEFAULT_WIDTH = 3
#: Tool turns after which the policy answers with what it has.
MAX_TOOL_TURNS = 6
_WIDTH_LINE = re.compile(r"tool-call width this turn:\s*(\d+)", re.I)
_SEARCH_TOOLS = ("corpus_search", "web_search")


# --------------------------------------------------------------------------- entry point
def respond(request: ModelRequest) -> Completion:
    """The next step for an agent turn: tool calls while there is something useful to look up,
    then an extractive, cited answer."""
    question = Question.parse(find_question(request))
    found = exchanges(request.messages)
    passages, order = passages_in(found)
    tools = _tool_schemas(request)
    turns = sum(1 for m in request.messages if m.role == "assistant" and m.tool_calls)
    ranker = Ranker(question, candidates_from(passages, order))
    if tools and question.text and turns < MAX_TOOL_TURNS and request.output_type is None:
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
    (the last one in the system messages), else 3."""
    for message in reversed(request.messages):
        if message.role == "system" and message.content:
            found = _WIDTH_LINE.findall(message.content)
            if found:
                return max(1, int(found[-1]))
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
        if calculator and not calculated(found) and not pending and not reads:
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
    calculation = calculation_line(found)
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

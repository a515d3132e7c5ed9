"""The offline ``act`` policy: what it searches, reads and computes, and that its answers are
made only of cited sentences from tool results."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from agentloom.models.base import call_model
from agentloom.models.offline import OfflineModel
from agentloom.models.offline._evidence import NO_EVIDENCE, Question
from agentloom.models.offline.act import explicit_expression, respond, search_queries, tool_width
from agentloom.models.types import Message, ModelRequest, ToolCall
from agentloom.tools.base import canonical_args
from tests.offline_loop import CORPUS, QUESTIONS, act_loop, claims, corpus_toolset, passage_holds


def _schema(name: str, **props: str) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": name,
            "parameters": {"type": "object", "properties": {k: {"type": v} for k, v in props.items()}, "required": list(props)[:1]},
        },
    }


SEARCH = _schema("corpus_search", query="string", k="integer")
READ = _schema("read_passage", id="string")
CALC = _schema("calculator", expression="string")
WEB = _schema("web_search", query="string")
TOOLS = [SEARCH, READ, CALC]


def passage(pid: str, path: str, text: str, line: int = 1) -> dict[str, Any]:
    return {"id": pid, "path": path, "line_start": line, "line_end": line + text.count("\n"), "text": text, "score": 1.0}


SALTMARSH = passage(
    "p_5a17000001",
    "saltmarsh_desalination_plant.md",
    "## Capacity\n\nThe Saltmarsh plant opened in 2018. After a membrane upgrade in 2021, its capacity is 62,000 "
    "cubic metres per day, the largest of the three plants.",
)
NORTHPOINT = passage(
    "p_0a7e000002",
    "northpoint_desalination_plant.md",
    "## Capacity\n\nNorthpoint can produce 45,000 cubic metres of drinking water per day. The plant employs 38 people.",
)
TRAMS = passage("p_7a40000003", "trams.md", "The tram network has three lines. Line 1 opened in 1998.")


def conversation(question: str, *rounds: list[tuple[str, dict[str, Any], Any]], width: int = 3) -> list[Message]:
    """System + user, then for each round one assistant turn with its calls and their results."""
    messages = [Message.system(f"Research carefully.\n\nTool-call width this turn: {width}"), Message.user(question)]
    for r, calls in enumerate(rounds):
        tool_calls = [ToolCall(f"c{r}_{i}", name, json.dumps(args)) for i, (name, args, _) in enumerate(calls)]
        messages.append(Message("assistant", None, tool_calls))
        for call, (_, _, value) in zip(tool_calls, calls, strict=True):
            content = value if isinstance(value, str) else json.dumps(value)
            messages.append(Message("tool", content, tool_call_id=call.id, name=call.name))
    return messages


def request(messages: list[Message], tools: list[dict[str, Any]] = TOOLS, **kw: Any) -> ModelRequest:
    return ModelRequest(messages=messages, tools=tools, purpose="act", **kw)


def made(messages: list[Message]) -> set[tuple[str, str]]:
    return {(c.name, canonical_args(c.args())) for m in messages for c in m.tool_calls}


# --------------------------------------------------------------------------- turn 1
def test_first_turn_searches_the_question_and_each_named_thing() -> None:
    q = "Which is larger, the Saltmarsh plant or the Northpoint plant?"
    out = respond(request(conversation(q, width=5)))
    assert out.text is None and out.finish_reason == "tool_calls"
    queries = [c.args()["query"] for c in out.tool_calls]
    assert all(c.name == "corpus_search" for c in out.tool_calls)
    assert len(queries) == 3 and len(set(queries)) == 3
    assert "Saltmarsh" in queries[0] and "Northpoint" in queries[0]
    assert any(q.startswith("Saltmarsh") for q in queries[1:]) and any(q.startswith("Northpoint") for q in queries[1:])
    assert all("larger" not in q and "Which" not in q for q in queries)


def test_width_comes_from_the_system_prompt_else_the_default_never_metadata() -> None:
    q = "Which is larger, the Saltmarsh plant or the Northpoint plant?"
    assert len(respond(request(conversation(q, width=1))).tool_calls) == 1
    bare = [Message.user(q)]
    assert tool_width(request(bare)) == 3
    assert tool_width(request(bare, metadata={"width": 2})) == 3  # no side channel: a real model never sees metadata


def test_web_search_is_used_when_it_is_the_only_search_and_alongside_the_corpus() -> None:
    q = "What is the capacity of the Saltmarsh plant?"
    only_web = respond(request(conversation(q), tools=[WEB]))
    assert [c.name for c in only_web.tool_calls] == ["web_search"] * len(only_web.tool_calls)
    both = respond(request(conversation(q, width=4), tools=[SEARCH, WEB]))
    names = [c.name for c in both.tool_calls]
    assert names[:2] == ["corpus_search", "web_search"]
    assert both.tool_calls[0].args() == both.tool_calls[1].args()


def test_unknown_tools_are_never_called() -> None:
    q = "What is the capacity of the Saltmarsh plant?"
    out = respond(request(conversation(q, width=8), tools=[_schema("spawn_thread", task="string"), SEARCH]))
    assert {c.name for c in out.tool_calls} == {"corpus_search"}


def test_an_explicit_expression_goes_to_the_calculator_without_searching() -> None:
    assert explicit_expression("What is 1,200 - 800 + 3 × 2?") == "1200 - 800 + 3 * 2"
    assert explicit_expression("Between 2019-2021 it grew") is None
    q = "What is 1,200 - 800?"
    first = respond(request(conversation(q)))
    assert [(c.name, c.args()) for c in first.tool_calls] == [("calculator", {"expression": "1200 - 800"})]
    done = conversation(q, [("calculator", {"expression": "1200 - 800"}, {"expression": "1200 - 800", "value": 400})])
    assert respond(request(done)).text == "Computed: 1200 - 800 = 400."


def test_memory_hint_calls_are_included_when_the_helper_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    hints = types.ModuleType("agentloom.models.offline.memory_hints")

    def memory_read_calls(req: ModelRequest) -> list[ToolCall]:
        return [ToolCall("m1", "memory_read", json.dumps({"id": "mem_1"}))]

    hints.memory_read_calls = memory_read_calls  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "agentloom.models.offline.memory_hints", hints)
    q = "What is the capacity of the Saltmarsh plant?"
    memory = _schema("memory_read", id="string")
    with_tool = respond(request(conversation(q), tools=[memory, SEARCH]))
    assert with_tool.tool_calls[0].name == "memory_read" and with_tool.tool_calls[0].args() == {"id": "mem_1"}
    without = respond(request(conversation(q), tools=[SEARCH]))
    assert "memory_read" not in {c.name for c in without.tool_calls}


# --------------------------------------------------------------------------- later turns
def test_later_turns_never_repeat_a_call() -> None:
    q = "Which is larger, the Saltmarsh plant or the Northpoint plant?"
    first = respond(request(conversation(q, width=1)))
    messages = conversation(q, [(c.name, c.args(), {"query": c.args()["query"], "results": []}) for c in first.tool_calls], width=1)
    seen = made(messages)
    for _ in range(6):
        out = respond(request(messages))
        if not out.tool_calls:
            break
        for call in out.tool_calls:
            key = (call.name, canonical_args(call.args()))
            assert key not in seen
            seen.add(key)
        messages.append(out.message())
        for call in out.tool_calls:
            messages.append(Message("tool", json.dumps({"query": "x", "results": []}), tool_call_id=call.id, name=call.name))
    else:
        pytest.fail("the policy kept calling tools")
    assert out.text == NO_EVIDENCE.format(question=q)


def test_truncated_hits_are_read_in_full_before_answering() -> None:
    q = "What is the capacity of the Saltmarsh plant?"
    snippet = dict(SALTMARSH, text=SALTMARSH["text"][:70].rstrip() + "…")
    messages = conversation(q, [("corpus_search", {"query": "capacity Saltmarsh plant"}, {"query": "q", "results": [snippet]})])
    out = respond(request(messages))
    assert [(c.name, c.args()) for c in out.tool_calls] == [("read_passage", {"id": SALTMARSH["id"]})]
    messages.append(out.message())
    messages.append(Message("tool", json.dumps(SALTMARSH), tool_call_id=out.tool_calls[0].id, name="read_passage"))
    final = respond(request(messages))
    assert not final.tool_calls
    assert "62,000 cubic metres per day" in (final.text or "")
    assert f"[{SALTMARSH['id']}]" in (final.text or "")


def test_a_difference_question_is_computed_from_the_figures_found() -> None:
    q = "How much larger is the capacity of the Saltmarsh Desalination Plant than that of the Northpoint Desalination Plant?"
    searched = conversation(
        q,
        [
            ("corpus_search", {"query": "Saltmarsh capacity"}, {"query": "q", "results": [SALTMARSH, TRAMS]}),
            ("corpus_search", {"query": "Northpoint capacity"}, {"query": "q", "results": [NORTHPOINT]}),
        ],
    )
    calc = respond(request(searched, metadata={"question": q}))
    # the planned searches not made yet come first; answer them empty, then the calculator follows
    while calc.tool_calls and calc.tool_calls[0].name != "calculator":
        searched.append(calc.message())
        for call in calc.tool_calls:
            searched.append(Message("tool", json.dumps({"query": "q", "results": []}), tool_call_id=call.id, name=call.name))
        calc = respond(request(searched, metadata={"question": q}))
    assert [(c.name, c.args()) for c in calc.tool_calls] == [("calculator", {"expression": "62000 - 45000"})]
    searched.append(calc.message())
    searched.append(Message("tool", json.dumps({"expression": "62000 - 45000", "value": 17000}), tool_call_id=calc.tool_calls[0].id, name="calculator"))
    final = respond(request(searched, metadata={"question": q}))
    text = final.text or ""
    assert not final.tool_calls
    assert text.endswith("Computed: 62000 - 45000 = 17000.")
    assert "62,000 cubic metres per day" in text and "45,000 cubic metres" in text
    assert "tram" not in text


def test_answers_are_cited_sentences_of_the_tool_results_only() -> None:
    q = "What is the capacity of the Saltmarsh plant?"
    messages = conversation(
        q,
        [
            ("corpus_search", {"query": "capacity Saltmarsh plant"}, {"query": "q", "results": [SALTMARSH, NORTHPOINT, TRAMS]}),
            ("corpus_search", {"query": "Saltmarsh"}, json.dumps({"error": "index busy", "type": "ToolError"})),
        ],
    )
    text = respond(request(messages)).text or ""
    by_id = {p["id"]: p for p in (SALTMARSH, NORTHPOINT, TRAMS)}
    found = claims(text)
    assert found and "62,000" in text
    for sentence, ids in found:
        assert len(ids) == 1, sentence
        assert " ".join(sentence.split()) in " ".join(by_id[ids[0]]["text"].split())


def test_no_relevant_passage_gives_the_no_evidence_answer() -> None:
    q = "What is the seating capacity of the Marrowick opera house?"
    messages = conversation(q, [("corpus_search", {"query": "seating capacity opera house"}, {"query": "q", "results": [TRAMS, NORTHPOINT]})])
    for _ in range(4):
        out = respond(request(messages))
        if not out.tool_calls:
            break
        messages.append(out.message())
        for call in out.tool_calls:
            messages.append(Message("tool", json.dumps({"query": "q", "results": []}), tool_call_id=call.id, name=call.name))
    assert out.text == f"No supporting evidence was found in the sources for: {q}"


def test_without_tools_it_answers_at_once() -> None:
    q = "What is the capacity of the Saltmarsh plant?"
    messages = conversation(q, [("corpus_search", {"query": "q"}, {"query": "q", "results": [SALTMARSH]})])
    out = respond(request(messages, tools=[]))
    assert not out.tool_calls and "62,000" in (out.text or "")


def test_the_question_comes_from_a_labelled_line_when_there_is_no_hint() -> None:
    q = Question.parse("What is the capacity of the Saltmarsh plant?")
    assert "Saltmarsh" in search_queries(q)[0]
    task = "You are team 2 of 3.\nQuestion: What is the capacity of the Saltmarsh plant?\n\nKeep it short."
    out = respond(request([Message.user(task)]))
    assert "Saltmarsh" in out.tool_calls[0].args()["query"] and "team" not in out.tool_calls[0].args()["query"]


class Answer(BaseModel):
    answer: str
    citations: list[str]
    found: bool


async def test_structured_output_through_the_offline_model() -> None:
    q = "What is the capacity of the Saltmarsh plant?"
    messages = conversation(q, [("corpus_search", {"query": "q"}, {"query": "q", "results": [SALTMARSH]})])
    completion = await call_model(OfflineModel(), request(messages, output_type=Answer, metadata={"question": q}))
    parsed = completion.parsed
    assert isinstance(parsed, Answer)
    assert parsed.found and "62,000" in parsed.answer and parsed.citations == [SALTMARSH["id"]]


# --------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def corpus_tools_for_tests(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    return corpus_toolset(tmp_path_factory.mktemp("index") / "corpus.db")


def _norm(text: str) -> str:
    import re

    return " ".join(re.sub(r"(?<=\d),(?=\d{3})", "", text).lower().split())


QUESTION_SET = json.loads(Path(QUESTIONS).read_text(encoding="utf-8"))


@pytest.mark.parametrize("item", QUESTION_SET, ids=[str(i) for i in range(len(QUESTION_SET))])
async def test_shipped_questions_end_to_end(item: dict[str, Any], corpus_tools_for_tests: list[Any]) -> None:
    answer, passages, messages = await act_loop(item["question"], corpus_tools_for_tests)
    if not item["expected"]:
        assert answer == f"No supporting evidence was found in the sources for: {item['question']}"
        return
    for expected in item["expected"]:
        assert _norm(expected) in _norm(answer), (expected, answer)
    for sentence, ids in claims(answer):
        if sentence.startswith("Computed:"):
            assert not ids
            continue
        assert ids, f"uncited sentence: {sentence}"
        assert any(passage_holds(passages[i], sentence) for i in ids if i in passages), f"invented: {sentence}"
    assert len(made(messages)) == sum(len(m.tool_calls) for m in messages)  # no call twice


@pytest.mark.parametrize("width", [1, 2, 6])
async def test_every_width_reaches_the_same_evidence(width: int, corpus_tools_for_tests: list[Any]) -> None:
    q = "What are the daily capacities of the Northpoint, Saltmarsh and Kettle Bay desalination plants?"
    answer, _, _ = await act_loop(q, corpus_tools_for_tests, width=width)
    for figure in ("45,000", "62,000", "28,000"):
        assert figure in answer


async def test_agent_runs_on_the_offline_policy(corpus_tools_for_tests: list[Any]) -> None:
    agent_module = pytest.importorskip("agentloom.agents.agent")
    agent = agent_module.Agent(model="offline", tools=corpus_tools_for_tests, width=3, max_turns=6)
    result = await agent.run("Who is the chief engineer of the Skerry Sound Tidal Station?")
    assert "Ilse Varga" in result.output
    assert result.citations and all("Ilse Varga" in c.text or "chief engineer" in c.text for c in result.citations)
    assert str(CORPUS.name) not in result.output

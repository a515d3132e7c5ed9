"""The tool protocol per model: native tools, a schema-enforced json step, tolerant text calls,
``auto`` remembered in the home; the framework's first search; grounding. Fakes answer from the
request's content (what the messages and the schema say), never from call order."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from agentloom import Agent
from agentloom._paths import default_corpus, loom_home
from agentloom.agents import tool_protocol as protocol
from agentloom.models.function import FunctionModel
from agentloom.models.litellm_model import LiteLLMModel
from agentloom.models.types import ModelRequest
from agentloom.runstore import RunStore
from agentloom.tools.corpus import corpus_tools
from tests.fakeserver import FakeOpenAIServer, Reply

pytest_plugins = ["tests.fakeserver"]

QUESTION = "What is the installed capacity of the Skerry Sound Tidal Station?"
PASSAGE = re.compile(r"p_[0-9a-f]{6,16}")


def _transcript(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content") or "") for m in body.get("messages") or [])


def _passage_with(body: dict[str, Any], word: str) -> str | None:
    """The id of a passage in the request's search results whose text holds ``word``."""
    for message in body.get("messages") or []:
        content = str(message.get("content") or "")
        for value in re.findall(r"\{.*\}", content, re.S):
            try:
                data = json.loads(value)
            except ValueError:
                continue
            for hit in data.get("results", []) if isinstance(data, dict) else []:
                if word.lower() in str(hit.get("text", "")).lower():
                    return str(hit["id"])
    return None


def local(server: FakeOpenAIServer, **kw: Any) -> LiteLLMModel:
    return LiteLLMModel("openai/small-local", api_base=server.base_url, retry_initial_wait=0.01, **kw)


def tools() -> list[Any]:
    return corpus_tools([default_corpus()])


async def test_auto_picks_json_for_a_self_hosted_server_and_remembers_it(openai_server: FakeOpenAIServer) -> None:
    model = local(openai_server)
    assert protocol.resolve_tool_mode(model) == "json"
    saved = json.loads((loom_home() / "tool_modes.json").read_text())
    assert saved == {f"openai/small-local@{openai_server.base_url}": "json"}
    (loom_home() / "tool_modes.json").write_text(json.dumps({f"openai/small-local@{openai_server.base_url}": "text"}))
    assert protocol.resolve_tool_mode(local(openai_server)) == "text"  # the remembered choice wins
    assert protocol.resolve_tool_mode(local(openai_server, ), "native") == "native"  # an explicit mode wins
    assert protocol.resolve_tool_mode(FunctionModel(lambda r: "x")) == "native"
    assert protocol.resolve_tool_mode(LiteLLMModel("openai/gpt-4o-mini")) == "native"


async def test_json_mode_searches_first_answers_in_the_schema_and_cites(openai_server: FakeOpenAIServer) -> None:
    def responder(body: dict[str, Any]) -> Reply:
        assert body.get("temperature") == 0.0 and "tools" not in body
        schema = json.dumps(body["response_format"]["json_schema"]["schema"])
        found = _passage_with(body, "capacity")
        if found and found in schema:  # the cite list only allows ids the run has seen
            return Reply(text=json.dumps({"answer": "The station's installed capacity is 290 MW.", "cite": [found]}))
        return Reply(text=json.dumps({"tool": "corpus_search", "arguments": {"query": "Skerry Sound capacity"}}))

    openai_server.responder = responder
    result = await Agent(local(openai_server), tools()).run(QUESTION)
    assert "290 MW" in str(result.output) and result.citations and result.grounded is True
    assert result.meta["tool_mode"] == "json" and result.meta["retrieved_first"] is True
    calls = RunStore().events(result.run_id, "tool_call")
    assert calls and calls[0]["name"] == "corpus_search"
    assert len(openai_server.requests) == 1  # the framework's search fed the first step


async def test_json_mode_lets_the_model_search_again_with_its_own_query(openai_server: FakeOpenAIServer) -> None:
    def responder(body: dict[str, Any]) -> Reply:
        text = _transcript(body)
        if "Result of corpus_search" in text and text.count("Result of corpus_search") < 2:
            return Reply(text=json.dumps({"tool": "corpus_search", "arguments": {"query": "tidal turbines Skerry"}}))
        found = _passage_with(body, "turbine") or PASSAGE.findall(text)[0]
        return Reply(text=json.dumps({"answer": "It has tidal turbines.", "cite": [found]}))

    openai_server.responder = responder
    result = await Agent(local(openai_server), tools()).run("How many turbines does the Skerry Sound Tidal Station have?")
    searches = [json.loads(e["data"]["args"]) if isinstance(e["data"].get("args"), str) else e["data"].get("args")
                for e in RunStore().events(result.run_id, "tool_call")]
    assert len(searches) == 2 and result.grounded is True


def test_the_act_schema_is_a_call_of_a_listed_tool_or_an_answer_citing_seen_ids() -> None:
    search = tools()[0]
    schema_type = protocol.act_schema([search], ["p_0123456789"])
    call = schema_type.model_validate_json('{"tool": "corpus_search", "arguments": {"query": "x"}}')
    assert protocol.read_step(call)[0][0].name == "corpus_search"
    answer = schema_type.model_validate_json('{"answer": "42", "cite": ["p_0123456789"]}')
    assert protocol.read_step(answer)[1:] == ("42", ["p_0123456789"])
    for bad in ('{"tool": "teleport", "arguments": {}}', '{"answer": "42", "cite": ["p_ffffffffff"]}', '{"answer": "42", "cite": []}'):
        with pytest.raises(ValueError):
            schema_type.model_validate_json(bad)
    only = protocol.act_schema([search], ["p_0123456789"], answer_only=True)
    with pytest.raises(ValueError):
        only.model_validate_json('{"tool": "corpus_search", "arguments": {"query": "x"}}')


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>\n{"name": "corpus_search", "arguments": {"query": "tidal"}}\n</tool_call>',
        'Let me search.\n```json\n{"name": "corpus_search", "arguments": {"query": "tidal"}}\n```',
        '{"tool": "corpus_search", "arguments": "{\\"query\\": \\"tidal\\"}"}',
        "[corpus_search?query=tidal]",
        '{"function": {"name": "corpus_search", "arguments": {"query": "tidal"}}}',
    ],
)
def test_text_calls_are_parsed_tolerantly(text: str) -> None:
    calls = protocol.parse_text_calls(text, ["corpus_search", "read_passage"])
    assert [(c.name, c.args()) for c in calls] == [("corpus_search", {"query": "tidal"})]


def test_prose_and_unknown_tools_are_not_calls() -> None:
    assert protocol.parse_text_calls("The capacity is 290 MW [p_0123456789].", ["corpus_search"]) == []
    assert protocol.parse_text_calls('{"name": "rm_rf", "arguments": {}}', ["corpus_search"]) == []


async def test_text_mode_runs_tagged_calls_and_native_mode_accepts_them_too() -> None:
    def respond(request: ModelRequest) -> str:
        text = "\n".join(m.content or "" for m in request.messages)
        ids = PASSAGE.findall(text.split("Result of corpus_search", 1)[-1]) if "Result of" in text else []
        ids = ids or [i for m in request.messages if m.role == "tool" for i in PASSAGE.findall(m.content or "")]
        if ids:
            return f"The installed capacity is 290 MW [{ids[0]}]."
        return '<tool_call>{"name": "corpus_search", "arguments": {"query": "Skerry Sound capacity"}}</tool_call>'

    for mode in ("text", "native"):
        result = await Agent(FunctionModel(respond), tools(), tool_mode=mode, retrieve_first=False).run(QUESTION)
        assert result.meta["tool_mode"] == mode
        assert RunStore().events(result.run_id, "tool_call"), mode
        assert result.grounded is True and result.citations, mode


async def test_an_uncited_answer_is_sent_back_once_then_marked_ungrounded() -> None:
    seen: list[str] = []

    def respond(request: ModelRequest) -> str:
        seen.append(request.messages[-1].content or "")
        return "It is about 800 watts."  # never looks anything up, never cites

    result = await Agent(FunctionModel(respond), tools(), tool_mode="text", retrieve_first=False).run(QUESTION)
    assert sum("cites no source" in s for s in seen) == 1
    assert result.grounded is False and result.to_dict()["grounded"] is False
    assert str(result.output) == "It is about 800 watts."


async def test_without_evidence_tools_grounding_does_not_apply() -> None:
    result = await Agent(FunctionModel(lambda r: "4"), [], tool_mode="text").run("What is 2 + 2?")
    assert result.grounded is None and str(result.output) == "4"


def test_agent_rejects_an_unknown_tool_mode() -> None:
    from agentloom.errors import ConfigError

    with pytest.raises(ConfigError, match="tool_mode"):
        Agent(FunctionModel(lambda r: "x"), tool_mode="smoke")


def test_tool_mode_is_settable_from_yaml_python_and_the_cli(
    tmp_path: Any, openai_server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from agentloom.graph import parse_graph
    from agentloom.graph._resources import build_resources
    from agentloom.models.resolve import resolve_model
    from tests.cliutil import run_cli

    graph = parse_graph(
        "version: 1\nname: m\nmodels:\n  default: {model: openai/q, base_url: 'http://127.0.0.1:9/v1', tool_mode: text}\n"
        "nodes:\n  a: {kind: agent, task: hi}\n"
    )
    assert build_resources(graph.spec, {}, graph.refs, tmp_path).models["default"].tool_mode == "text"
    assert resolve_model("openai/q", base_url="http://127.0.0.1:9/v1", tool_mode="native").tool_mode == "native"

    def responder(body: dict[str, Any]) -> Reply:
        assert "response_format" not in body and "tools" not in body  # text mode: the protocol is in the prompt
        found = _passage_with(body, "capacity")
        return Reply(text=f"The installed capacity is 290 MW [{found}]." if found else "I do not know.")

    openai_server.responder = responder
    code, out, err = run_cli(["ask", QUESTION, "--model", "openai/q", "--base-url", openai_server.base_url,
                              "--tool-mode", "text", "--json", "--quiet"], capsys)
    assert code == 0, err
    payload = json.loads(out)
    assert payload["grounded"] is True and payload["meta"]["tool_mode"] == "text"


async def test_a_server_that_ignores_the_schema_is_read_as_text_and_remembered(openai_server: FakeOpenAIServer) -> None:
    def responder(body: dict[str, Any]) -> Reply:
        found = _passage_with(body, "capacity")
        return Reply(text=f"It is 290 MW [{found}]." if found else "No idea.")  # never JSON

    openai_server.responder = responder
    result = await Agent(local(openai_server), tools()).run(QUESTION)
    assert "290 MW" in str(result.output) and result.grounded is True and result.meta["tool_mode"] == "text"
    assert protocol.resolve_tool_mode(local(openai_server)) == "text"


async def test_a_reply_cut_off_inside_the_schema_does_not_switch_the_mode(openai_server: FakeOpenAIServer) -> None:
    def responder(body: dict[str, Any]) -> Reply:
        schema = json.dumps(body["response_format"]["json_schema"]["schema"])
        found = _passage_with(body, "capacity")
        if '"tool"' not in schema and found:  # the answer-only step
            return Reply(text=json.dumps({"answer": "290 MW", "cite": [found]}))
        return Reply(text='{"answer": "290 MW and more and more', finish_reason="length")

    openai_server.responder = responder
    result = await Agent(local(openai_server), tools()).run(QUESTION)
    assert result.meta["tool_mode"] == "json" and "290 MW" in str(result.output) and result.grounded is True
    assert protocol.resolve_tool_mode(local(openai_server)) == "json"

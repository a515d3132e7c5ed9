"""The offline model's memory participation: read the keys shown, memory_read the matching ones."""

from __future__ import annotations

import json
from pathlib import Path

from agentloom.memory import MemoryBank, memory_prompt, memory_tools
from agentloom.memory.agent_hooks import MEMORY_LINE
from agentloom.models.offline import memory_hints
from agentloom.models.offline.memory_hints import memory_read_calls, shown_keys
from agentloom.models.types import Message, ModelRequest, ToolCall
from agentloom.text.sections import question_block


def request(block: str, question: str, *, with_tool: bool = True, history: list[Message] | None = None,
            metadata: dict[str, str] | None = None) -> ModelRequest:
    tools = [t.schema() for t in memory_tools(MemoryBank())] if with_tool else []
    messages = [Message.system("You are a research agent.\n\n" + block), Message.user(question), *(history or [])]
    return ModelRequest(messages=messages, tools=tools, metadata=metadata or {})


def bank_block(tmp_path: Path) -> tuple[MemoryBank, str]:
    bank = MemoryBank(tmp_path / "m.db")
    bank.add("Tidal stream turbines output in Scotland", "50 GWh", team="t1")
    bank.add("Tidal lagoon costs in Wales", "shelved", team="t2")
    bank.add("Turbine output curves", "curves", team="t3")
    return bank, memory_prompt(bank, "tidal turbines output Scotland lagoon", team="t9")


def test_reads_keys_that_match_the_question(tmp_path: Path) -> None:
    bank, block = bank_block(tmp_path)
    assert len(shown_keys(request(block, "q"))) == 3
    calls = memory_read_calls(request(block, "What is the output of tidal stream turbines in Scotland?"))
    assert [json.loads(c.arguments)["id"] for c in calls][0] == bank.search("Tidal stream turbines output in Scotland")[0].id
    assert all(c.name == "memory_read" for c in calls)
    keys = shown_keys(request(block, "q"))
    read_keys = [keys[json.loads(c.arguments)["id"]] for c in calls]
    assert "Tidal lagoon costs in Wales" not in read_keys  # shares one word only: not a strong match
    again = memory_read_calls(request(block, "What is the output of tidal stream turbines in Scotland?"))
    assert [(c.id, c.arguments) for c in again] == [(c.id, c.arguments) for c in calls]  # deterministic


def test_no_reads_without_the_tool_or_without_a_match(tmp_path: Path) -> None:
    _bank, block = bank_block(tmp_path)
    assert memory_read_calls(request(block, "tidal stream turbines output", with_tool=False)) == []
    assert memory_read_calls(request(block, "How do I bake sourdough bread?")) == []
    assert memory_read_calls(request("", "tidal stream turbines output")) == []


def test_skips_entries_already_read(tmp_path: Path) -> None:
    _bank, block = bank_block(tmp_path)
    first = memory_read_calls(request(block, "tidal stream turbines output Scotland"))
    assert first
    done = first[0]
    history = [Message("assistant", None, [ToolCall(done.id, "memory_read", done.arguments)]),
               Message("tool", '{"value": "50 GWh"}', tool_call_id=done.id, name="memory_read")]
    later = memory_read_calls(request(block, "tidal stream turbines output Scotland", history=history))
    assert done.arguments not in [c.arguments for c in later]


def test_question_section_wins(tmp_path: Path) -> None:
    _bank, block = bank_block(tmp_path)
    req = request(block, "Continue.\n\n" + question_block("tidal lagoon costs in Wales"))
    calls = memory_read_calls(req)
    keys = shown_keys(req)
    assert [keys[json.loads(c.arguments)["id"]] for c in calls] == ["Tidal lagoon costs in Wales"]


def test_line_format_matches_the_prompt_block() -> None:
    assert memory_hints._LINE.pattern == MEMORY_LINE.pattern

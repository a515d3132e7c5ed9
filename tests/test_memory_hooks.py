"""Agent hooks: the memory_read tool, the bounded key block, admit_step."""

from __future__ import annotations

import json
from pathlib import Path

from agentloom import tracing
from agentloom.memory import AdmitAll, HeuristicAdmission, MemoryBank, admit_step, memory_prompt, memory_tools
from agentloom.memory.agent_hooks import MEMORY_LINE
from agentloom.models.types import ToolCall
from agentloom.tools import ToolExecutor, tool


def seeded(tmp_path: Path) -> MemoryBank:
    bank = MemoryBank(tmp_path / "m.db", policy=AdmitAll())
    bank.add("Tidal stream turbines in Scotland", "MeyGen's turbines produced 50 GWh by 2023 [p_0000000001].",
             team="t1", run="r", citations=["p_0000000001"])
    bank.add("Tidal range lagoons", "Swansea's lagoon plan was shelved.", team="t2", run="r")
    bank.add("Wind turbine blade recycling", "Blades are hard to recycle.", team="t3", run="r")
    bank.add("Tidal energy cost per MWh", "Tidal stream costs about 200 GBP per MWh.", team="t9", run="r")
    return bank


def test_memory_prompt_lists_relevant_keys_bounded_other_teams_first(tmp_path: Path) -> None:
    bank = seeded(tmp_path)
    block = memory_prompt(bank, "How much power do tidal turbines produce?", team="t9", limit=8)
    lines = block.splitlines()
    parsed = [MEMORY_LINE.match(line) for line in lines]
    assert all(parsed)
    teams = [m.group(3) for m in parsed if m]
    assert "t9" in teams and teams[-1] == "t9"  # own team's entries come last
    ids = [m.group(1) for m in parsed if m]
    assert all(bank.get(i) is not None for i in ids)
    assert all(m.group(2) == bank.get(m.group(1)).key for m in parsed if m)  # type: ignore[union-attr]
    assert "MeyGen" not in block  # values stay out of the prompt
    short = memory_prompt(bank, "tidal", team=None, limit=2)
    assert len(short.splitlines()) == 2
    assert memory_prompt(bank, "sourdough bread", team="t1") == ""
    assert memory_prompt(bank, "tidal", team="t1", limit=0) == ""
    in_short = {m.group(1) for m in (MEMORY_LINE.match(x) for x in short.splitlines()) if m}
    shown = dict(bank.db.read("SELECT id, shown FROM entries"))
    assert shown == {i: (i in ids) + (i in in_short) for i in shown}  # each display is counted


def test_prompt_keys_are_single_lines_even_with_odd_keys(tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "m.db")
    bank.add("multi\nline key (from team evil) with " + "long " * 80, "value about tidal things", team="t1")
    block = memory_prompt(bank, "tidal things", team="t2")
    assert len(block.splitlines()) == 1
    line = block
    m = MEMORY_LINE.match(line)
    assert m and m.group(3) == "t1" and len(line) < 220


async def test_memory_read_tool_returns_value_key_and_citations_and_logs_the_team(tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "m.db", policy=AdmitAll())

    @tool(cache=True)
    async def corpus_search(query: str) -> dict[str, object]:
        """Search."""
        return {"query": query, "results": [{"id": "p_00000000aa", "path": "tides.md", "line_start": 3, "line_end": 9,
                                             "text": "Tidal turbines produced 50 GWh."}]}

    ex = ToolExecutor([corpus_search, *memory_tools(bank)])
    with tracing.use(tracing.RunContext(run_id="r", team="t1", memory=bank)):
        stored = await ex.run_call(ToolCall("a", "corpus_search", '{"query": "tidal output"}'))
        finding = await admit_step(bank, kind="finding", key="Tidal turbines produced 50 GWh", value="Tidal turbines produced 50 GWh [p_00000000aa].",
                                   task="tidal output", citations=["p_00000000aa"], cost={"input_tokens": 300, "output_tokens": 20, "seconds": 1.5})
    assert stored.memory_id and finding
    with tracing.use(tracing.RunContext(run_id="r", team="t2", memory=bank)):
        res = await ex.run_call(ToolCall("b", "memory_read", json.dumps({"id": f"[{finding}]"})))
        missing = await ex.run_call(ToolCall("c", "memory_read", '{"id": "mem_ffffffffffff"}'))
    assert res.ok and not res.cached
    assert res.value["id"] == finding and res.value["key"] == "Tidal turbines produced 50 GWh"
    assert res.value["value"].startswith("Tidal turbines produced 50 GWh")
    assert res.value["citations"] == [{"id": "p_00000000aa", "path": "tides.md", "line_start": 3, "line_end": 9,
                                       "text": "Tidal turbines produced 50 GWh."}]
    from agentloom.citations import collect_passages

    assert "p_00000000aa" in collect_passages(res.value)  # the reader can cite it
    assert not missing.ok and "no memory entry" in (missing.error or "")
    assert bank.db.read("SELECT team, via FROM reads WHERE entry_id = ?", [finding]) == [("t2", "memory_read")]
    entry = bank.get(finding)
    assert entry is not None and entry.cost == {"tokens": 320, "usd": 0.0, "seconds": 1.5}
    assert entry.team == "t1" and entry.run == "r" and entry.step == 2


async def test_admit_step_returns_none_when_not_admitted(tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "m.db", policy=HeuristicAdmission(), task="solar panel degradation rates")
    with tracing.use(tracing.RunContext(run_id="r", team="t1")):
        first = await admit_step(bank, kind="answer", key="Panels lose 0.5% a year",
                                 value="Solar panels degrade about 0.5% per year.", task="ignored when the run's task is known")
        dup = await admit_step(bank, kind="answer", key="same", value="Solar panels degrade about 0.5% per year.", task="x")
        off_topic = await admit_step(bank, kind="finding", key="pasta", value="Boil pasta in salted water.", task="x")
    assert first is not None and dup is None and off_topic is None
    reasons = [r[0] for r in bank.db.read("SELECT reason FROM decisions ORDER BY id")]
    assert reasons[1] == "duplicate" and reasons[2].startswith("score")


async def test_admit_step_rejects_unknown_kinds(tmp_path: Path) -> None:
    import pytest

    from agentloom.errors import ConfigError

    bank = MemoryBank(tmp_path / "m.db")
    with pytest.raises(ConfigError, match="kind"):
        await admit_step(bank, kind="gossip", key="k", value="v", task="t")

"""End to end with the Agent: parallel teams share one bank; the offline model reads keys."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from agentloom import Agent
from agentloom.memory import AdmitAll, MemoryBank
from agentloom.models.function import FunctionModel
from agentloom.models.types import ModelRequest, ToolCall
from agentloom.tools import tool


def make_search(counter: list[str]) -> Any:
    @tool(cache=True)
    async def search(query: str) -> dict[str, Any]:
        """Search the corpus."""
        counter.append(query)
        await asyncio.sleep(0.05)
        return {"query": query, "results": [{"id": "p_00000000c1", "path": "geo.md", "line_start": 1, "line_end": 2,
                                             "text": f"{query} facts [p_00000000c1]."}]}

    return search


def planner(request: ModelRequest) -> dict[str, Any]:
    """Search for the question's own words once, then answer by quoting the results."""
    if not any(m.role == "tool" for m in request.messages):
        question = request.metadata["question"]
        return {"tool_calls": [{"name": "search", "arguments": {"query": "geothermal energy basics"}},
                               {"name": "search", "arguments": {"query": question}}]}
    texts = [json.loads(m.content)["results"][0]["text"] for m in request.messages if m.role == "tool" and m.name == "search"]
    return {"text": " ".join(texts)}


async def test_parallel_agents_share_and_coalesce(tmp_path: Path) -> None:
    bank = MemoryBank(tmp_path / "m.db", policy=AdmitAll())
    counter: list[str] = []
    search = make_search(counter)
    model = FunctionModel(planner)
    agents = [Agent(model=model, tools=[search], memory=bank, team=f"t{i}", width=4, max_turns=3) for i in range(4)]
    results = await asyncio.gather(*(a.run(f"geothermal question {i}") for i, a in enumerate(agents)))
    assert counter.count("geothermal energy basics") == 1  # one team ran it; three waited for it
    assert sum(r.usage.memory_hits for r in results) == 3
    assert all("geothermal energy basics facts" in r.output for r in results)
    later = await Agent(model=model, tools=[search], memory=bank, team="t9", width=4, max_turns=3).run("geothermal question 9")
    assert later.usage.memory_hits == 1 and counter.count("geothermal energy basics") == 1
    kinds = sorted(e.kind for e in bank.entries())
    assert kinds.count("answer") == 5 and kinds.count("tool_result") == 6


async def test_offline_model_reads_matching_keys(tmp_path: Path) -> None:
    from agentloom import tracing
    from agentloom.memory import admit_step
    from agentloom.models.offline import OfflineModel
    from agentloom.tools import ToolExecutor

    bank = MemoryBank(tmp_path / "m.db", policy=AdmitAll())
    passage = {"id": "p_00000000d1", "path": "energy/iceland.md", "line_start": 4, "line_end": 6,
               "text": "Geothermal plants in Iceland supply about 25% of the country's electricity."}

    @tool(cache=True)
    def corpus_search(query: str, k: int = 5) -> dict[str, Any]:
        """Search the corpus."""
        return {"query": query, "results": [passage] if "team one" in query else []}

    # team t1 found the passage earlier and shared a finding citing it
    with tracing.use(tracing.RunContext(run_id="r", team="t1", memory=bank)):
        await ToolExecutor([corpus_search]).run_call(ToolCall("c", "corpus_search", '{"query": "team one sources"}'))
        await admit_step(bank, kind="finding", key="Geothermal plants in Iceland supply a quarter of its electricity",
                         value="Geothermal plants in Iceland supply about 25% of the country's electricity [p_00000000d1].",
                         task="Iceland energy", citations=["p_00000000d1"])
    agent = Agent(model=OfflineModel(), tools=[corpus_search], memory=bank, team="t2", max_turns=3)
    result = await agent.run("How much of Iceland's electricity comes from geothermal plants?")
    reads = bank.db.read("SELECT team, via FROM reads")
    assert ("t2", "memory_read") in reads  # it read the key that matched its question
    assert "25%" in str(result.output)
    assert [c.id for c in result.citations] == ["p_00000000d1"]


async def test_memory_keys_are_refreshed_every_turn(tmp_path: Path) -> None:
    """Keys another team stores mid-run show up in this agent's next turn (LTS: keys visible)."""
    from agentloom import Agent, tool
    from agentloom.memory import AdmitAll, MemoryBank
    from agentloom.memory.agent_hooks import admit_step
    from agentloom.models.function import FunctionModel

    bank = MemoryBank(tmp_path / "memory.db", policy=AdmitAll())
    prompts: dict[int, str] = {}

    @tool
    async def survey(topic: str) -> str:
        """Survey a topic (and, as another team would, store a finding in the shared bank)."""
        from agentloom import tracing

        ctx = tracing.current()
        assert ctx is not None
        with tracing.use(ctx.derive(team="team-other")):
            await admit_step(bank, kind="finding", key="tidal station turbine count", value="The station has 18 turbines.",
                             task="tidal station turbines")
        return f"surveyed {topic}"

    def respond(request: ModelRequest) -> object:
        turn = int(request.metadata.get("turn", 0))
        prompts[turn] = request.messages[0].content or ""
        if turn == 0:
            return {"tool_calls": [{"name": "survey", "arguments": {"topic": "tidal station turbines"}}]}
        return "done"

    agent = Agent(FunctionModel(respond), tools=[survey], memory=bank, team="team-a", width=2)
    await agent.run("How many turbines does the tidal station have?")
    assert "tidal station turbine count" not in prompts[0]
    assert "tidal station turbine count" in prompts[1] and "team-other" in prompts[1]
    bank.close()

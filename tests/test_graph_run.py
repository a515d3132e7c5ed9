"""Compiling and running graphs: LangGraph Send fan-out, conditions, loops with limits,
verdicts, budgets, env secrets, retry/timeout policies, concurrency caps, the run store."""

from __future__ import annotations

import asyncio
import json
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from agentloom import Budget, tool
from agentloom.errors import AgentloomError, ConfigError, RunNotFoundError, ToolError
from agentloom.graph import Graph, load_graph
from agentloom.models.function import FunctionModel
from agentloom.models.types import ModelRequest
from agentloom.runstore import RunStore

MOD = "tests.test_graph_run"


# --------------------------------------------------------------------------- helpers named by specs
def numbers(n: int) -> list[int]:
    return list(range(1, n + 1))


def square(x: int) -> int:
    return x * x


def total(values: list[int]) -> int:
    return sum(values)


def bump(value: Any) -> int:
    return (value or 0) + 1


_active = {"now": 0, "peak": 0}
_active_lock = threading.Lock()


async def track(x: int) -> int:
    with _active_lock:
        _active["now"] += 1
        _active["peak"] = max(_active["peak"], _active["now"])
    await asyncio.sleep(0.15)
    with _active_lock:
        _active["now"] -= 1
    return x


_flaky_calls: dict[str, int] = {}


def flaky(key: str) -> str:
    _flaky_calls[key] = _flaky_calls.get(key, 0) + 1
    if _flaky_calls[key] == 1:
        raise ToolError(f"transient failure of {key}")
    return f"ok after {_flaky_calls[key]}"


async def sleepy() -> str:
    await asyncio.sleep(5)
    return "late"


def score_text(candidate: Any) -> float:
    text = candidate.content
    return 1.0 if "good" in text else 0.0


@tool(cache=True)  # a read-only lookup: shared between teams
def fact(entity: str) -> dict[str, Any]:
    """A fact about an entity.

    Args:
        entity: what to look up
    """
    return {"entity": entity, "text": f"{entity} is {len(entity)} letters long"}


def _respond(request: ModelRequest) -> Any:
    tool_results = [m for m in request.messages if m.role == "tool"]
    if tool_results:
        return {"text": f"answer: {tool_results[-1].content}"}
    task = str(request.metadata.get("question") or request.last_user_text())
    return {"tool_calls": [{"name": "fact", "arguments": {"entity": task}}]}


def fake_model(**params: Any) -> FunctionModel:
    model = FunctionModel(_respond, name="fake")
    model.params = params  # type: ignore[attr-defined]
    return model


def spec_file(tmp_path: Path, text: str, name: str = "g.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


MAP_SPEC = f"""\
version: 1
name: squares
inputs:
  n: {{type: integer, default: 4}}
nodes:
  make: {{kind: function, fn: "{MOD}:numbers", args: {{n: "{{n}}"}}}}
  each:
    kind: map
    over: make
    node: {{kind: function, fn: "{MOD}:square", args: {{x: "{{item}}"}}}}
  sum: {{kind: function, fn: "{MOD}:total", args: {{values: "{{each}}"}}}}
outputs:
  total: sum
  squares: each
"""


# --------------------------------------------------------------------------- compile and run
async def test_compile_gives_a_langgraph_graph_with_one_send_task_per_item(tmp_path: Path) -> None:
    from langgraph.graph.state import CompiledStateGraph

    graph = load_graph(spec_file(tmp_path, MAP_SPEC))
    app = graph.compile()
    assert isinstance(app, CompiledStateGraph)
    updates = [chunk async for chunk in app.astream({"n": 3}, stream_mode="updates")]
    branches = [u for u in updates if "each.branch" in u]
    assert len(branches) == 3
    final = await app.ainvoke({"n": 5})
    assert final["each"] == [1, 4, 9, 16, 25]
    assert final["sum"] == 55


async def test_run_returns_a_result_recorded_in_the_run_store(tmp_path: Path) -> None:
    graph = load_graph(spec_file(tmp_path, MAP_SPEC))
    result = await graph.run({"n": "3"})  # strings from the CLI are typed by the input's type
    assert result.output == {"total": 14, "squares": [1, 4, 9]}
    assert result.meta["nodes_run"] == ["make", "each", "sum"]
    assert not result.partial
    store = RunStore()
    record = store.get_run(result.run_id)
    assert record.kind == "graph" and record.status == "ok"
    assert record.output == {"total": 14, "squares": [1, 4, 9]}
    names = [e["name"] for e in store.events(result.run_id, kind="graph_node")]
    assert sorted(names) == ["each[0]", "each[1]", "each[2]", "make", "sum"]


async def test_inputs_are_checked(tmp_path: Path) -> None:
    graph = load_graph(spec_file(tmp_path, MAP_SPEC))
    with pytest.raises(ConfigError, match=r"unknown input\(s\) nn .*did you mean 'n'"):
        await graph.run({"nn": 2})
    with pytest.raises(ConfigError, match="is not a valid integer"):
        await graph.run({"n": "many"})
    required = load_graph(spec_file(tmp_path, MAP_SPEC.replace("{type: integer, default: 4}", "{type: integer}"), "r.yaml"))
    with pytest.raises(ConfigError, match="needs input 'n'; pass --input n=VALUE"):
        await required.run()


async def test_conditional_loop_stops_at_its_limit(tmp_path: Path) -> None:
    graph = (
        Graph("loop")
        .add_node("count", "function", fn=f"{MOD}:bump", args={"value": "{count}"})
        .add_node("done", "function", fn=f"{MOD}:bump", args={"value": "{count}"})
        .add_edge("count", "count", when={"field": "count", "lt": 10}, limit=3)
        .add_edge("count", "done")
    )
    result = await graph.run()
    assert result.meta["nodes_run"] == ["count", "count", "count", "count", "done"]
    assert result.output == 5
    graph2 = (
        Graph("loop2")
        .add_node("count", "function", fn=f"{MOD}:bump", args={"value": "{count}"})
        .add_node("done", "function", fn=f"{MOD}:bump", args={"value": "{count}"})
        .add_edge("count", "count", when={"field": "count", "lt": 2}, limit=5)
        .add_edge("count", "done")
    )
    result2 = await graph2.run()
    assert result2.meta["nodes_run"] == ["count", "count", "done"]


async def test_verdict_edges_route_on_the_verifier(tmp_path: Path) -> None:
    def build(word: str) -> Graph:
        return (
            Graph("verdicts")
            .add_input("answer", default=word)
            .add_node("propose", "function", fn="json:loads", args={"s": '"{answer}"'})
            .add_node("check", "verifier", candidates="propose", verifiers=[{"type": "function", "fn": f"{MOD}:score_text"}])
            .add_node("accept", "function", fn="json:dumps", args={"obj": "accepted"})
            .add_node("reject", "function", fn="json:dumps", args={"obj": "rejected"})
            .add_edge("propose", "check")
            .add_edge("check", "accept", when={"verdict": "pass"})
            .add_edge("check", "reject")
        )

    good = await build("a good answer").run()
    bad = await build("a poor answer").run()
    assert good.output == '"accepted"' and good.meta["nodes_run"][-1] == "accept"
    assert bad.output == '"rejected"' and bad.meta["nodes_run"][-1] == "reject"


async def test_map_branches_are_memory_teams(tmp_path: Path) -> None:
    text = f"""\
    version: 1
    name: teams
    models: {{fake: {{ref: "{MOD}:fake_model"}}}}
    memory: {{scope: run, admission: all}}
    tools: {{fact: "{MOD}:fact"}}
    nodes:
      fan:
        kind: map
        items: [alpha, beta, alpha]
        team: "team-{{index}}"
        node: {{kind: agent, model: fake, tools: [fact], max_turns: 2}}
    """
    graph = load_graph(spec_file(tmp_path, text))
    result = await graph.run()
    answers = [o["text"] for o in result.output]
    assert answers[0].startswith("answer:") and "alpha is 5 letters long" in answers[0]
    assert [o["team"] for o in result.output] == ["team-0", "team-1", "team-2"]
    calls = RunStore().events(result.run_id, kind="tool_call")
    teams = {e["team"] for e in calls}
    assert teams == {"team-0", "team-1", "team-2"}
    assert sum(1 for e in calls if e["status"] in ("cached", "coalesced")) >= 1  # alpha twice: served by the bank


async def test_budget_exhaustion_gives_a_partial_result_and_later_nodes_still_run(tmp_path: Path) -> None:
    text = f"""\
    version: 1
    name: tight
    models: {{fake: {{ref: "{MOD}:fake_model"}}}}
    budget: {{llm_calls: 3}}
    tools: {{fact: "{MOD}:fact"}}
    nodes:
      fan:
        kind: map
        items: [a, bb, ccc, dddd]
        node: {{kind: agent, model: fake, tools: [fact], max_turns: 2, memory: false}}
      after: {{kind: function, fn: "{MOD}:total", args: {{values: [1, 2]}}}}
    """
    graph = load_graph(spec_file(tmp_path, text))
    result = await graph.run()
    assert result.budget_limited and result.partial and result.stop_reason == "budget"
    assert result.output == 3  # the node after the map still ran
    assert result.usage.llm_calls <= 3
    assert RunStore().get_run(result.run_id).status == "budget_exhausted"


async def test_env_secrets_are_read_at_run_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = f"""\
    version: 1
    name: secrets
    models:
      default: {{ref: "{MOD}:fake_model", params: {{api_key: "${{env:LOOM_TEST_SECRET}}"}}}}
    tools: {{fact: "{MOD}:fact"}}
    inputs: {{question: {{default: zeta}}}}
    nodes:
      ask: {{kind: agent, tools: [fact], max_turns: 2}}
    """
    graph = load_graph(spec_file(tmp_path, text))
    monkeypatch.delenv("LOOM_TEST_SECRET", raising=False)
    with pytest.raises(ConfigError) as info:
        await graph.run()
    assert "environment variable LOOM_TEST_SECRET is not set" in info.value.one_line()
    assert "\n" not in info.value.one_line()
    monkeypatch.setenv("LOOM_TEST_SECRET", "s3cret")
    result = await graph.run()
    assert "zeta is 4 letters long" in result.output["text"]
    record = RunStore().get_run(result.run_id)
    assert "s3cret" not in json.dumps(record.input) + json.dumps(record.output)


async def test_model_override_replaces_every_model(tmp_path: Path) -> None:
    text = f"""\
    version: 1
    name: override
    models: {{default: {{ref: "{MOD}:fake_model"}}}}
    tools: {{fact: "{MOD}:fact"}}
    inputs: {{question: {{default: "What is the capital of Freedonia?"}}}}
    nodes:
      ask: {{kind: agent, tools: [fact], max_turns: 2}}
    """
    graph = load_graph(spec_file(tmp_path, text))
    faked = await graph.run()
    offline = await graph.run(model="offline")
    assert faked.output["text"].startswith("answer:")
    assert not offline.output["text"].startswith("answer:")


async def test_retry_policy_retries_transient_failures(tmp_path: Path) -> None:
    _flaky_calls.clear()
    plain = Graph("flaky").add_node("f", "function", fn=f"{MOD}:flaky", args={"key": "one"})
    with pytest.raises(ToolError, match="transient failure"):
        await plain.run()
    retried = Graph("flaky2").add_node(
        "f", "function", fn=f"{MOD}:flaky", args={"key": "two"}, retry={"max_attempts": 2, "initial_interval": 0.01, "jitter": False}
    )
    result = await retried.run()
    assert result.output == "ok after 2"


async def test_timeout_policy_is_a_one_line_error(tmp_path: Path) -> None:
    graph = Graph("slow").add_node("nap", "function", fn=f"{MOD}:sleepy", timeout=0.2)
    with pytest.raises(AgentloomError) as info:
        await graph.run()
    line = info.value.one_line()
    assert "node 'nap' timed out" in line and "--resume" in line


async def test_max_concurrency_caps_parallel_branches(tmp_path: Path) -> None:
    def build(cap: int | None) -> Graph:
        graph = Graph("cap").add_node(
            "fan", "map", items=[1, 2, 3, 4, 5, 6], node={"kind": "function", "fn": f"{MOD}:track", "args": {"x": "{item}"}}
        )
        if cap is not None:
            graph.configure(max_concurrency=cap)
        return graph

    _active.update(now=0, peak=0)
    await build(2).run()
    assert _active["peak"] == 2
    _active.update(now=0, peak=0)
    await build(None).run()
    assert _active["peak"] == 6


async def test_resuming_a_finished_run_runs_nothing_again(tmp_path: Path) -> None:
    graph = load_graph(spec_file(tmp_path, MAP_SPEC))
    first = await graph.run({"n": 3})
    again = await graph.run(run_id=first.run_id, resume=True)
    assert again.output == first.output
    assert again.meta["resumed"] is True
    names = [e["name"] for e in RunStore().events(first.run_id, kind="graph_node")]
    assert names.count("make") == 1
    with pytest.raises(RunNotFoundError):
        await graph.run(run_id="no-such-run", resume=True)
    with pytest.raises(ConfigError, match="keeps its inputs"):
        await graph.run({"n": 9}, run_id=first.run_id, resume=True)


async def test_budget_passed_in_is_used(tmp_path: Path) -> None:
    graph = load_graph(spec_file(tmp_path, MAP_SPEC))
    budget = Budget(tool_calls=5)
    result = await graph.run({"n": 2}, budget=budget)
    assert result.output["total"] == 5
    assert budget.spent.tool_calls == 0


async def test_deep_research_example_runs_in_process_and_degrades_under_a_tight_budget() -> None:
    graph = load_graph(Path(__file__).resolve().parent.parent / "examples" / "deep_research.yaml")
    full = await graph.run()
    assert not full.partial
    assert full.output["report"].startswith("# ") and full.citations
    assert all(c.path and c.line_start for c in full.citations)
    assert full.meta["width"] >= 2 and full.meta["depth"] == 1
    tight = await graph.run(budget=Budget(tokens=3000))
    assert tight.partial and tight.budget_limited
    assert isinstance(tight.output["report"], str) and tight.output["report"].startswith("# ")
    assert RunStore().get_run(tight.run_id).status == "budget_exhausted"


async def test_node_budget_is_a_child_budget() -> None:
    text_graph = (
        Graph("child")
        .add_model("fake", ref=f"{MOD}:fake_model")
        .add_tool("fact", ref=f"{MOD}:fact")
        .add_input("question", default="omega")
        .add_node("ask", "agent", model="fake", tools=["fact"], max_turns=2, budget={"llm_calls": 1})
        .add_node("after", "function", fn=f"{MOD}:total", args={"values": [2, 3]})
    )
    result = await text_graph.run()
    assert result.budget_limited and result.output == 5
    assert result.usage.llm_calls == 1


async def test_resuming_a_budget_stopped_run_with_a_higher_limit_finishes_it(tmp_path: Path) -> None:
    text = f"""\
    version: 1
    name: tight
    models: {{fake: {{ref: "{MOD}:fake_model"}}}}
    tools: {{fact: "{MOD}:fact"}}
    nodes:
      make: {{kind: function, fn: "{MOD}:numbers", args: {{n: 4}}}}
      fan:
        kind: map
        over: make
        node: {{kind: agent, model: fake, tools: [fact], task: "entity {{item}}", max_turns: 2, memory: false}}
    """
    graph = load_graph(spec_file(tmp_path, text))
    stopped = await graph.run(budget=Budget(llm_calls=3))
    assert stopped.partial
    assert any(o is None or o["budget_limited"] for o in stopped.output)
    done = await graph.run(run_id=stopped.run_id, resume=True, budget=Budget(llm_calls=100))
    assert not done.partial and done.meta["continued_after_budget_stop"] is True
    for i, out in enumerate(done.output, start=1):
        assert out["text"].startswith("answer:") and f"entity {i} is 8 letters long" in out["text"]
        assert not out["budget_limited"]
    assert RunStore().get_run(stopped.run_id).status == "ok"


async def test_every_node_kind_and_class_option_runs_offline(tmp_path: Path) -> None:
    corpus = Path(__file__).resolve().parent.parent / "examples" / "corpus"
    text = f"""\
    version: 1
    name: kinds
    inputs:
      question: {{default: "What is the installed capacity of the Skerry Sound Tidal Station?"}}
    models: {{default: offline}}
    tools:
      corpus: {{paths: ["{corpus}"]}}
      calculator: {{}}
      lookup: "examples.graph_funcs:lookup"
    nodes:
      fixed: {{kind: planner, planner: fixed, width: 2, depth: 1}}
      scheduled: {{kind: planner, planner: scheduled, schedule: [3, 1]}}
      budgeted: {{kind: planner, width: auto, max_width: 3}}
      dag: {{kind: planner, planner: dag, tools: [lookup, calculator], question: "What is the combined capacity of Northpoint and Kettle Bay?"}}
      pdr: {{kind: planner, planner: pdr, width: 2, rounds: 1, tools: [corpus], verifier: citation}}
      threaded: {{kind: agent, tools: [corpus], threads: 2, max_turns: 3}}
      dag_agent: {{kind: agent, planner: dag, tools: [lookup, calculator], task: "What is the capacity of the Saltmarsh plant?"}}
      judged: {{kind: verifier, candidates: "[pdr, threaded]", verifiers: [{{type: judge, rubric: "cites the corpus"}}], select: {{policy: best_of_n, n: 2}}}}
      distilled: {{kind: crossover, candidates: judged, crossover: {{type: distill_refine, workspace_tokens: 200}}}}
    """
    graph = load_graph(spec_file(tmp_path, text.replace('"[pdr, threaded]"', "pdr")))
    result = await graph.run()
    assert result.meta["nodes_run"] == ["fixed", "scheduled", "budgeted", "dag", "pdr", "threaded", "dag_agent", "judged", "distilled"]
    app = graph.compile()
    state = await app.ainvoke({})
    assert state["fixed"]["planner"] == "FixedPlanner" and len(state["fixed"]["branches"]) >= 2
    assert state["scheduled"]["planner"] == "ScheduledPlanner" and state["scheduled"]["width"] == 3
    assert state["budgeted"]["planner"] == "BudgetPlanner"
    assert "73000" in state["dag"]["text"]
    assert "290" in state["pdr"]["text"]
    assert state["threaded"]["text"] and state["dag_agent"]["text"]
    assert state["judged"]["verdicts"] and state["distilled"]["text"]

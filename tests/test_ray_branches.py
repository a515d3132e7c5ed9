"""Agent branches and research teams on a real local Ray runtime: their turns run on Ray async
actors, charge the run's one budget through the database (the model server never sees more
calls than the limit), stream their events to the driver while they run, and a host killed
mid-branch has its branches re-run while finished ones are not. Marked ``ray``."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agentloom.events import Event, ModelCall
from agentloom.models.function import FunctionModel
from agentloom.models.types import ModelRequest
from agentloom.runstore import RunStore
from tests.fakeserver import FakeOpenAIServer, Reply, last_user_text
from tests.ray_steps import MOD, kill_mid_step, read_log, repeated_after, step_spec

pytestmark = pytest.mark.ray


def _placements(run_id: str, what: str = "branch") -> list[dict[str, Any]]:
    with RunStore() as store:
        found = [{"name": e["name"], **(json.loads(e["data"]) if isinstance(e["data"], str) else e["data"])}
                 for e in store.events(run_id, kind="placement")]
    return [p for p in found if p["what"] == what]


# ------------------------------------------------------------------ one budget across workers


def _answer(body: dict[str, Any]) -> Reply:
    return Reply(text=f"item {last_user_text(body).strip()} noted")


BUDGET_SPEC = """\
version: 1
name: ray_budget
executor: ray
budget: {{llm_calls: {limit}}}
models:
  default: {{model: "openai/m", base_url: "{url}", tool_mode: text}}
nodes:
  make: {{kind: function, fn: "{mod}:numbers", args: {{n: {n}}}}}
  fan:
    kind: map
    over: make
    node: {{kind: agent, task: "{{item}}", max_turns: 1, memory: false}}
"""


async def test_agent_branches_on_ray_charge_one_budget_and_the_server_never_sees_more(ray_runtime: Any,
                                                                                     tmp_path: Path) -> None:
    from agentloom.graph.loader import parse_graph

    with FakeOpenAIServer(_answer) as server:
        spec = BUDGET_SPEC.format(limit=5, url=server.base_url, mod=MOD, n=8)
        result = await parse_graph(spec, base_dir=tmp_path).run()
        seen = len(server.chat_requests)
    assert 1 <= seen <= 5  # the workers shared the run's llm_calls=5 through the database
    texts = [r["text"] for r in result.output if isinstance(r, dict) and r.get("text")]
    assert len(texts) == seen and all(t.startswith("item ") for t in texts)
    assert result.usage.llm_calls == seen  # the driver counts what its workers spent
    placed = _placements(result.run_id)
    assert placed and {p["executor"] for p in placed} == {"ray"} and os.getpid() not in {p["pid"] for p in placed}
    with RunStore() as store:
        calls = store.events(result.run_id, kind="model_call")
    assert len(calls) == seen  # the workers' model calls are recorded under the run


# ------------------------------------------------------------------ research teams, live events


async def test_research_teams_run_on_ray_and_stream_their_events(ray_runtime: Any) -> None:
    from agentloom.research.pipeline import DEFAULT_QUESTION, deep_research_graph

    graph = deep_research_graph()
    local = await graph.run({"question": DEFAULT_QUESTION, "width": "3", "depth": "1"}, executor="local")
    seen: list[tuple[float, Event]] = []

    def listen(event: Event) -> None:
        seen.append((time.time(), event))

    remote = await graph.run({"question": DEFAULT_QUESTION, "width": "3", "depth": "1"}, executor="ray", listeners=[listen])
    for answer in (local.output["answer"], remote.output["answer"]):  # which sentences win depends on the teams' order
        assert "Northpoint" in answer and "45,000" in answer and re.search(r"\[\d+\]", answer)
    teams = _placements(remote.run_id)
    assert sorted(p["name"] for p in teams) == [f"research[{i}]" for i in range(3)]
    assert {p["executor"] for p in teams} == {"ray"} and os.getpid() not in {p["pid"] for p in teams}
    calls = [(at, e) for at, e in seen if isinstance(e, ModelCall) and (e.team or "").startswith("team-")]
    assert {e.team for _, e in calls} == {"team-0", "team-1", "team-2"}  # each team's own model calls
    assert all(e.run_id == remote.run_id for _, e in calls)
    finished = max(at for at, e in seen if e.kind == "node" and e.name.startswith("research["))
    assert min(at for at, _ in calls) < finished  # they reached the driver while the teams ran
    assert remote.usage.llm_calls >= local.usage.llm_calls * 0.5


# ------------------------------------------------------------------ a host killed mid-branch


async def test_a_host_killed_mid_branch_reruns_its_branches_and_not_finished_ones(ray_runtime: Any,
                                                                                 tmp_path: Path) -> None:
    from agentloom.graph.loader import parse_graph

    log = tmp_path / "steps.log"
    killed: list[tuple[int, float]] = []
    stop = threading.Event()
    # item i's step takes 0.3 + 0.3·i s: when the first ends, later ones are surely still running
    killer = threading.Thread(target=kill_mid_step, args=(log, 1, killed, stop), daemon=True)
    killer.start()
    try:
        spec = step_spec("ray_kill", seconds=0.3, stagger=0.3, executor="ray")
        result = await parse_graph(spec, base_dir=tmp_path).run({"log": str(log), "n": 6})
    finally:
        stop.set()
        killer.join(5)
    assert len(killed) == 1, f"no branch was running when the kill was due: {read_log(log)}"
    assert [r["text"] for r in result.output] == [f"stepped {i}" for i in range(6)]  # none lost
    pid, at = killed[0]
    entries = read_log(log)
    assert repeated_after(entries, at, 0.3) == set(), "a branch that had finished before the kill ran again"
    assert any(p == pid for k, _, p, _ in entries if k == "start")
    placed = {p["name"]: p["pid"] for p in _placements(result.run_id)}
    assert pid not in placed.values()  # every recorded branch finished on a live host


# ------------------------------------------------------------------ spawned threads of a bare Agent


def _threads_model(request: ModelRequest) -> Any:
    system = next((m.content or "" for m in request.messages if m.role == "system"), "")
    task = next((m.content or "" for m in reversed(request.messages) if m.role == "user"), "")
    results = [m for m in request.messages if m.role == "tool"]
    if "sub-task" in system and "thread" in system:  # a child: answer its own sub-task, saying where it ran
        return {"text": f"{task.strip()} handled in {os.getpid()}"}
    if results:
        return {"text": str(results[-1].content)}
    return {"tool_calls": [{"name": "spawn", "arguments": {"tasks": ["alpha", "beta", "gamma"]}}]}


def threads_model() -> FunctionModel:
    return FunctionModel(_threads_model, name="spawner")


async def test_a_bare_agents_spawned_threads_run_on_ray_and_charge_its_budget(ray_runtime: Any) -> None:
    from agentloom import Agent, Budget
    from agentloom.executors import executor_for, use

    agent = Agent(threads_model(), threads=3, max_turns=3, name="lead")
    with use(executor_for("ray")):
        result = await agent.run("split this in three", budget=Budget(llm_calls=10))
    text = str(result.output)
    pids = {int(p) for p in re.findall(r"handled in (\d+)", text)}
    assert {"alpha", "beta", "gamma"} <= set(re.findall(r"(alpha|beta|gamma) handled", text))
    assert pids and os.getpid() not in pids  # the threads' turns ran on Ray hosts
    placed = _placements(result.run_id)
    assert sorted(p["name"] for p in placed) == ["lead.t1", "lead.t2", "lead.t3"] and {p["executor"] for p in placed} == {"ray"}
    assert result.usage.llm_calls == 2 + 3  # the parent's two turns and each thread's one, counted once
    with RunStore() as store:
        assert len(store.events(result.run_id, kind="model_call")) == 5
        (run,) = [r for r in store.list_runs() if r.id == result.run_id]
    assert run.status == "ok"


# ------------------------------------------------------------------ the same on Postgres


async def test_agent_branches_on_ray_share_the_budget_in_postgres(ray_runtime: Any, pg_url: str, tmp_path: Path,
                                                                   loom_home: Path) -> None:
    from agentloom.graph.loader import parse_graph
    from agentloom.shared_budget import SharedLimits

    with FakeOpenAIServer(_answer) as server:
        spec = BUDGET_SPEC.format(limit=4, url=server.base_url, mod=MOD, n=7)
        result = await parse_graph(spec, base_dir=tmp_path).run()
        seen = len(server.chat_requests)
    assert 1 <= seen <= 4 and result.usage.llm_calls == seen
    assert not (loom_home / "budgets.db").exists()  # the workers charged the run's budget in Postgres
    totals = SharedLimits(f"run:{result.run_id}", {}).totals()
    assert totals.spent["llm_calls"] == seen and totals.held["llm_calls"] == 0
    with RunStore() as store:
        assert len(store.events(result.run_id, kind="model_call")) == seen
    placed = _placements(result.run_id)
    assert placed and {p["executor"] for p in placed} == {"ray"}

"""DAGPlanner: typed plans, validation with one repair, streaming dispatch, joiner and replans."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from agentloom import Agent, tool
from agentloom.errors import ConfigError, PlanError
from agentloom.models.function import FunctionModel
from agentloom.models.types import ModelRequest
from agentloom.planners import DAGPlanner, JoinDecision, PlanTask
from agentloom.planners._dag_validate import check_args, find_cycle, validate_plan
from agentloom.runstore import RunStore
from agentloom.tools.calculator import calculator

CAPACITY = {"Harrow": 1200, "Brandt": 800, "Keller": 300}


def make_tools(calls: list[str], log: list[tuple[str, str]] | None = None, delay: float = 0.0) -> list[Any]:
    @tool
    async def lookup(entity: str) -> float:
        """Capacity in MW of a power plant."""
        calls.append(f"lookup:{entity}")
        if log is not None:
            log.append(("start", entity))
        if delay:
            await asyncio.sleep(delay)
        if entity not in CAPACITY:
            raise KeyError(f"no plant named {entity}")
        return CAPACITY[entity]

    @tool
    async def profile(entity: str) -> dict[str, Any]:
        """Facts about a plant."""
        calls.append(f"profile:{entity}")
        return {"name": entity, "capacity": CAPACITY.get(entity, 0)}

    return [lookup, profile, calculator]


def user_text(request: ModelRequest) -> str:
    return "\n".join(m.content or "" for m in request.messages if m.role == "user")


def results_in(request: ModelRequest) -> list[dict[str, Any]]:
    out = []
    for line in user_text(request).splitlines():
        if line.startswith("result: "):
            out.append(json.loads(line[len("result: "):]))
    return out


def finish_join(request: ModelRequest) -> str:
    done = results_in(request)
    values = [f"{r['tool']} {r['id']}={r.get('result')}" for r in done if r["status"] == "ok"]
    return json.dumps({"action": "finish", "answer": "; ".join(values)})


PLAN = [
    {"id": 1, "tool": "lookup", "args": {"entity": "Harrow"}, "deps": []},
    {"id": 2, "tool": "lookup", "args": {"entity": "Brandt"}, "deps": []},
    {"id": 3, "tool": "calculator", "args": {"expression": "$1 + $2"}, "deps": [1, 2]},
]


def planner_model(plan_for: Callable[[ModelRequest], list[dict[str, Any]]], join: Callable[[ModelRequest], str] = finish_join) -> FunctionModel:
    """A FunctionModel answering ``dag`` with ``plan_for(request)`` (JSONL when streamed) and
    ``join`` with ``join(request)``."""

    def respond(request: ModelRequest) -> str:
        if request.purpose == "join":
            return join(request)
        tasks = plan_for(request)
        if request.stream:
            return "\n".join(json.dumps(t) for t in tasks)
        return json.dumps({"tasks": tasks})

    return FunctionModel(respond)


class LineStreamModel(FunctionModel):
    """Streams its answer line by line with a pause before each line, logging each line."""

    def __init__(self, fn: Callable[[ModelRequest], str], log: list[tuple[str, str]], line_delay: float = 0.05) -> None:
        super().__init__(fn)
        self.log = log
        self.line_delay = line_delay

    async def _stream_attempt(self, request: ModelRequest) -> AsyncIterator[str]:
        completion = await self._attempt(request)
        self._last_stream_completion = completion
        for line in (completion.text or "").splitlines(keepends=True):
            await asyncio.sleep(self.line_delay)
            self.log.append(("line", line.strip()))
            yield line
        self.log.append(("stream_end", request.purpose))


@pytest.mark.parametrize("stream", [False, True])
async def test_plan_runs_with_references_and_joins(stream: bool) -> None:
    calls: list[str] = []
    model = planner_model(lambda r: PLAN)
    run = await DAGPlanner(stream=stream).run("Total capacity of Harrow and Brandt?", model=model, tools=make_tools(calls))
    assert run.stop_reason == "finished" and run.streamed is stream
    results = run.results()
    assert results["3"].value == {"expression": "1200 + 800", "value": 2000}
    assert sorted(calls) == ["lookup:Brandt", "lookup:Harrow"]
    assert "calculator 3=" in run.answer and "2000" in run.answer


async def test_field_reference_and_text_substitution() -> None:
    calls: list[str] = []
    plan = [
        {"id": 1, "tool": "profile", "args": {"entity": "Keller"}},
        {"id": 2, "tool": "calculator", "args": {"expression": "$1.capacity * 2"}},
    ]
    run = await DAGPlanner(stream=False).run("Twice Keller?", model=planner_model(lambda r: plan), tools=make_tools(calls))
    assert run.results()["2"].value["value"] == 600
    assert run.tasks[1].deps == []  # the reference alone makes it a dependency


async def test_streaming_dispatches_first_task_before_plan_is_complete() -> None:
    log: list[tuple[str, str]] = []
    calls: list[str] = []
    plan = [{"id": i, "tool": "lookup", "args": {"entity": e}} for i, e in enumerate(["Harrow", "Brandt", "Keller"], start=1)]

    def respond(request: ModelRequest) -> str:
        if request.purpose == "join":
            return finish_join(request)
        return "\n".join(json.dumps(t) for t in plan)

    model = LineStreamModel(respond, log)
    run = await DAGPlanner().run("capacities of Harrow, Brandt and Keller", model=model, tools=make_tools(calls, log, delay=0.01))
    assert run.streamed
    order = [entry for entry in log if entry[0] in ("line", "start", "stream_end")]
    first_start = order.index(("start", "Harrow"))
    dag_end = order.index(("stream_end", "dag"))
    last_line = max(i for i, e in enumerate(order) if e[0] == "line")
    assert first_start < last_line < dag_end, order
    # each task starts right after its own line, before the next line arrives
    assert order[:4] == [("line", json.dumps(plan[0])), ("start", "Harrow"), ("line", json.dumps(plan[1])), ("start", "Brandt")]
    assert run.meta["first_dispatch_s"] < run.meta["plan_done_s"][0]


async def test_unknown_tool_is_repaired_once() -> None:
    calls: list[str] = []
    seen_repairs: list[str] = []

    def plan_for(request: ModelRequest) -> list[dict[str, Any]]:
        text = user_text(request)
        if "unknown tool 'lookup_plant'" in text:
            seen_repairs.append(text)
            return PLAN
        return [{"id": 1, "tool": "lookup_plant", "args": {"entity": "Harrow"}}, *PLAN[1:2]]

    run = await DAGPlanner(stream=False).run("Harrow and Brandt", model=planner_model(plan_for), tools=make_tools(calls))
    assert len(seen_repairs) == 1
    assert "available tools: calculator, lookup, profile" in seen_repairs[0]
    assert run.results()["3"].value["value"] == 2000


async def test_cyclic_plan_fails_after_one_repair_and_stays_recorded() -> None:
    attempts: list[int] = []
    cyclic = [
        {"id": 1, "tool": "calculator", "args": {"expression": "$2 + 1"}},
        {"id": 2, "tool": "calculator", "args": {"expression": "$1 + 1"}},
    ]

    def plan_for(request: ModelRequest) -> list[dict[str, Any]]:
        attempts.append(1)
        return cyclic

    store = RunStore()
    with pytest.raises(PlanError) as info:
        await DAGPlanner(stream=False).run("loop", model=planner_model(plan_for), tools=make_tools([]), store=store)
    message = info.value.one_line()
    assert "dependency cycle: 1 -> 2 -> 1" in message and "after one repair" in message and "\n" not in str(info.value)
    assert len(attempts) == 2
    run = store.list_runs()[0]
    assert run.status == "failed" and "PlanError" in (run.error or "")
    kinds = [e["kind"] for e in store.events(run.id)]
    assert kinds.count("plan_error") == 2 and kinds.count("model_call") == 2


async def test_streamed_repair_resends_only_rejected_tasks() -> None:
    calls: list[str] = []
    requests: list[str] = []

    def respond(request: ModelRequest) -> str:
        if request.purpose == "join":
            return finish_join(request)
        text = user_text(request)
        requests.append(text)
        if "problems" in text:
            return json.dumps({"id": 2, "tool": "lookup", "args": {"entity": "Brandt"}})
        return "\n".join([
            json.dumps({"id": 1, "tool": "lookup", "args": {"entity": "Harrow"}}),
            json.dumps({"id": 2, "tool": "lookup", "args": {"entity": 5, "extra": True}}),
            json.dumps({"id": 3, "tool": "calculator", "args": {"expression": "$1 + $2"}}),
        ])

    run = await DAGPlanner(stream=True).run("sum", model=FunctionModel(respond), tools=make_tools(calls))
    assert len(requests) == 2
    repair = requests[1]
    assert "task 2 (lookup): unknown argument 'extra'" in repair
    assert "task 3: depends on task 2, which was rejected" in repair
    assert "Tasks 1 were accepted and are already running" in repair
    assert calls.count("lookup:Harrow") == 1  # the accepted task was not re-run
    assert run.results()["2"].value == 800 and "3" not in run.results()


async def test_streamed_plan_still_invalid_raises_plan_error() -> None:
    def respond(request: ModelRequest) -> str:
        return json.dumps({"id": 1, "tool": "teleport", "args": {}})

    with pytest.raises(PlanError, match="unknown tool 'teleport'"):
        await DAGPlanner(stream=True).run("go", model=FunctionModel(respond), tools=make_tools([]))


async def test_malformed_plan_json_is_a_plan_error() -> None:
    model = FunctionModel(lambda r: "here is my plan: lookup Harrow then add")
    with pytest.raises(PlanError, match="not valid JSON for the plan schema"):
        await DAGPlanner(stream=False).run("x", model=model, tools=make_tools([]))


async def test_replan_continues_ids_reuses_executed_and_gets_feedback() -> None:
    calls: list[str] = []
    dag_requests: list[str] = []

    def plan_for(request: ModelRequest) -> list[dict[str, Any]]:
        dag_requests.append(user_text(request))
        if request.metadata["round"] == 0:
            return [{"id": 1, "tool": "lookup", "args": {"entity": "Harrow"}},
                    {"id": 2, "tool": "lookup", "args": {"entity": "Brandtt"}}]
        return [{"id": 3, "tool": "lookup", "args": {"entity": "Harrow"}},  # identical: reused
                {"id": 4, "tool": "lookup", "args": {"entity": "Brandt"}},
                {"id": 5, "tool": "calculator", "args": {"expression": "$3 + $4"}}]

    def join(request: ModelRequest) -> str:
        done = results_in(request)
        latest = max(r["plan"] for r in done)
        failed = [r for r in done if r["status"] == "error" and r["plan"] == latest]
        if failed and request.metadata["replans_left"] > 0:
            return json.dumps({"action": "replan", "feedback": f"task {failed[0]['id']} failed: check the spelling", "answer": "partial"})
        return finish_join(request)

    run = await DAGPlanner(stream=False, max_replans=2).run("sum", model=planner_model(plan_for, join), tools=make_tools(calls))
    assert run.replans == 1 and run.stop_reason == "finished"
    second = dag_requests[1]
    assert "Joiner feedback: task 2 failed: check the spelling" in second
    assert "Next task id: 3" in second and '"id": 2' in second and "no plant named Brandtt" in second
    assert calls.count("lookup:Harrow") == 1  # never re-run
    reused = next(t for t in run.tasks if t.id == "3")
    assert reused.reused_from == "1" and reused.result is not None and reused.result.value == 1200
    assert run.results()["5"].value["value"] == 2000


async def test_replan_reusing_an_executed_id_is_rejected() -> None:
    def plan_for(request: ModelRequest) -> list[dict[str, Any]]:
        if request.metadata["round"] == 0 or "belongs to an executed task" in user_text(request):
            if request.metadata["round"] == 0:
                return [{"id": 1, "tool": "lookup", "args": {"entity": "Nowhere"}}]
            return [{"id": 2, "tool": "lookup", "args": {"entity": "Brandt"}}]
        return [{"id": 1, "tool": "lookup", "args": {"entity": "Brandt"}}]

    def join(request: ModelRequest) -> str:
        done = results_in(request)
        if any(r["status"] == "error" and r["plan"] == max(d["plan"] for d in done) for r in done) and request.metadata["replans_left"]:
            return json.dumps({"action": "replan", "feedback": "task 1 failed"})
        return finish_join(request)

    run = await DAGPlanner(stream=False).run("x", model=planner_model(plan_for, join), tools=make_tools([]))
    assert run.results()["2"].value == 800


async def test_max_replans_caps_the_loop() -> None:
    dag_calls: list[int] = []

    def plan_for(request: ModelRequest) -> list[dict[str, Any]]:
        n = request.metadata["next_id"]
        dag_calls.append(n)
        return [{"id": n, "tool": "lookup", "args": {"entity": f"Ghost{n}"}}]

    def join(request: ModelRequest) -> str:
        return json.dumps({"action": "replan", "feedback": "still failing", "answer": "best so far"})

    run = await DAGPlanner(stream=False, max_replans=2).run("x", model=planner_model(plan_for, join), tools=make_tools([]))
    assert dag_calls == [1, 2, 3]
    assert run.stop_reason == "max_replans" and run.replans == 2 and run.answer == "best so far"


async def test_join_output_is_validated() -> None:
    model = planner_model(lambda r: PLAN, join=lambda r: json.dumps({"action": "finish", "answer": "ok"}))
    run = await DAGPlanner(stream=False).run("x", model=model, tools=make_tools([]))
    assert isinstance(run.decisions[0], JoinDecision)


def test_validation_messages() -> None:
    tools = {t.name: t for t in make_tools([])}
    plan = [
        PlanTask(id=1, tool="lookup", args={"entity": "A"}),
        PlanTask(id=2, tool="calculator", args={"expression": "$3 + 1"}),
        PlanTask(id=3, tool="lookup", args={"entity": "B"}),
        PlanTask(id=3, tool="lookup", args={"name": "C"}),
        PlanTask(id=4, tool="calculator", args={"expression": "$9"}),
    ]
    problems = validate_plan(plan, tools, executed={}, next_id=1)
    assert "task 2: forward reference to task 3, which comes later; list tasks after the tasks they need" in problems
    assert "task 3: duplicate task id 3" in problems
    assert any("unknown argument 'name'" in p for p in problems)
    assert any("argument 'entity': Field required" in p for p in problems)
    assert "task 4: references $9, which is neither a task of this plan nor an executed task" in problems


def test_args_with_references_are_checked_for_existence_only() -> None:
    lookup = make_tools([])[0]
    assert check_args(lookup, {"entity": "$1.name"}) == []
    assert check_args(lookup, {"entitty": "$1"})[0].startswith("unknown argument 'entitty'")
    assert check_args(lookup, {"entity": 5}) == ["argument 'entity': Input should be a valid string"]


def test_cycle_detection() -> None:
    tasks = [PlanTask(id=1, tool="t", deps=[3]), PlanTask(id=2, tool="t", deps=[1]), PlanTask(id=3, tool="t", args={"x": "$2"})]
    assert find_cycle(tasks) == ["1", "3", "2", "1"]
    assert find_cycle(tasks[1:]) is None
    assert PlanTask.model_validate({"id": "4", "tool": "t", "deps": ["$1", 2]}).deps == [1, 2]


async def test_offline_model_plans_and_joins_through_agent() -> None:
    calls: list[str] = []
    agent = Agent("offline", make_tools(calls), planner=DAGPlanner())
    result = await agent.run("What is the total capacity of Harrow and Brandt combined?")
    assert sorted(calls) == ["lookup:Brandt", "lookup:Harrow"]
    assert "value 2000" in str(result.output)
    assert result.meta["planner"] == "dag_planner" and result.meta["tasks"] == 3 and result.usage.llm_calls == 2
    events = RunStore().events(result.run_id)
    dispatched = [e for e in events if e["kind"] == "dag_dispatch"]
    assert [e["data"]["id"] for e in dispatched] == ["1", "2", "3"]
    assert any(e["kind"] == "decision" and "joiner finished" in e["data"]["reason"] for e in events)


async def test_offline_replan_falls_back_to_search_with_citations() -> None:
    calls: list[str] = []

    @tool
    async def search(query: str) -> dict[str, Any]:
        """Search documents."""
        calls.append(f"search:{query}")
        if "Zed" in query:
            return {"results": [{"id": "p_0123456789", "path": "zed.md", "line_start": 1, "line_end": 2,
                                 "text": "Zed Station has a capacity of 450 MW. It is run by the city."}]}
        return {"results": []}

    tools = [*make_tools(calls), search]
    run = await DAGPlanner().run("What are the capacities of Harrow and Zed Station?", model="offline", tools=tools)
    assert run.replans == 1 and run.stop_reason == "finished"
    assert "Zed Station has a capacity of 450 MW. [p_0123456789]" in run.answer
    assert [c.id for c in run.citations] == ["p_0123456789"]
    assert "lookup:Harrow" in calls and calls.count("lookup:Harrow") == 1


def test_bad_configuration() -> None:
    with pytest.raises(ConfigError, match="max_replans"):
        DAGPlanner(max_replans=-1)
    with pytest.raises(ConfigError, match="planner"):
        Agent("offline", planner=object())


async def test_stream_requires_stream_capable_model() -> None:
    class Bare:
        name = "bare"

        async def complete(self, request: ModelRequest) -> Any:
            raise AssertionError("not called")

    with pytest.raises(ConfigError, match="stream"):
        await DAGPlanner(stream=True).run("x", model=Bare(), tools=[])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- robustness with real models' output
async def test_pretty_printed_multi_line_tasks_are_accepted_when_streamed() -> None:
    calls: list[str] = []
    model = FunctionModel(lambda r: finish_join(r) if r.purpose == "join"
                          else "Here is the plan:\n```json\n" + "\n".join(json.dumps(t, indent=2) for t in PLAN) + "\n```")
    run = await DAGPlanner(stream=True).run("Harrow and Brandt", model=model, tools=make_tools(calls))
    assert sorted(calls) == ["lookup:Brandt", "lookup:Harrow"]
    assert run.results()["3"].value["value"] == 2000


@pytest.mark.parametrize("stream", [False, True])
async def test_a_plan_that_parses_to_no_task_is_repaired_never_run_empty(stream: bool) -> None:
    repairs: list[str] = []

    def respond(request: ModelRequest) -> str:
        if request.purpose == "join":
            return finish_join(request)
        text = user_text(request)
        if "holds no task" in text:
            repairs.append(text)
            return "\n".join(json.dumps(t) for t in PLAN) if stream else json.dumps({"tasks": PLAN})
        return json.dumps({"steps": PLAN}) if not stream else "I will look up both plants and add them."

    run = await DAGPlanner(stream=stream).run("Harrow and Brandt", model=FunctionModel(respond), tools=make_tools([]))
    assert len(repairs) == 1
    assert run.results()["3"].value["value"] == 2000


@pytest.mark.parametrize("stream", [False, True])
async def test_a_repair_identical_to_the_failed_plan_names_the_problem(stream: bool) -> None:
    bad = {"id": 1, "tool": "lookup", "args": {"plant": "Harrow"}}

    def respond(request: ModelRequest) -> str:
        return json.dumps(bad) if stream else json.dumps({"tasks": [bad]})

    with pytest.raises(PlanError) as info:
        await DAGPlanner(stream=stream).run("Harrow", model=FunctionModel(respond), tools=make_tools([]))
    line = info.value.one_line()
    assert "repeated the invalid plan unchanged" in line and "argument 'entity': Field required" in line

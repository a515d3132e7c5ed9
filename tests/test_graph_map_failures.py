"""One map branch's failure never throws away the other branches' finished results."""

from __future__ import annotations

import pytest

from agentloom.errors import BranchesFailed, ConfigError, PlanError, ToolError
from agentloom.graph import Graph

MOD = "tests.test_graph_map_failures"

_calls: dict[int, int] = {}


def plan_or_fail(x: int) -> str:
    """Fails with a plan error for the item named 'bad', answers the rest."""
    if x == 2:
        raise PlanError(f"the plan for item {x} stayed invalid after one repair")
    return f"answer {x}"


def always_fail(x: int) -> str:
    raise PlanError(f"no plan for {x}")


def flaky_once(x: int) -> str:
    _calls[x] = _calls.get(x, 0) + 1
    if _calls[x] == 1:
        raise ToolError(f"transient failure of {x}")
    return f"ok {x} after {_calls[x]}"


def bad_config(x: int) -> str:
    raise ConfigError(f"a setting is wrong for {x}")


def _map(fn: str, items: list[int], **extra: object) -> Graph:
    return Graph("m").add_node("each", "map", items=items,
                               node={"kind": "function", "fn": f"{MOD}:{fn}", "args": {"x": "{item}"}, **extra})


async def test_the_map_returns_what_finished_and_lists_each_failure() -> None:
    result = await _map("plan_or_fail", [1, 2, 3]).run()
    assert result.output == ["answer 1", "answer 3"]
    failures = result.meta["branch_failures"]
    assert [(f["index"], f["item"], f["kind"]) for f in failures] == [(1, 2, "PlanError")]
    assert "stayed invalid" in failures[0]["error"]


async def test_a_map_where_every_branch_failed_is_one_clear_error() -> None:
    with pytest.raises(BranchesFailed, match=r"all 2 branches failed; the first: no plan for"):
        await _map("always_fail", [1, 2]).run()


async def test_a_retryable_branch_failure_is_retried_under_the_nodes_policy() -> None:
    _calls.clear()
    graph = Graph("r").add_node(
        "each", "map", items=[1, 2], node={"kind": "function", "fn": f"{MOD}:flaky_once", "args": {"x": "{item}"}},
        retry={"max_attempts": 2, "initial_interval": 0.01, "jitter": False})
    result = await graph.run()
    assert result.output == ["ok 1 after 2", "ok 2 after 2"]
    assert "branch_failures" not in result.meta


async def test_a_usage_error_in_a_branch_still_stops_the_run() -> None:
    with pytest.raises(ConfigError, match="a setting is wrong"):
        await _map("bad_config", [1, 2]).run()

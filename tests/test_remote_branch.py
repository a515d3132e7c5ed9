"""The remote-branch job without Ray: a worker on another machine than the driver refuses to run
a branch whose run keeps its budget and memory in the driver's SQLite files, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentloom.errors import ConfigError
from agentloom.graph._remote_branch import BranchJob, run_on_worker
from agentloom.graph.loader import parse_graph
from agentloom.remote_run import RunLink

SPEC = "version: 1\nname: g\nnodes:\n  a: {kind: agent, task: hi}\n"


def _job(tmp_path: Path, **link: object) -> BranchJob:
    spec = parse_graph(SPEC, base_dir=tmp_path).spec
    fields: dict[str, object] = dict(run_id="r1", parent_span=None, parent_team=None, budget_name=None, budget_limits={},
                                     seconds_left=None, home=str(tmp_path / ".loom"), driver_host="another-machine")
    fields.update(link)
    return BranchJob(link=RunLink(**fields), spec=spec, refs={}, base_dir=tmp_path, inputs={}, model="offline",  # type: ignore[arg-type]
                     node=spec.nodes["a"], label="fan[0]", scope={}, team="fan-0", configurable={})


async def test_a_worker_on_another_machine_needs_a_shared_database(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"another machine .*AGENTLOOM_DATABASE_URL=postgresql://") as raised:
        await run_on_worker(_job(tmp_path))
    assert "\n" not in str(raised.value)


async def test_a_job_runs_its_branch_and_reports_its_spend_and_events(tmp_path: Path) -> None:
    import socket

    sent: list[object] = []
    result = await run_on_worker(_job(tmp_path, driver_host=socket.gethostname(), budget_limits={"llm_calls": 5},
                                      budget_name="run:r1"), send=sent.append)
    output, flags = result["value"]
    assert isinstance(output, dict) and output["team"] == "fan-0"
    assert result["spent"]["llm_calls"] >= 1 and flags == {}
    kinds = [getattr(e, "kind", None) for e in sent]
    assert "model_call" in kinds and "budget" in kinds  # what the driver records for it
    assert all(getattr(e, "run_id", None) == "r1" for e in sent)

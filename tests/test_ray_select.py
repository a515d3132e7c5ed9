"""Choosing the executor, without a Ray runtime: the local executor is the default and keeps
``remote=True`` tools in this process; ``AGENTLOOM_EXECUTOR`` / ``--executor`` / ``executor:``
select Ray without importing it; bad choices are one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentloom import tool
from agentloom.errors import ConfigError, SpecError
from agentloom.executors import LocalExecutor, current, executor_for, select, use
from agentloom.tools import ToolExecutor
from tests.cliutil import run_cli


@tool(remote=True, num_cpus=2, cacheable=False)
def where(n: int) -> dict[str, Any]:
    """Which process ran this.

    Args:
        n: echoed back
    """
    return {"n": n, "pid": os.getpid()}


async def test_the_local_executor_keeps_a_remote_tool_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTLOOM_EXECUTOR", raising=False)
    assert isinstance(current(), LocalExecutor)
    result = await ToolExecutor([where]).run("where", {"n": 3})
    assert result.ok and result.value == {"n": 3, "pid": os.getpid()}
    assert where.remote and where.num_cpus == 2


async def test_the_local_executor_runs_sync_and_async_callables_here() -> None:
    async def double(x: int) -> int:
        return 2 * x

    value, placed = await LocalExecutor().call(double, (4,))
    assert value == 8 and placed.executor == "local" and placed.pid == os.getpid()
    value, placed = await LocalExecutor().call(pow, (2,), {"exp": 5})
    assert value == 32 and placed.pid == os.getpid()


def test_num_cpus_needs_a_remote_tool() -> None:
    with pytest.raises(ConfigError, match="num_cpus needs remote=True"):
        tool(num_cpus=1)(lambda: None)


def test_selection_order_argument_then_environment_then_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTLOOM_EXECUTOR", raising=False)
    assert select(None).name == "local"
    assert select(None, kind="ray").name == "ray"
    monkeypatch.setenv("AGENTLOOM_EXECUTOR", "local")
    assert select(None, kind="ray").name == "local"  # the environment (loom --executor) beats the spec
    assert select("ray", kind="local").name == "ray"  # an explicit argument beats both
    assert current().name == "local"
    monkeypatch.setenv("AGENTLOOM_EXECUTOR", "ray")
    assert current().name == "ray"
    with use(LocalExecutor()):
        assert current().name == "local"
    ray_one = executor_for("ray", address="ray://head:10001", num_cpus=2, max_retries=1)
    assert ray_one is executor_for("ray", address="ray://head:10001", num_cpus=2, max_retries=1)  # one per setting
    assert (ray_one.address, ray_one.num_cpus, ray_one.max_retries) == ("ray://head:10001", 2, 1)  # type: ignore[attr-defined]


def test_a_bad_executor_name_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTLOOM_EXECUTOR", "spark")
    with pytest.raises(ConfigError) as caught:
        current()
    assert caught.value.one_line() == "AGENTLOOM_EXECUTOR: 'spark' is not an executor; use one of: local, ray"


def test_choosing_ray_does_not_import_it() -> None:
    code = ("import sys, agentloom, agentloom.executors as ex\n"
            "from agentloom.tools import ToolExecutor\n"
            "e = ex.executor_for('ray')\n"
            "print(e.name, e.here().executor, 'ray' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert proc.stdout.split() == ["ray", "driver", "False"]  # naming the driver does not start Ray either


async def test_without_ray_installed_the_ray_executor_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from agentloom.executors import RayExecutor

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ConfigError, match=r"the ray executor needs Ray: pip install 'agentloom\[ray\]'"):
        await RayExecutor().call(pow, (2, 3))


def test_yaml_executor_block(tmp_path: Path) -> None:
    from agentloom.graph.loader import parse_graph

    base = "version: 1\nname: g\nnodes:\n  a: {kind: function, fn: 'os.path:basename', args: {p: x}}\n"
    short = parse_graph(base + "executor: ray\n", base_dir=tmp_path).spec.executor
    assert short is not None and short.kind == "ray" and short.address is None
    full = parse_graph(base + "executor: {kind: ray, address: 'ray://head:10001', num_cpus: 2, max_retries: 1}\n",
                       base_dir=tmp_path).spec.executor
    assert full is not None and (full.address, full.num_cpus, full.max_retries) == ("ray://head:10001", 2, 1)
    with pytest.raises(SpecError) as caught:
        parse_graph(base + "executor: {kind: spark}\n", source="g.yaml", base_dir=tmp_path)
    assert "g.yaml:5:" in caught.value.one_line()


def test_loom_executor_flag_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["--executor", "spark", "runs", "list"], capsys)
    assert code == 2 and "spark" in err and "Traceback" not in err


def test_ray_retries_follow_the_run_retry_policy_unless_the_executor_says(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    from agentloom.graph._run import executor_of
    from agentloom.graph.loader import parse_graph

    monkeypatch.delenv("AGENTLOOM_EXECUTOR", raising=False)
    base = "version: 1\nname: g\nnodes:\n  a: {kind: function, fn: 'os.path:basename', args: {p: x}}\n"

    def retries(extra: str) -> Any:
        return getattr(executor_of(parse_graph(base + extra, base_dir=tmp_path).spec, None), "max_retries", None)

    assert retries("executor: ray\n") == 3
    assert retries("executor: ray\nconfig: {retry: {max_attempts: 2}}\n") == 1
    assert retries("executor: {kind: ray, max_retries: 5}\nconfig: {retry: {max_attempts: 2}}\n") == 5
    assert executor_of(parse_graph(base, base_dir=tmp_path).spec, None).name == "local"


def test_the_hosts_setting_reaches_the_ray_executor_and_bad_counts_are_one_line(monkeypatch: pytest.MonkeyPatch,
                                                                             tmp_path: Path) -> None:
    from agentloom.executors._ray import RayExecutor
    from agentloom.graph._run import executor_of
    from agentloom.graph.loader import parse_graph

    monkeypatch.delenv("AGENTLOOM_EXECUTOR", raising=False)
    base = "version: 1\nname: g\nnodes:\n  a: {kind: function, fn: 'os.path:basename', args: {p: x}}\n"
    chosen = executor_of(parse_graph(base + "executor: {kind: ray, hosts: 3}\n", base_dir=tmp_path).spec, None)
    assert isinstance(chosen, RayExecutor) and chosen.hosts == 3
    default = executor_of(parse_graph(base + "executor: ray\n", base_dir=tmp_path).spec, None)
    assert isinstance(default, RayExecutor) and default.hosts is None
    with pytest.raises(SpecError) as caught:
        parse_graph(base + "executor: {kind: ray, hosts: 0}\n", source="g.yaml", base_dir=tmp_path)
    assert "g.yaml:5:" in caught.value.one_line() and "hosts" in caught.value.one_line()
    with pytest.raises(ConfigError, match="hosts must be 1 or more"):
        RayExecutor(hosts=0)

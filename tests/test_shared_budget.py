"""One budget across processes: ``Budget(..., shared="NAME")`` keeps its limits, spend and live
reservations in the database (SQLite in the loom home by default, Postgres when configured), so
processes together never pass a limit; a dead process's reservations expire after a lease."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from agentloom.budget import Budget, Cost
from agentloom.errors import BudgetExceeded, ConfigError
from agentloom.shared_budget import SharedLimits
from tests.cliutil import run_cli

ROOT = Path(__file__).resolve().parent.parent

#: A worker process: take one-call reservations on the shared budget until it refuses, settling
#: each; print how many it was granted.
WORKER = textwrap.dedent("""
    import sys, threading
    from agentloom.budget import Budget, Cost
    from agentloom.errors import BudgetExceeded
    budget = Budget(llm_calls=int(sys.argv[1]), shared=sys.argv[2])
    granted = []
    def loop():
        n = 0
        while True:
            try:
                r = budget.reserve(Cost(llm_calls=1, input_tokens=10), what="call")
            except BudgetExceeded:
                break
            r.settle(Cost(llm_calls=1, input_tokens=10))
            n += 1
        granted.append(n)
    threads = [threading.Thread(target=loop) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    print(sum(granted))
""")


def _workers(n: int, limit: int, name: str) -> list[int]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(limit), name], stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(n)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    return [int(o.strip()) for o in outs]


def test_budgets_naming_one_shared_budget_share_its_limits() -> None:
    first = Budget(llm_calls=3, shared="team")
    second = Budget(shared="team")  # no limits: the stored ones
    assert second.limits["llm_calls"] == 3 and second.shared == "team"
    first.reserve(Cost(llm_calls=1), what="a").settle(Cost(llm_calls=1))
    held = second.reserve(Cost(llm_calls=1), what="b")
    second.reserve(Cost(llm_calls=1), what="c").settle(Cost(llm_calls=1))
    with pytest.raises(BudgetExceeded, match="across all processes") as refused:
        first.reserve(Cost(llm_calls=1), what="d")
    assert refused.value.limit == "llm_calls"
    held.release()  # a released hold frees its share for everyone
    first.reserve(Cost(llm_calls=1), what="e").settle(Cost(llm_calls=1))
    assert first.spent.llm_calls == 2 and second.spent.llm_calls == 1
    assert "shared 'team', all processes: llm_calls=3" in first.report().render()


def test_a_fresh_root_can_be_shared_later_and_absorbs_what_others_spent() -> None:
    run = Budget(llm_calls=4, seconds=60, name="graph")
    run.share("run:abc")  # what a run does before its branches go to Ray workers
    worker = Budget.from_limits({**run.metered_limits(), "shared": "run:abc"})
    worker.reserve(Cost(llm_calls=1), what="a worker's call").settle(Cost(llm_calls=1))
    run.absorb(Cost(llm_calls=1))  # the worker's spend, counted in the run's own totals once
    run.reserve(Cost(llm_calls=1), what="the driver's call").settle(Cost(llm_calls=1))
    assert run.spent.llm_calls == 2 and run._shared is not None and run._shared.totals().spent["llm_calls"] == 2
    worker.reserve(Cost(llm_calls=2), what="two more").settle(Cost(llm_calls=2))
    with pytest.raises(BudgetExceeded, match="across all processes"):
        run.reserve(Cost(llm_calls=1), what="a fifth")
    with pytest.raises(ConfigError, match="only an unshared root"):
        run.share("again")
    used = Budget(llm_calls=4)
    used.charge(Cost(llm_calls=1))
    with pytest.raises(ConfigError, match="charged by an earlier run"):
        used.share("late")


def test_threads_on_two_budget_objects_never_pass_the_limit() -> None:
    budgets = [Budget(tool_calls=40, shared="threads"), Budget(shared="threads")]
    granted = [0] * 8

    def work(i: int) -> None:
        budget = budgets[i % 2]
        while True:
            try:
                r = budget.reserve(Cost(tool_calls=1), what="t")
            except BudgetExceeded:
                return
            r.settle(Cost(tool_calls=1))
            granted[i] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 40
    assert budgets[0]._shared is not None and budgets[0]._shared.totals().spent["tool_calls"] == 40


def test_processes_share_one_budget_on_sqlite(loom_home: Path) -> None:
    granted = _workers(4, 60, "procs")
    assert sum(granted) == 60  # all of it used, none past it
    ledger = SharedLimits("procs", {}).ledger()
    assert sum(row["amount"]["llm_calls"] for row in ledger if row["action"] == "settle") == 60


@pytest.mark.postgres
def test_processes_share_one_budget_on_postgres(pg_url: str, loom_home: Path) -> None:
    granted = _workers(4, 80, "pg")
    assert not (loom_home / "budgets.db").exists()  # the rows are in Postgres
    assert sum(granted) == 80
    totals = SharedLimits("pg", {}).totals()
    assert totals.spent["llm_calls"] == 80 and totals.held["llm_calls"] == 0


@pytest.mark.postgres
def test_a_dead_process_holds_expire_after_the_lease_on_postgres(pg_url: str) -> None:
    _dead_holder_expires()


def test_a_dead_process_holds_expire_after_the_lease(loom_home: Path) -> None:
    _dead_holder_expires()


def _dead_holder_expires() -> None:
    script = textwrap.dedent("""
        import os, signal, sys
        from agentloom.budget import Cost
        from agentloom.shared_budget import SharedLimits
        shared = SharedLimits("lease", {"llm_calls": 1}, lease=1.0)
        shared.reserve(Cost(llm_calls=1), "a call that never returns")
        print(shared.owner, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert proc.returncode == -signal.SIGKILL
    owner = proc.stdout.strip()
    budget = Budget(shared="lease")
    with pytest.raises(BudgetExceeded):  # still held by the dead process
        budget.reserve(Cost(llm_calls=1), what="too soon")
    time.sleep(1.2)
    budget.reserve(Cost(llm_calls=1), what="after the lease").settle(Cost(llm_calls=1))
    assert budget._shared is not None
    expired = [row for row in budget._shared.ledger() if row["action"] == "lease_expired"]
    assert len(expired) == 1 and owner in expired[0]["what"] and expired[0]["amount"]["llm_calls"] == 1


def test_a_live_process_keeps_its_holds_past_the_lease() -> None:
    holder = SharedLimits("renewed", {"llm_calls": 1}, lease=0.6)
    hold_id, _ = holder.reserve(Cost(llm_calls=1), "a long call")
    time.sleep(1.5)  # more than two leases: the renewer must have pushed the expiry forward
    with pytest.raises(BudgetExceeded):
        Budget(shared="renewed").reserve(Cost(llm_calls=1), what="other")
    holder.settle(hold_id, Cost(llm_calls=1), "a long call")
    assert not any(row["action"] == "lease_expired" for row in holder.ledger())


def test_usage_past_the_shared_limit_is_charged_and_recorded() -> None:
    a, b = Budget(tokens=100, shared="over"), Budget(shared="over")
    ra = a.reserve(Cost(input_tokens=40), what="a")
    rb = b.reserve(Cost(input_tokens=40), what="b")
    ra.settle(Cost(input_tokens=40))
    rb.settle(Cost(input_tokens=90))  # the provider reported more than was reserved
    assert b.overshoot["tokens"] == 30
    assert "over its limit" in b.report().render()
    assert any(row.action == "overshoot" and "shared 'over'" in row.what for row in b.ledger)
    assert b._shared is not None and any(row["action"] == "overshoot" for row in b._shared.ledger())
    with pytest.raises(BudgetExceeded):
        a.reserve(Cost(input_tokens=1), what="after")


def test_limits_must_agree_and_a_new_budget_needs_them() -> None:
    Budget(usd=1.0, shared="agree")
    Budget(usd=1.0, shared="agree")
    with pytest.raises(ConfigError, match="already has the limits usd=1"):
        Budget(usd=2.0, shared="agree")
    with pytest.raises(ConfigError, match="does not exist yet"):
        Budget(shared="never-made")
    assert Budget.from_limits({"llm_calls": 5, "shared": "yaml"}).shared == "yaml"


def test_cli_budget_shared(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["ask", "What is the capacity of the Northpoint plant?", "--budget-tokens", "50000",
                              "--budget-shared", "cli", "--json"], capsys)
    assert code == 0, err
    spent = SharedLimits("cli", {}).totals().spent
    assert spent["llm_calls"] == json.loads(out)["usage"]["llm_calls"] > 0
    code, _out, err = run_cli(["ask", "Why?", "--budget-tokens", "10", "--budget-shared", "cli"], capsys)
    assert code == 2 and "already has the limits tokens=50000" in err and "Traceback" not in err


def test_cli_budget_shared_without_limits_takes_the_defaults_once(capsys: pytest.CaptureFixture[str]) -> None:
    """The first run naming a new shared budget with no limit flags gives it the command's default
    limits (never no limit at all); later runs with no flags use the stored ones."""
    from agentloom._cli._common import DEFAULT_LIMITS

    for _ in range(2):
        code, _out, err = run_cli(["ask", "What is the capacity of the Northpoint plant?", "--budget-shared", "fresh",
                                   "--json"], capsys)
        assert code == 0, err
    limits = SharedLimits("fresh", {}).totals().limits
    assert limits["tokens"] == DEFAULT_LIMITS["tokens"] and limits["usd"] == DEFAULT_LIMITS.get("usd")


def test_yaml_budget_shared(tmp_path: Path) -> None:
    from agentloom.graph import parse_graph

    graph = parse_graph(textwrap.dedent("""\
        version: 1
        name: shared
        budget: {llm_calls: 9, shared: nightly}
        nodes:
          solve: {kind: agent, task: "2 + 2?", tools: []}
    """), base_dir=tmp_path)
    assert graph.spec.budget is not None
    budget = Budget.from_limits(graph.spec.budget.limits())
    assert budget.shared == "nightly" and budget.limits["llm_calls"] == 9



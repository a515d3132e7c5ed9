"""Provider rate limits shared by every process: a sliding window of slots in the budgets
database; a call that does not fit waits for the oldest slot to leave the window."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentloom.budget import Budget
from agentloom.errors import BudgetExceeded, ConfigError
from agentloom.rate_limits import RateLimit, _database
from tests.fakeserver import FakeOpenAIServer, Reply

ROOT = Path(__file__).resolve().parent.parent


def _take(limit: RateLimit, tokens: int, now: float, key: str = "m") -> tuple[str | None, float]:
    return _database().write(lambda conn: limit._take(conn, key, tokens, now))


def test_requests_per_minute_window() -> None:
    limit = RateLimit(requests_per_minute=3)
    assert all(_take(limit, 1, t)[0] is not None for t in (100.0, 110.0, 120.0))
    slot, wait = _take(limit, 1, 130.0)
    assert slot is None and wait == pytest.approx(30.0)  # the 100.0 slot leaves at 160.0
    assert _take(limit, 1, 160.5)[0] is not None
    assert _take(limit, 1, 161.0, key="other")[0] is not None  # another window


def test_tokens_per_minute_window() -> None:
    limit = RateLimit(tokens_per_minute=1000)
    assert _take(limit, 600, 0.0)[0] is not None
    assert _take(limit, 300, 10.0)[0] is not None
    slot, wait = _take(limit, 400, 20.0)
    assert slot is None and wait == pytest.approx(40.0)
    with pytest.raises(ConfigError, match="more than its rate limit"):
        import asyncio

        asyncio.run(limit.acquire("m", 1001))


@pytest.mark.parametrize("bad", [{}, {"requests_per_minute": 0}, {"tokens_per_minute": 1.5}, {"requests_per_minute": True}])
def test_bad_limits_are_config_errors(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        RateLimit(**bad)  # type: ignore[arg-type]


#: One process: six calls to the fake server through a model whose limit is 4 requests a second.
_WORKER = textwrap.dedent("""
    import asyncio, sys
    from agentloom.models.openai_model import OpenAIModel
    from agentloom.models.types import Message, ModelRequest
    from agentloom.rate_limits import RateLimit
    model = OpenAIModel("gpt-4o-mini", base_url=sys.argv[1], api_key="k", max_retries=0)
    model.rate_limit = RateLimit(requests_per_minute=4, window_seconds=1.0, key="shared-window")
    async def main():
        await asyncio.gather(*(model.complete(ModelRequest(messages=[Message("user", f"q{i}")], max_tokens=4))
                               for i in range(6)))
    asyncio.run(main())
""")


def test_two_processes_share_one_window(openai_server: FakeOpenAIServer) -> None:
    openai_server.responder = lambda body: Reply(text="ok", usage={"prompt_tokens": 3, "completion_tokens": 1})
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, openai_server.base_url], env=env) for _ in range(2)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    times = sorted(r.at for r in openai_server.requests)
    assert len(times) == 12
    # Slots are taken a second apart per 4; arrival adds each request's own latency, so allow some
    # jitter. Without the shared window all 12 arrive within a fraction of a second.
    assert all(times[i + 4] - times[i] >= 0.6 for i in range(len(times) - 4))
    assert times[-1] - times[0] >= 1.6  # 12 requests at 4 a second span at least two windows


async def test_a_wait_past_the_budget_deadline_is_budget_exceeded(openai_server: FakeOpenAIServer) -> None:
    from agentloom import tracing
    from agentloom.models.openai_model import OpenAIModel
    from agentloom.models.types import Message, ModelRequest

    model = OpenAIModel("gpt-4o-mini", base_url=openai_server.base_url, api_key="k", max_retries=0)
    model.rate_limit = RateLimit(requests_per_minute=1, key="deadline")
    budget = Budget(seconds=5)
    with tracing.use(tracing.RunContext(run_id="r", store=None, budget=budget)):  # type: ignore[arg-type]
        await model.complete(ModelRequest(messages=[Message("user", "first")], max_tokens=4))
        with pytest.raises(BudgetExceeded, match="rate limit"):
            await model.complete(ModelRequest(messages=[Message("user", "second")], max_tokens=4))
    assert len(openai_server.requests) == 1


def test_yaml_rate_limits_reach_the_model(tmp_path: Path) -> None:
    from agentloom.graph import parse_graph
    from agentloom.graph._resources import build_resources

    graph = parse_graph(textwrap.dedent("""\
        version: 1
        name: limited
        models:
          default:
            model: openai/local
            base_url: http://127.0.0.1:9/v1
            rate_limits: {requests_per_minute: 30, tokens_per_minute: 20000}
        nodes:
          solve: {kind: agent, task: "2 + 2?", tools: []}
    """), base_dir=tmp_path)
    model = build_resources(graph.spec, {}, graph.refs, tmp_path).models["default"]
    assert model.rate_limit == RateLimit(requests_per_minute=30, tokens_per_minute=20000)
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: b\nmodels:\n  default:\n    model: offline\n    rate_limits: {}\n"
                   "nodes:\n  s: {kind: agent, task: x}\n", encoding="utf-8")
    from agentloom import load_graph
    from agentloom.errors import SpecError

    with pytest.raises(SpecError) as info:
        load_graph(bad)
    assert any("bad.yaml:6" in p and "requests_per_minute" in p for p in info.value.problems)



"""OpenTelemetry traces of real runs, received by a real OTLP/HTTP receiver on loopback and
decoded with ``opentelemetry-proto``: the span tree of an offline research run, the GenAI and
agentloom attributes, no secret in anything sent, and nothing imported when tracing is off."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator

import pytest

from tests.otlpreceiver import OTLPReceiver, ReceivedSpan

pytestmark = pytest.mark.otel

QUESTION = "What are the daily capacities of the Northpoint, Saltmarsh and Kettle Bay desalination plants?"
SPAN_KIND_CLIENT = 3


@pytest.fixture(autouse=True)
def _tracing_switched_off() -> Iterator[None]:
    """``--otel`` / ``enable()`` is process-wide: leave it off for the next test."""
    from agentloom import observability

    yield
    observability.disable()


def _research(**kwargs: object) -> object:
    from agentloom.research.run import research

    return asyncio.run(research(QUESTION, model="offline", **kwargs))  # type: ignore[arg-type]


class Tree:
    """The received spans of one trace, by id and by parent."""

    def __init__(self, spans: list[ReceivedSpan]) -> None:
        self.spans = spans
        self.by_id = {s.span_id: s for s in spans}
        self.children: dict[str, list[ReceivedSpan]] = defaultdict(list)
        for s in spans:
            self.children[s.parent_id].append(s)

    def named(self, prefix: str) -> list[ReceivedSpan]:
        return [s for s in self.spans if s.name.startswith(prefix)]

    def parent(self, span: ReceivedSpan) -> ReceivedSpan:
        return self.by_id[span.parent_id]

    def below(self, span: ReceivedSpan) -> list[ReceivedSpan]:
        out, todo = [], list(self.children[span.span_id])
        while todo:
            s = todo.pop()
            out.append(s)
            todo.extend(self.children[s.span_id])
        return out


def _trace_of_run(receiver: OTLPReceiver) -> Tree:
    """The spans of the one run traced (the run's end flushes them: no wait, no flush here)."""
    spans = receiver.spans()
    assert spans, "the run's end did not send its spans"
    roots = [s for s in spans if not s.parent_id]
    assert len(roots) == 1, [s.name for s in roots]
    assert {s.trace_id for s in spans} == {roots[0].trace_id}
    assert len({s.span_id for s in spans}) == len(spans), "span ids repeat"
    return Tree(spans)


def test_research_run_span_tree(otlp_receiver: OTLPReceiver) -> None:
    result = _research()
    tree = _trace_of_run(otlp_receiver)
    for span in tree.spans:  # every parent was sent, and no span ends before it starts
        assert not span.parent_id or span.parent_id in tree.by_id, span.name
        assert span.end_ns >= span.start_ns > 0
        assert span.service == "agentloom"

    (run,) = [s for s in tree.spans if not s.parent_id]
    assert run.name == "invoke_agent deep_research"
    assert run.attributes["agentloom.run_id"] == result.run_id  # type: ignore[attr-defined]
    nodes = {s.name for s in tree.children[run.span_id]}
    assert {"node plan", "node research", "node verify", "node merge", "node write"} <= nodes

    (research_node,) = [s for s in tree.children[run.span_id] if s.name == "node research"]
    branches = tree.children[research_node.span_id]
    assert branches and all(b.name.startswith("branch research[") for b in branches)
    assert research_node.attributes["agentloom.branches"] == len(branches)
    assert research_node.start_ns <= min(b.start_ns for b in branches)
    assert research_node.end_ns >= max(b.end_ns for b in branches)
    for branch in branches:  # each branch holds its agent, whose model and tool calls are below it
        below = tree.below(branch)
        assert any(s.name.startswith("invoke_agent research[") for s in below)
        assert any(s.name == "chat offline" for s in below)
        assert any(s.name.startswith("execute_tool ") for s in below)

    for call in tree.named("chat ") + tree.named("execute_tool "):  # every call sits in a node or an agent
        assert tree.parent(call).name.startswith(("node ", "invoke_agent ")), call.name
        assert call.parent_id != run.span_id, call.name
    (plan,) = [s for s in tree.children[run.span_id] if s.name == "node plan"]
    assert any(s.name == "chat offline" for s in tree.children[plan.span_id])
    (verify,) = [s for s in tree.children[run.span_id] if s.name == "node verify"]
    assert any(s.name.startswith("verdict ") for s in tree.children[verify.span_id])


def test_research_run_attributes(otlp_receiver: OTLPReceiver) -> None:
    _research()
    tree = _trace_of_run(otlp_receiver)
    chats = tree.named("chat ")
    assert chats
    for chat in chats:
        a = chat.attributes
        assert chat.kind == SPAN_KIND_CLIENT
        assert a["gen_ai.operation.name"] == "chat"
        assert a["gen_ai.request.model"] == "offline"
        assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
        # what the call reserved, what it settled for, and what the run's budget had left then
        assert a["agentloom.budget.reserved.llm_calls"] == 1
        assert a["agentloom.budget.reserved.tokens"] >= a["agentloom.budget.settled.tokens"] > 0
        assert a["agentloom.budget.settled.tokens"] == a["gen_ai.usage.input_tokens"] + a["gen_ai.usage.output_tokens"]
        assert "agentloom.status" not in a  # said only when it is not "ok"
        assert 0 <= a["agentloom.budget.remaining.tokens"] < 400_000  # the research graph's limit

    tools = tree.named("execute_tool ")
    assert tools
    for tool in tools:
        a = tool.attributes
        assert a["gen_ai.operation.name"] == "execute_tool"
        assert tool.name == f"execute_tool {a['gen_ai.tool.name']}"
        assert a["agentloom.memory.hit"] in (True, False)
    assert any(t.attributes.get("agentloom.budget.settled.tool_calls") == 1 for t in tools)

    (run,) = [s for s in tree.spans if not s.parent_id]
    a = run.attributes
    assert a["gen_ai.operation.name"] == "invoke_agent"
    assert a["gen_ai.usage.input_tokens"] == sum(c.attributes["gen_ai.usage.input_tokens"] for c in chats)
    assert a["agentloom.budget.settled.llm_calls"] == len(chats)
    assert a["agentloom.budget.remaining.tokens"] == 400_000 - a["agentloom.budget.settled.tokens"]
    assert isinstance(a["agentloom.plan.width"], int) and a["agentloom.plan.width"] >= 1
    assert isinstance(a["agentloom.plan.depth"], int) and a["agentloom.plan.depth"] >= 1
    assert a["agentloom.plan.reason"]
    assert "agentloom.memory.hits" in a

    verdicts = tree.named("verdict ")
    assert verdicts
    for verdict in verdicts:
        assert 0.0 <= verdict.attributes["agentloom.verdict.score"] <= 1.0
        assert verdict.attributes["agentloom.verdict.verifier"] in ("citations", "consensus")
    assert any(v.attributes.get("agentloom.verdict.passed") is True for v in verdicts)


def test_memory_hits_reach_the_trace(otlp_receiver: OTLPReceiver) -> None:
    """A second run on a project memory reads what the first one stored: the hits are span
    events of the agent that got them, counted on its span."""
    _research(memory="project")
    first = len(otlp_receiver.spans())
    _research(memory="project")
    second = Tree(otlp_receiver.spans()[first:])
    hit_spans = [s for s in second.spans if s.attributes.get("agentloom.memory.hits", 0) > 0 and s.parent_id]
    assert hit_spans
    for span in hit_spans:
        events = [e for e in span.events if e[0] == "memory_hit"]
        assert len(events) == span.attributes["agentloom.memory.hits"]


def test_no_secret_reaches_the_collector(otlp_receiver: OTLPReceiver) -> None:
    from agentloom.secrets import REDACTED, register_secret

    literal = "plain-literal-4411-zq"
    shaped = "sk-live9f8e7d6c5b4a3f2e1d"
    register_secret(literal)
    from agentloom.research.run import research

    asyncio.run(research(f"{QUESTION} (token {literal}, key {shaped})", model="offline"))
    raw = otlp_receiver.raw()
    assert raw
    assert literal.encode() not in raw and shaped.encode() not in raw
    (run,) = [s for s in otlp_receiver.spans() if not s.parent_id]
    assert REDACTED in run.attributes["agentloom.input"]
    assert "Northpoint" in run.attributes["agentloom.input"]  # the rest of the input is kept


def test_secret_named_attributes_lose_their_value() -> None:
    from agentloom.observability._attributes import clean
    from agentloom.secrets import REDACTED

    attrs = clean({"agentloom.tool.api_key": "abc", "agentloom.headers.Authorization": "x y",
                   "agentloom.tool.args": '{"q": "Bearer abcdefghijkl"}', "agentloom.size": 3, "gone": None})
    assert attrs == {"agentloom.tool.api_key": REDACTED, "agentloom.headers.Authorization": REDACTED,
                     "agentloom.tool.args": f'{{"q": "{REDACTED}"}}', "agentloom.size": 3}


def test_off_without_the_variable_or_flag(otlp_receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentloom import observability

    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    assert observability.run_listener() is None
    _research()
    observability.flush()
    assert otlp_receiver.spans() == []
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.endpoint)
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert observability.run_listener() is None


def _loom(args: list[str], env: dict[str, str], prelude: str = "") -> subprocess.CompletedProcess[str]:
    """``loom ARGS`` in a fresh interpreter (so the process's exit, and its imports, are real)."""
    code = prelude + "import sys\nfrom agentloom.cli import main\nmain(sys.argv[1:])\n"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return env | extra


def test_cli_otel_flag_sends_a_short_runs_spans(otlp_receiver: OTLPReceiver, tmp_path: object) -> None:
    """``loom ask --otel``: every span is at the receiver when the process has exited."""
    env = _env(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"{otlp_receiver.endpoint}/v1/traces")
    proc = _loom(["ask", "How much water does Northpoint produce per day?", "--model", "offline", "--quiet", "--otel"], env)
    assert proc.returncode == 0, proc.stderr
    tree = _trace_of_run(otlp_receiver)
    (run,) = [s for s in tree.spans if not s.parent_id]
    assert run.name.startswith("invoke_agent ")
    assert tree.named("chat offline")


def test_cli_otel_without_the_extra_is_one_line_exit_2() -> None:
    hide = "import sys\nsys.modules['opentelemetry'] = None  # as if the [otel] extra were not installed\n"
    proc = _loom(["ask", "How much water does Northpoint produce per day?", "--model", "offline", "--otel"], _env(), hide)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'agentloom[otel]'" in lines[0], proc.stderr


def test_variable_without_the_extra_warns_once_and_runs(otlp_receiver: OTLPReceiver) -> None:
    hide = "import sys\nsys.modules['opentelemetry'] = None\n"
    env = _env(OTEL_EXPORTER_OTLP_ENDPOINT=otlp_receiver.endpoint)
    proc = _loom(["ask", "How much water does Northpoint produce per day?", "--model", "offline", "--quiet"], env, hide)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("agentloom[otel]") == 1 and "not traced" in proc.stderr
    assert otlp_receiver.spans() == []


def test_nothing_from_opentelemetry_is_imported_when_off() -> None:
    """``import agentloom`` stays free of the SDK, and a whole offline run imports none of
    agentloom's OpenTelemetry side unless tracing is on. (LangGraph's langsmith imports the
    ``opentelemetry`` API and SDK by itself whenever they are installed; that is not ours, so
    the run is checked for the exporter and agentloom's module, which only tracing imports.)"""
    code = (
        "import asyncio, sys\n"
        "import agentloom, agentloom.cli\n"
        "from agentloom.research.run import research\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry')], 'on import'\n"
        f"asyncio.run(research({QUESTION!r}, model='offline'))\n"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry.exporter', 'agentloom.observability._'))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"

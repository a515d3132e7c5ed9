"""Graph spec v1: loading YAML, every problem at once with file:line:col, the Python builder,
round trips and the JSON Schema."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from agentloom import Graph, load_graph
from agentloom.errors import SpecError
from agentloom.graph import GraphSpec, json_schema, parse_graph

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

GOOD = """\
version: 1
name: demo
inputs:
  question: {default: "What is 2 + 2?"}
models:
  default: offline
tools:
  calculator: {}
nodes:
  solve:
    kind: agent
    tools: [calculator]
    task: "{question}"
"""


def problems_of(text: str, tmp_path: Path, name: str = "graph.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_graph(path)
    return info.value.problems


def parsed(problem: str) -> tuple[int, int, str]:
    match = re.match(r"^.+?:(\d+):(\d+): ([A-Z_]+) ", problem)
    assert match, problem
    return int(match.group(1)), int(match.group(2)), match.group(3)


def test_good_spec_loads(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(GOOD)
    graph = load_graph(path)
    assert graph.name == "demo"
    assert list(graph.spec.nodes) == ["solve"]
    assert graph.spec.inputs["question"].default == "What is 2 + 2?"


# --------------------------------------------------------------------------- each bad input
BAD = {
    "typo_in_key": (
        GOOD.replace("    tools: [calculator]", "    tols: [calculator]"),
        (12, 5, "UNKNOWN_KEY"),
        "did you mean 'tools'?",
    ),
    "missing_tool": (
        GOOD.replace("    tools: [calculator]", "    tools: [calculater]"),
        (12, 13, "UNKNOWN_TOOL"),
        "did you mean 'calculator'?",
    ),
    "edge_to_unknown_node": (
        GOOD + "edges:\n  - {from: solve, to: slove}\n",
        (15, 23, "UNKNOWN_NODE"),
        "did you mean 'solve'?",
    ),
    "loop_without_limit": (
        GOOD + "  check: {kind: function, fn: 'json:dumps', args: {obj: 1}}\nedges:\n  - solve -> check\n  - check -> solve\n",
        (17, 5, "LOOP_LIMIT"),
        "add limit: N",
    ),
    "module_attr_does_not_import": (
        GOOD + "  check: {kind: function, fn: 'no_such_module_xyz:fn'}\n",
        (14, 31, "IMPORT"),
        "no module named 'no_such_module_xyz'",
    ),
    "non_mapping_document": ("- version: 1\n- name: demo\n", (1, 1, "NOT_MAPPING"), "a graph spec is a mapping"),
    "tabs": (GOOD.replace("    kind: agent", "\tkind: agent"), (11, 1, "TAB"), "replace the tab with spaces"),
    "duplicate_key": (
        GOOD.replace("    task: \"{question}\"", "    task: \"{question}\"\n    task: again"),
        (14, 5, "DUPLICATE_KEY"),
        "first at line 13",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_bad_input_is_one_located_line_with_the_fix(case: str, tmp_path: Path) -> None:
    text, (line, col, code), fix = BAD[case]
    problems = problems_of(text, tmp_path)
    assert len(problems) == 1, problems
    assert parsed(problems[0]) == (line, col, code), problems[0]
    assert problems[0].startswith(str(tmp_path / "graph.yaml") + ":")
    assert fix in problems[0]
    assert "\n" not in problems[0]


def test_every_problem_is_reported_together(tmp_path: Path) -> None:
    text = """\
    version: 1
    name: many
    max_concurrency: 4
    inputs:
      question: {default: hi}
    tools:
      calculator: {}
    config:
      configurable: {recursion_limit: 5}
    nodes:
      a: {kind: agent, tools: [calculatr], task: "{quesiton}", modle: x}
      b: {kind: agnet}
      c: {kind: function, fn: "json:dumps", recursion_limit: 3}
    edges:
      - a -> c
      - {from: c, to: a}
      - {from: c, to: nowhere}
    """
    problems = problems_of(text, tmp_path)
    codes = [parsed(p)[2] for p in problems]
    assert codes.count("MISPLACED") == 3
    for code in ("UNKNOWN_KEY", "UNKNOWN_TOOL", "UNKNOWN_INPUT", "UNKNOWN_KIND", "LOOP_LIMIT", "UNKNOWN_NODE", "UNREACHABLE"):
        assert code in codes, (code, problems)
    lines = [parsed(p)[0] for p in problems]
    assert lines == sorted(lines)
    joined = "\n".join(problems)
    assert "did you mean 'question'?" in joined
    assert "did you mean 'agent'?" in joined
    assert "move it to config.max_concurrency" not in joined or "config:" in joined
    assert "config.configurable.recursion_limit is never read by LangGraph" in joined


def test_misplaced_max_concurrency_under_configurable(tmp_path: Path) -> None:
    text = GOOD + "config:\n  configurable:\n    max_concurrency: 4\n"
    [problem] = problems_of(text, tmp_path)
    assert parsed(problem) == (16, 5, "MISPLACED")
    assert "move it to config.max_concurrency" in problem


def test_node_level_graph_setting_is_an_error_but_an_agents_own_cap_is_not(tmp_path: Path) -> None:
    ok = GOOD.replace("    task: \"{question}\"", "    task: \"{question}\"\n    max_concurrency: 4")
    path = tmp_path / "ok.yaml"
    path.write_text(ok)
    assert load_graph(path).spec.nodes["solve"].max_concurrency == 4  # type: ignore[union-attr]
    bad = GOOD + "  check: {kind: function, fn: 'json:dumps', max_concurrency: 2}\n"
    [problem] = problems_of(bad, tmp_path)
    assert "graph setting, not a node setting; move it to config.max_concurrency" in problem


def test_unquoted_placeholder_gets_a_quoting_hint(tmp_path: Path) -> None:
    [problem] = problems_of(GOOD.replace('task: "{question}"', "task: {question}"), tmp_path)
    assert "write it as \"{question}\"" in problem


def test_interpolation_kinds_are_distinct(tmp_path: Path) -> None:
    env_ok = GOOD.replace("  default: offline", "  default: offline\n  remote: {model: 'openai/x', params: {api_key: '${env:OPENAI_API_KEY}'}}")
    path = tmp_path / "env.yaml"
    path.write_text(env_ok)
    assert load_graph(path).spec.models["remote"].params["api_key"] == "${env:OPENAI_API_KEY}"
    [problem] = problems_of(env_ok.replace("${env:OPENAI_API_KEY}", "${ENV:OPENAI_API_KEY}"), tmp_path)
    assert "INTERPOLATION" in problem and "${env:VAR}" in problem
    [problem] = problems_of(GOOD.replace("tools:\n", "tools:\n  corpus: {paths: ['{solve}']}\n"), tmp_path)
    assert "only run inputs can be used here" in problem


def test_item_and_index_only_inside_a_map(tmp_path: Path) -> None:
    [problem] = problems_of(GOOD.replace('task: "{question}"', 'task: "{item}"'), tmp_path)
    assert "UNKNOWN_INPUT" in problem and "only exist inside a map body" in problem


def test_verdict_condition_needs_a_verifier(tmp_path: Path) -> None:
    text = GOOD + "  b: {kind: function, fn: 'json:dumps'}\nedges:\n  - {from: solve, to: b, when: {verdict: pass}}\n"
    [problem] = problems_of(text, tmp_path)
    assert "a verdict comes from a verifier" in problem


def test_yaml_syntax_error_and_empty_file(tmp_path: Path) -> None:
    [problem] = problems_of("version: 1\nname: [unclosed\n", tmp_path)
    assert parsed(problem)[2] == "YAML"
    [problem] = problems_of("", tmp_path)
    assert parsed(problem) == (1, 1, "EMPTY")
    [problem] = problems_of("!!python/object:os.system {}\n", tmp_path)
    assert "only plain YAML" in problem


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="FILE no such file"):
        load_graph(tmp_path / "nope.yaml")


# --------------------------------------------------------------------------- builder and round trips
@pytest.mark.parametrize("name", ["deep_research", "parallel_qa", "pdr_reasoning", "evolve"])
def test_examples_round_trip_through_yaml(name: str) -> None:
    graph = load_graph(EXAMPLES / f"{name}.yaml")
    again = parse_graph(graph.to_yaml(), source="again.yaml", base_dir=EXAMPLES)
    assert again == graph
    assert again.to_yaml() == graph.to_yaml()


def test_python_builder_equals_yaml_and_notices_differences(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(GOOD + "edges:\n  - START -> solve\n")
    built = (
        Graph("demo")
        .add_input("question", default="What is 2 + 2?")
        .add_model("default", "offline")
        .add_tool("calculator")
        .add_node("solve", "agent", tools=["calculator"], task="{question}")
        .add_edge("START", "solve")
    )
    assert built == load_graph(path)
    other = Graph("demo").add_input("question", default="What is 2 + 2?").add_model("default", "offline")
    other.add_tool("calculator").add_node("solve", "agent", tools=["calculator"], task="{question}", max_turns=3)
    other.add_edge("START", "solve")
    assert other != load_graph(path)


def test_builder_reports_mistakes_where_they_are_made() -> None:
    graph = Graph("g")
    with pytest.raises(SpecError, match=r"UNKNOWN_KEY unknown key 'modle' in nodes.a; did you mean 'model'\?"):
        graph.add_node("a", "agent", modle="x")
    with pytest.raises(SpecError, match="UNKNOWN_KIND"):
        graph.add_node("b", "agnet")
    graph.add_node("a", "function", fn="json:dumps")
    graph.add_edge("a", "zz")
    with pytest.raises(SpecError, match="UNKNOWN_NODE edge to 'zz'"):
        graph.validate()


def test_builder_round_trips_through_yaml(tmp_path: Path) -> None:
    graph = (
        Graph("loop")
        .add_input("n", "integer", default=2)
        .add_node("a", "function", fn="json:dumps", args={"obj": "{n}"})
        .add_node("b", "function", fn="json:loads", args={"s": "{a}"})
        .add_edge("a", "b")
        .add_edge("b", "a", when={"field": "b", "lt": 5}, limit=3)
        .configure(max_concurrency=2, recursion_limit=50, retry={"max_attempts": 2}, timeout=30)
    )
    text = graph.to_yaml()
    assert "- a -> b" in text
    path = tmp_path / "loop.yaml"
    path.write_text(text)
    assert load_graph(path) == graph


def test_json_schema_describes_both_interpolations_and_forbids_unknown_keys() -> None:
    schema = json_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    text = json.dumps(schema)
    assert "${env:VAR}" in text and "{name}" in text
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {alias or name for name, alias in ((n, f.alias) for n, f in GraphSpec.model_fields.items())}
    agent = schema["$defs"]["AgentNode"]
    assert agent["additionalProperties"] is False and "tools" in agent["properties"]


def test_json_schema_accepts_the_examples_and_their_short_forms_and_rejects_typos() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    validator = jsonschema.Draft202012Validator(json_schema())
    for name in ("deep_research", "parallel_qa", "pdr_reasoning", "evolve"):
        data = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
        assert not list(validator.iter_errors(data)), name
        data["nodes"][next(iter(data["nodes"]))]["descripton"] = "typo"
        assert list(validator.iter_errors(data)), name
    short = yaml.safe_load(GOOD + "  v: {kind: verifier, candidates: solve, verifiers: citation, select: top_k}\nedges:\n  - solve -> v\n")
    assert not list(validator.iter_errors(short))


def lookup_tool(key: str) -> str:
    """A user tool for the cache-policy spec test."""
    return key


def test_tool_cache_policy_from_yaml(tmp_path: Path) -> None:
    from agentloom.graph._resources import build_resources
    from agentloom.tools import CachePolicy

    text = GOOD.replace("  calculator: {}\n", (
        "  calculator: {cache: false}\n"
        "  plain: {ref: 'tests.test_graph_spec:lookup_tool'}\n"
        "  shared: {ref: 'tests.test_graph_spec:lookup_tool', cache: true}\n"
        "  fresh: {ref: 'tests.test_graph_spec:lookup_tool', cache: {ttl: 30}}\n"
    ))
    graph = parse_graph(text, base_dir=tmp_path)
    tools = build_resources(graph.spec, {}, graph.refs, tmp_path).tools
    assert tools["calculator"][0].cache is None
    assert tools["plain"][0].cache is None  # user tools are not shared unless they say so
    assert tools["shared"][0].cache == CachePolicy()
    assert tools["fresh"][0].cache == CachePolicy(ttl=30)
    (problem,) = problems_of(GOOD.replace("  calculator: {}\n", "  calculator: {cache: {ttl: -5}}\n"), tmp_path)
    assert "ttl" in problem and parsed(problem)[0] == 8

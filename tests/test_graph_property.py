"""Property: whatever is fed to the loader (mutated characters, deleted, inserted or replaced
keys and values), it returns a graph or raises ``SpecError`` whose every line is
``file:line:col: CODE message`` — never another exception, never an internal error."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentloom.errors import SpecError
from agentloom.graph import Graph, parse_graph

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SOURCES = [(EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8") for name in ("deep_research", "parallel_qa", "evolve")]
LINE = re.compile(r"^spec\.yaml:\d+:\d+: [A-Z_]+ \S")
KEYS = ["kind", "nodes", "edges", "from", "to", "when", "limit", "tools", "model", "models", "inputs", "over", "node",
        "verifiers", "type", "config", "max_concurrency", "configurable", "budget", "usd", "version", "name", "fn",
        "ref", "paths", "planner", "candidates", "findings", "default", "{question}", "x"]
CHARS = st.sampled_from(list("\t\n :-{}[]\"'#&*!|>%@`,?$\\") + ["a", "0", "é", "\x00", "\ufeff"])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True), st.text(max_size=12),
    st.sampled_from(KEYS), st.sampled_from(["agent", "map", "START", "END", "a -> b", "json:dumps", "no_mod:x", "{item}", "${env:X}"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)), max_leaves=8)


def check(text: str) -> None:
    try:
        graph = parse_graph(text, source="spec.yaml", base_dir=EXAMPLES)
    except SpecError as exc:
        assert exc.problems
        for line in exc.problems:
            assert LINE.match(line), line
            assert " INTERNAL " not in line, line
    else:
        assert isinstance(graph, Graph)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SOURCES), st.lists(st.tuples(st.sampled_from(["delete", "insert", "replace"]), st.floats(0, 1), CHARS), min_size=1, max_size=6))
def test_character_mutations_only_raise_spec_errors(source: str, edits: list[tuple[str, float, str]]) -> None:
    text = source
    for op, where, char in edits:
        i = int(where * max(0, len(text) - 1))
        if op == "delete":
            text = text[:i] + text[i + 1 :]
        elif op == "insert":
            text = text[:i] + char + text[i:]
        else:
            text = text[:i] + char + text[i + 1 :]
    check(text)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*path, i))
    return out


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SOURCES),
    st.lists(st.tuples(st.sampled_from(["delete", "insert", "replace", "rename"]), st.floats(0, 1), st.sampled_from(KEYS), values),
             min_size=1, max_size=4),
)
def test_key_mutations_only_raise_spec_errors(source: str, edits: list[tuple[str, float, str, Any]]) -> None:
    data = yaml.safe_load(source)
    for op, where, key, value in edits:
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = paths[int(where * (len(paths) - 1))]
        parent = _parent(data, path)
        last = path[-1]
        if op == "delete":
            del parent[last]
        elif op == "replace":
            parent[last] = value
        elif op == "insert":
            if isinstance(parent, dict):
                parent[key] = value
            else:
                parent.insert(last, value)
        elif op == "rename" and isinstance(parent, dict):
            parent[key] = parent.pop(last)
    check(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


def test_hostile_yaml_is_a_spec_error() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    for text in (bomb, "a: &a [*a]\n", "[" * 2000, "? [a, b]\n: c\n", "version: 1\nname: x\nnodes: {1: 2}\n"):
        check(text)
    try:
        parse_graph(bomb, source="spec.yaml")
    except SpecError as exc:
        assert "expands to more than 100,000 values" in exc.problems[0]
    else:
        raise AssertionError("a billion-laughs document was accepted")

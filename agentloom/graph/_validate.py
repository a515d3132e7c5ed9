"""Validate spec data: pydantic for shapes, then the checks pydantic cannot do (names that must
exist, loops that need a limit, settings in the wrong place, imports). Every problem is
collected; nothing stops at the first. The checks read the raw data defensively, so a broken
part of the spec does not hide problems in the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agentloom.graph import _interp
from agentloom.graph._imports import RefImportError, import_ref
from agentloom.graph._problems import Marks, Problem, dotted, suggest
from agentloom.graph._pyd_errors import problems_from_errors
from agentloom.graph.spec import (
    NAME_PATTERN,
    NODE_KINDS,
    REF_PATTERN,
    TOOL_GROUPS,
    ConfigSpec,
    GraphSpec,
)

__all__ = ["Validation", "validate_data", "RESERVED_NAMES", "START", "END"]

START, END = "START", "END"
RESERVED_NAMES = {"START", "END", "item", "index", "state", "inputs", "config", "__start__", "__end__"}
_NAME = re.compile(NAME_PATTERN)
_REF = re.compile(REF_PATTERN)
BUDGET_KEYS = ("usd", "input_tokens", "output_tokens", "tokens", "llm_calls", "tool_calls", "seconds")
CONFIG_KEYS = tuple(ConfigSpec.model_fields)
#: Keys that belong to the graph's ``config`` and are errors on a node.
GRAPH_ONLY = ("max_concurrency", "recursion_limit", "configurable", "durability", "thread_id", "checkpoint_id", "checkpoint_ns")
#: Keys LangGraph reads from the top of its config, never from ``configurable``.
NOT_CONFIGURABLE = ("max_concurrency", "recursion_limit", "durability", "retry", "timeout", "callbacks", "tags")
_REF_KEYS = ("ref", "fn", "key", "output_type")


@dataclass
class Validation:
    """What validating a spec gives: the spec (None when invalid), the problems, and the
    objects its ``module:attr`` references name."""

    spec: GraphSpec | None
    problems: list[Problem] = field(default_factory=list)
    refs: dict[str, Any] = field(default_factory=dict)


def validate_data(data: Any, marks: Marks | None = None, base_dir: Path | None = None) -> Validation:
    """Check ``data`` (a parsed YAML document or a builder's dict) and collect every problem."""
    marks = marks or Marks()
    if not isinstance(data, dict):
        what = "a list" if isinstance(data, list) else f"a {type(data).__name__}" if data is not None else "empty"
        return Validation(
            None,
            [
                marks.locate(
                    Problem(
                        "NOT_MAPPING",
                        f"the document is {what}; a graph spec is a mapping with version, name and nodes",
                        (),
                    )
                )
            ],
        )
    checker = _Checker(data, marks, base_dir)
    checker.misplaced()
    spec: GraphSpec | None = None
    try:
        spec = GraphSpec.model_validate(data)
    except ValidationError as exc:
        for problem, at_key in problems_from_errors(exc.errors(), data, GraphSpec, checker.reported):
            checker.add(problem, key=at_key)
    except (RecursionError, TypeError, ValueError) as exc:
        checker.add(Problem("VALUE", f"the spec cannot be read: {exc}", ()))
    checker.semantics()
    if checker.problems:
        spec = None
    return Validation(spec, checker.problems, checker.refs)


def _as_dict(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


#: What each node kind writes to the state (kinds with free-form output, function and planner, are left out).
_CANDIDATE = ("id", "text", "answer", "output", "citations", "passages", "source", "parents", "meta")
NODE_FIELDS: dict[str, tuple[str, ...]] = {
    "agent": ("text", "output", "task", "team", "citations", "passages", "stop_reason", "budget_limited", "grounded", "usage", "meta"),
    "verifier": ("candidates", "verdicts", "selected", "best", "text", "passed", "score", "pass_rate", "agreement", "majority",
                 "policy", "satisfied"),
    "crossover": _CANDIDATE,
    "writer": ("title", "short_answer", "markdown", "text", "citations"),
    "evolve": ("best", "text", "output", "score", "passed", "verdict", "stop_reason", "generations", "history", "budget_limited"),
}


def _path_head(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    head = text.split(".", 1)[0].strip()
    return head or None


class _Checker:
    def __init__(self, data: dict[Any, Any], marks: Marks, base_dir: Path | None) -> None:
        self.data = data
        self.marks = marks
        self.base_dir = base_dir
        self.problems: list[Problem] = []
        self.reported: set[tuple[Any, ...]] = set()
        self.refs: dict[str, Any] = {}
        self.nodes = {k: v for k, v in _as_dict(data.get("nodes")).items() if isinstance(k, str)}
        self.inputs = {k for k in _as_dict(data.get("inputs")) if isinstance(k, str)}
        self.models = {k for k in _as_dict(data.get("models")) if isinstance(k, str)}

    def add(self, problem: Problem, *, key: bool = False) -> None:
        self.problems.append(self.marks.locate(problem, key=key))
        self.reported.add(problem.path)

    # ------------------------------------------------------------------ misplaced settings
    def misplaced(self) -> None:
        for key in self.data:
            if key in CONFIG_KEYS:
                self.add(Problem("MISPLACED", f"'{key}' is a graph run setting; move it under config:", (key,)), key=True)
            elif key in BUDGET_KEYS:
                self.add(Problem("MISPLACED", f"'{key}' is a budget limit; move it under budget:", (key,)), key=True)
        config = self.data.get("config")
        if isinstance(config, dict):
            for key in config:
                if key in BUDGET_KEYS:
                    self.add(Problem("MISPLACED", f"'{key}' is a budget limit; move it from config: to budget:", ("config", key)), key=True)
            configurable = config.get("configurable")
            if isinstance(configurable, dict):
                for key in configurable:
                    path = ("config", "configurable", key)
                    if key in NOT_CONFIGURABLE:
                        self.add(
                            Problem(
                                "MISPLACED",
                                f"config.configurable.{key} is never read by LangGraph (it would be silently "
                                f"ignored); move it to config.{key}",
                                path,
                            ),
                            key=True,
                        )
                    elif key in ("thread_id", "checkpoint_id", "checkpoint_ns"):
                        self.add(
                            Problem("MISPLACED", f"config.configurable.{key} is set by agentloom (the run id is the thread id); "
                                    "remove it and use --resume RUN_ID or run_id=", path),
                            key=True,
                        )
        for name, node in self.nodes.items():
            self._misplaced_node(node, ("nodes", name))

    def _misplaced_node(self, node: Any, path: tuple[Any, ...]) -> None:
        if not isinstance(node, dict):
            return
        kind = node.get("kind")
        for key in node:
            own_setting = key == "max_concurrency" and (kind == "agent" or (kind == "planner" and node.get("planner") == "dag"))
            if key in GRAPH_ONLY and not own_setting:
                target = "config.max_concurrency" if key == "max_concurrency" else f"config.{key}" if key in CONFIG_KEYS else "config"
                self.add(
                    Problem("MISPLACED", f"'{key}' in {dotted(path)} is a graph setting, not a node setting; move it to {target}", (*path, key)),
                    key=True,
                )
            elif key in BUDGET_KEYS:
                self.add(
                    Problem("MISPLACED", f"'{key}' in {dotted(path)} is a budget limit; put it under this node's budget:", (*path, key)),
                    key=True,
                )
        for inner in ("node", "generate"):
            if isinstance(node.get(inner), dict):
                self._misplaced_node(node[inner], (*path, inner))

    # ------------------------------------------------------------------ cross-references
    def semantics(self) -> None:
        self._names()
        self._imports()
        tool_names = self._tools()
        for name, node in self.nodes.items():
            self._node(node, ("nodes", name), tool_names, body_of=None)
        self._approve_tools(tool_names)
        self._outputs()
        self._templates()
        self._edges()

    def _names(self) -> None:
        for name in _as_dict(self.data.get("inputs")):
            path = ("inputs", name)
            if not isinstance(name, str) or not _NAME.match(name):
                self.add(Problem("NAME", f"input name {name!r} must use letters, digits, _ and - only", path), key=True)
            elif name in RESERVED_NAMES or name.startswith("loom_"):
                self.add(Problem("NAME", f"'{name}' is reserved; rename this input", path), key=True)
        for name in _as_dict(self.data.get("nodes")):
            path = ("nodes", name)
            if not isinstance(name, str) or not _NAME.match(name):
                self.add(Problem("NAME", f"node name {name!r} must use letters, digits, _ and - only", path), key=True)
            elif name in RESERVED_NAMES or name.startswith("loom_"):
                self.add(Problem("NAME", f"'{name}' is reserved; rename this node", path), key=True)
            elif name in self.inputs:
                self.add(Problem("NAME", f"'{name}' is both an input and a node; rename one of them", path), key=True)

    def _imports(self) -> None:
        for path, value in _walk_refs(self.data):
            if not isinstance(value, str) or not _REF.match(value) or value in self.refs:
                continue
            try:
                self.refs[value] = import_ref(value, self.base_dir)
            except RefImportError as exc:
                self.add(Problem("IMPORT", f"{dotted(path)}: {exc}", path))

    def _approve_tools(self, tool_names: set[str]) -> None:
        """``approve: {tools: [...]}`` names tools this graph has (MCP servers list theirs at run time)."""
        approve = self.data.get("approve")
        entries = _as_dict(self.data.get("tools")).values()
        if not isinstance(approve, dict) or any(isinstance(e, dict) and "mcp" in e for e in entries):
            return
        for i, name in enumerate(_as_list(approve.get("tools"))):
            if isinstance(name, str) and name not in tool_names and name not in TOOL_GROUPS:
                declared = ", ".join(sorted(tool_names)) or "none"
                self.add(Problem("UNKNOWN_TOOL", f"approve.tools names '{name}', which no tool of this graph provides"
                                 f"{suggest(name, tool_names)} (declared: {declared}); fix the name or declare it under tools:",
                                 ("approve", "tools", i)))

    def _tools(self) -> set[str]:
        names: set[str] = set()
        for key, entry in _as_dict(self.data.get("tools")).items():
            if not isinstance(key, str):
                continue
            names.add(key)
            path = ("tools", key)
            raw = entry if isinstance(entry, dict) else ({"ref": entry} if isinstance(entry, str) else {})
            builtin = raw.get("builtin")
            ref = raw.get("ref")
            if ref is not None:
                obj = self.refs.get(ref) if isinstance(ref, str) else None
                names.update(_tool_names(obj))
            elif isinstance(mcp := raw.get("mcp"), dict):  # its tools are listed when the run starts
                names.update(n for n in _as_list(mcp.get("allow")) if isinstance(n, str))
            elif isinstance(builtin, str) and builtin in TOOL_GROUPS:
                names.update(TOOL_GROUPS[builtin])
            elif builtin is None:
                if key in TOOL_GROUPS:
                    names.update(TOOL_GROUPS[key])
                else:
                    self.add(
                        Problem(
                            "UNKNOWN_TOOL",
                            f"tool entry '{key}' is not a built-in ({', '.join(TOOL_GROUPS)}){suggest(key, TOOL_GROUPS)}; "
                            "for your own tool give ref: module:attr",
                            path,
                        ),
                        key=True,
                    )
        return names

    def _node(self, node: Any, path: tuple[Any, ...], tool_names: set[str], body_of: str | None) -> None:
        if not isinstance(node, dict):
            return
        kind = node.get("kind")
        if kind not in NODE_KINDS:
            return
        for key in ("model", "judge"):
            self._model_ref(node.get(key), (*path, key))
        subs: list[tuple[Any, tuple[Any, ...]]] = [
            (entry, (*path, "verifiers", i)) for i, entry in enumerate(_as_list(node.get("verifiers")))
        ]
        subs += [(node.get(key), (*path, key)) for key in ("verify", "verifier", "crossover")]
        for entry, sub_path in subs:
            if isinstance(entry, dict):
                for key in ("model", "judge"):
                    self._model_ref(entry.get(key), (*sub_path, key))
        for i, name in enumerate(_as_list(node.get("tools"))):
            if isinstance(name, str) and name not in tool_names:
                declared = ", ".join(sorted(tool_names)) or "none"
                self.add(
                    Problem(
                        "UNKNOWN_TOOL",
                        f"{dotted(path)} uses tool '{name}', which is not declared{suggest(name, tool_names)} "
                        f"(declared: {declared}); add it under tools:",
                        (*path, "tools", i),
                    )
                )
        node_name = path[1] if len(path) > 1 else ""
        for key in ("over", "candidates", "findings", "passages", "feedback"):
            value = node.get(key)
            own = str(node_name) if body_of is None and key != "feedback" else None
            if isinstance(value, list):
                for i, v in enumerate(value):
                    self._state_path(v, (*path, key, i), body_of=body_of, own=own)
            else:
                self._state_path(value, (*path, key), body_of=body_of, own=own)
        needs_question = kind in ("planner", "writer", "evolve") or (kind == "agent" and body_of is None)
        if needs_question and node.get("question" if kind != "agent" else "task") is None and "question" not in self.inputs:
            field_name = "task" if kind == "agent" else "question"
            self.add(
                Problem(
                    "MISSING",
                    f"{dotted(path)} needs {field_name}: (it defaults to '{{question}}', but there is no input named question)",
                    path,
                ),
                key=True,
            )
        if kind == "map":
            self._node(node.get("node"), (*path, "node"), tool_names, body_of=str(node_name))
        if kind == "evolve":
            self._node(node.get("generate"), (*path, "generate"), tool_names, body_of=str(node_name))

    def _model_ref(self, value: Any, path: tuple[Any, ...]) -> None:
        if isinstance(value, str) and value not in self.models:
            known = ", ".join(sorted(self.models)) or "none declared"
            self.add(
                Problem(
                    "UNKNOWN_MODEL",
                    f"{dotted(path)} names model '{value}', which is not in models{suggest(value, self.models)} "
                    f"(models: {known}); declare it under models:",
                    path,
                )
            )

    def _state_path(self, value: Any, path: tuple[Any, ...], *, body_of: str | None, own: str | None = None) -> None:
        head = _path_head(value)
        if head is None:
            return
        known = set(self.nodes) | self.inputs | ({"item", "index"} if body_of else set())
        if head not in known:
            self.add(
                Problem(
                    "UNKNOWN_NAME",
                    f"{dotted(path)} reads '{head}', which is neither an input nor a node{suggest(head, known)}",
                    path,
                )
            )
        elif own is not None and head == own:
            self.add(Problem("VALUE", f"{dotted(path)} reads the node's own output; point it at an earlier node", path))

    def _outputs(self) -> None:
        for name, out in _as_dict(self.data.get("outputs")).items():
            source = out.get("from") if isinstance(out, dict) else out
            path = ("outputs", name, "from") if isinstance(out, dict) else ("outputs", name)
            self._state_path(source, path, body_of=None)
            self._output_field(source, path)

    def _output_field(self, source: Any, path: tuple[Any, ...]) -> None:
        """An output read from a field its node never writes (``refine.txt``) would be null after a run."""
        if not isinstance(source, str):
            return
        parts = source.strip().strip("{}").strip().split(".")
        kind = _as_dict(self.nodes.get(parts[0])).get("kind")
        fields = NODE_FIELDS.get(kind) if isinstance(kind, str) else None
        if len(parts) < 2 or fields is None or parts[1] in fields:
            return
        self.add(Problem("UNKNOWN_FIELD", f"{dotted(path)} reads '{parts[1]}', which {kind} node '{parts[0]}' never "
                                          f"writes{suggest(parts[1], set(fields))}", path))

    def _templates(self) -> None:
        early = self.inputs
        late = self.inputs | set(self.nodes)
        sections: list[tuple[str, set[str]]] = [("models", early), ("tools", early), ("memory", early), ("nodes", late), ("edges", late)]
        for section, known in sections:
            for path, text in _interp.strings(self.data.get(section), (section,)):
                if _is_ref_field(path):
                    continue
                in_body = section == "nodes" and (
                    any(p in ("node", "generate") for p in path[2:])
                    or (len(path) == 3 and path[2] == "team" and _as_dict(self.nodes.get(path[1])).get("kind") == "map")
                )
                in_evolve = section == "nodes" and "generate" in path[2:]
                names = known | ({"item", "index"} if in_body else set()) | ({"generation"} if in_evolve else set())
                for bad in _interp.bad_dollar(text):
                    self.add(Problem("INTERPOLATION", f"{dotted(path)}: '{bad}' is not an interpolation; secrets are written '${{env:VAR}}'", path))
                for placeholder in _interp.placeholders(text):
                    head = placeholder.split(".", 1)[0]
                    if head in names:
                        continue
                    if section in ("models", "tools", "memory") and head in self.nodes:
                        why = f"{section} are built before any node runs, so only run inputs can be used here"
                    else:
                        kinds = "an input or a node" if section in ("nodes", "edges") else "an input"
                        why = f"it is not {kinds}{suggest(head, names)}"
                        if in_body is False and head in ("item", "index"):
                            why = "{item} and {index} only exist inside a map body"
                    self.add(
                        Problem(
                            "UNKNOWN_INPUT",
                            f"{dotted(path)} uses '{{{placeholder}}}', but {why} (inputs: {', '.join(sorted(self.inputs)) or 'none'})",
                            path,
                        )
                    )

    # ------------------------------------------------------------------ edges and loops
    def _edges(self) -> None:
        raw_edges = self.data.get("edges")
        if raw_edges is None:
            return
        nodes = set(self.nodes)
        adjacency: dict[str, list[tuple[str, bool, tuple[Any, ...]]]] = {}
        has_start = False
        for i, raw in enumerate(_as_list(raw_edges)):
            edge = _edge_dict(raw)
            if edge is None:
                continue
            path = ("edges", i)
            sources = _names_of(edge.get("from"))
            targets = _names_of(edge.get("to"))
            when = edge.get("when")
            limited = edge.get("limit") is not None
            for key, names, allowed, other in (("from", sources, nodes | {START}, END), ("to", targets, nodes | {END}, START)):
                for name in names:
                    if name == other:
                        self.add(Problem("EDGE", f"{dotted(path)}: {other} cannot be used as '{key}'", (*path, key)))
                    elif name not in allowed:
                        self.add(
                            Problem(
                                "UNKNOWN_NODE",
                                f"edge {key} '{name}' is not a node{suggest(name, allowed)} (nodes: {', '.join(sorted(nodes))})",
                                (*path, key),
                            )
                        )
            if len(sources) > 1 and (when is not None or limited):
                self.add(Problem("EDGE", f"{dotted(path)}: an edge waiting on several nodes cannot have when or limit", path))
            if isinstance(when, dict):
                self._condition(when, sources, (*path, "when"))
            has_start = has_start or START in sources
            for s in sources:
                for t in targets:
                    adjacency.setdefault(s, []).append((t, limited, path))
        self._loops(adjacency)
        entry = START if has_start else next(iter(self.nodes), None)
        if entry is None:
            return
        reached = {entry}
        todo = [entry]
        while todo:
            for t, _limited, _path in adjacency.get(todo.pop(), []):
                if t not in reached:
                    reached.add(t)
                    todo.append(t)
        for name in self.nodes:
            if name not in reached:
                self.add(
                    Problem(
                        "UNREACHABLE",
                        f"node '{name}' is never reached from {'START' if has_start else 'the first node'}; add an edge to it"
                        f"{'' if has_start else ' (e.g. ' + repr('START -> ' + name) + ')'} or remove it",
                        ("nodes", name),
                    ),
                    key=True,
                )

    def _condition(self, when: dict[Any, Any], sources: list[str], path: tuple[Any, ...]) -> None:
        if when.get("verdict") is not None:
            target = when.get("node") if isinstance(when.get("node"), str) else (sources[0] if sources else None)
            node = self.nodes.get(target) if isinstance(target, str) else None
            if isinstance(when.get("node"), str) and target not in self.nodes:
                self.add(Problem("UNKNOWN_NODE", f"{dotted(path)}.node '{target}' is not a node{suggest(target, self.nodes)}", (*path, "node")))
            elif isinstance(node, dict) and node.get("kind") not in ("verifier", "evolve"):
                self.add(
                    Problem(
                        "EDGE",
                        f"{dotted(path)}: a verdict comes from a verifier or evolve node, and '{target}' is a "
                        f"{node.get('kind')}; add node: <your verifier>",
                        (*path, "verdict"),
                    )
                )
        self._state_path(when.get("field"), (*path, "field"), body_of=None)

    def _loops(self, adjacency: dict[str, list[tuple[str, bool, tuple[Any, ...]]]]) -> None:
        """Every cycle must contain an edge with a limit: drop limited edges, and any cycle left
        is reported at the edge that closes it."""
        white, grey, black = 0, 1, 2
        color: dict[str, int] = {}
        reported: set[tuple[Any, ...]] = set()

        def visit(start: str) -> None:
            stack: list[tuple[str, Iterator[tuple[str, bool, tuple[Any, ...]]]]] = [(start, iter(adjacency.get(start, [])))]
            trail = [start]
            color[start] = grey
            while stack:
                node, edges = stack[-1]
                advanced = False
                for target, limited, path in edges:
                    if limited:
                        continue
                    state = color.get(target, white)
                    if state == grey:
                        if path not in reported:
                            reported.add(path)
                            cycle = trail[trail.index(target):] + [target]
                            self.add(
                                Problem(
                                    "LOOP_LIMIT",
                                    f"edge {node} -> {target} closes a loop ({' -> '.join(cycle)}) without a limit; "
                                    "add limit: N to this edge (the most times it is taken)",
                                    path,
                                )
                            )
                    elif state == white:
                        color[target] = grey
                        trail.append(target)
                        stack.append((target, iter(adjacency.get(target, []))))
                        advanced = True
                        break
                if not advanced:
                    color[node] = black
                    stack.pop()
                    trail.pop()

        for name in list(adjacency):
            if color.get(name, white) == white:
                visit(name)


def _edge_dict(raw: Any) -> dict[Any, Any] | None:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str) and "->" in raw:
        left, _, right = raw.partition("->")
        return {"from": left.strip(), "to": right.strip()}
    return None


def _names_of(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in _as_list(value) if isinstance(v, str)]


def _is_ref_field(path: tuple[Any, ...]) -> bool:
    if len(path) >= 2 and path[-2] == "findings":
        return True
    return bool(path) and path[-1] in (*_REF_KEYS, "over", "candidates", "findings", "passages", "feedback", "field", "from", "to", "node")


def _walk_refs(value: Any, path: tuple[Any, ...] = (), depth: int = 0) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if depth > 30:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if k in _REF_KEYS and isinstance(v, str) and path[:1] != ("inputs",):
                yield (*path, k), v
            elif k == "tools" and path[:1] == () and isinstance(v, dict):
                for name, entry in v.items():
                    if isinstance(entry, str):
                        yield ("tools", name), entry
                    yield from _walk_refs(entry, ("tools", name), depth + 2)
            else:
                yield from _walk_refs(v, (*path, k), depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk_refs(v, (*path, i), depth + 1)


def _tool_names(obj: Any) -> list[str]:
    from agentloom.tools.base import Tool

    if isinstance(obj, Tool):
        return [obj.name]
    if isinstance(obj, list | tuple):
        return [n for o in obj for n in _tool_names(o)]
    if callable(obj):
        return [getattr(obj, "__name__", "")]
    return []

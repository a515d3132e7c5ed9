"""YAML with positions: ``yaml.safe_load`` semantics, plus the line and column of every key and
value, refused duplicate keys and a clear message for tabs.

PyYAML keeps the last of two equal keys without a word; here the second one is a problem.
Parsing never raises: everything wrong comes back as a list of problems.
"""

from __future__ import annotations

from typing import Any

import yaml

from agentloom.graph._problems import Marks, Problem, dotted

__all__ = ["parse_yaml"]

_MAX_NODES = 200_000
#: Values a spec may hold once aliases are expanded (a "billion laughs" document stops here).
_MAX_VALUES = 100_000


class _MarkedLoader(yaml.SafeLoader):
    """``SafeLoader`` whose composed node tree is walked for marks before it is constructed."""


def _pos(mark: Any) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1)


def _tab_problems(text: str) -> list[Problem]:
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent:
            col = indent.index("\t") + 1
            problems.append(
                Problem(
                    "TAB",
                    "tab character in indentation; YAML indents with spaces only — replace the tab with spaces",
                    line=number,
                    col=col,
                )
            )
    return problems


def _scalar_key(loader: _MarkedLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        try:
            return loader.construct_object(node, deep=True)
        except Exception:
            return node.value
    return f"<{type(node).__name__} at line {node.start_mark.line + 1}>"


def _walk(loader: _MarkedLoader, root: yaml.Node, marks: Marks, problems: list[Problem]) -> None:
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, tuple[Any, ...]]] = [(root, ())]
    count = 0
    while stack:
        node, path = stack.pop()
        marks.values.setdefault(path, _pos(node.start_mark))
        if id(node) in seen:
            continue  # an alias: walked once is enough (and keeps hostile input linear)
        seen.add(id(node))
        count += 1
        if count > _MAX_NODES:
            problems.append(Problem("YAML", "the document is too large for a graph spec", path))
            return
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, tuple[int, int]] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    stack.append((value_node, path))
                    continue
                key = _scalar_key(loader, key_node)
                try:
                    hash(key)
                except TypeError:
                    key = repr(key)
                child = (*path, key)
                if key in first:
                    line, _ = first[key]
                    problems.append(
                        Problem(
                            "DUPLICATE_KEY",
                            f"duplicate key '{key}' in {dotted(path)} (first at line {line}); "
                            "YAML would silently keep the last one — remove or rename one of them",
                            child,
                            *_pos(key_node.start_mark),
                        )
                    )
                    continue
                first[key] = _pos(key_node.start_mark)
                marks.keys.setdefault(child, _pos(key_node.start_mark))
                stack.append((value_node, child))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                stack.append((item, (*path, index)))


def parse_yaml(text: str) -> tuple[Any, Marks, list[Problem]]:
    """The document's data (``None`` when it cannot be read), its marks and every problem."""
    marks = Marks()
    tabs = _tab_problems(text)
    if tabs:
        return None, marks, tabs
    problems: list[Problem] = []
    try:
        loader = _MarkedLoader(text)
    except yaml.YAMLError as exc:
        return None, marks, [_yaml_problem(exc)]
    try:
        try:
            root = loader.get_single_node()
        except yaml.YAMLError as exc:
            return None, marks, [_yaml_problem(exc)]
        except RecursionError:
            return None, marks, [Problem("YAML", "the document is nested too deeply", line=1, col=1)]
        if root is None:
            return None, marks, [Problem("EMPTY", "the file is empty; a graph spec starts with 'version: 1'", line=1, col=1)]
        _walk(loader, root, marks, problems)
        try:
            data = loader.construct_document(root)
        except yaml.YAMLError as exc:
            return None, marks, [*problems, _yaml_problem(exc)]
        except (RecursionError, TypeError, ValueError, OverflowError) as exc:
            return None, marks, [*problems, Problem("YAML", f"cannot read the document: {exc}", line=1, col=1)]
    finally:
        loader.dispose()
    if _too_big(data):
        return None, marks, [*problems, Problem("YAML", f"the document expands to more than {_MAX_VALUES:,} values "
                                                "(aliases repeated many times?); a graph spec is much smaller", line=1, col=1)]
    return data, marks, problems


def _too_big(data: Any) -> bool:
    """Whether ``data``, with aliases expanded, holds more than ``_MAX_VALUES`` values (or loops)."""
    count = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > _MAX_VALUES or depth > 200:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
            stack.extend((k, depth + 1) for k in value)
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return False


def _yaml_problem(exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    what = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"{context}, {what}" if context and context not in str(what) else str(what)
    message = " ".join(message.split())
    if "could not determine a constructor" in message:
        message += "; only plain YAML (no !!python or custom tags) is allowed"
    if mark is not None:
        return Problem("YAML", message, line=mark.line + 1, col=mark.column + 1)
    position = getattr(exc, "position", None)
    if isinstance(position, int):
        return Problem("YAML", " ".join(str(exc).split()), line=1, col=position + 1)
    return Problem("YAML", message, line=1, col=1)

"""Pydantic validation errors turned into spec problems at the right place, with the fix.

A pydantic ``loc`` names model fields, dict keys, list indexes and also union tags and union
member names that are not in the data; the data path is recovered by walking the raw data, and
the valid keys for a typo suggestion by walking the spec's types.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from agentloom.graph._problems import Problem, dotted, suggest

__all__ = ["problems_from_errors"]


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], list[str], bool]:
    """The path into ``data`` that ``loc`` points at, the loc parts that were not in the data
    (tags, union members, missing fields) and whether it ends at a dict key (``[key]``)."""
    path: list[Any] = []
    skipped: list[str] = []
    current: Any = data
    at_key = False
    for part in loc:
        if part == "[key]":
            at_key = True
            continue
        if isinstance(current, dict) and part in current:
            path.append(part)
            current = current[part]
        elif isinstance(current, dict) and isinstance(part, str) and part.isdigit() and int(part) in current:
            path.append(int(part))
            current = current[int(part)]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current = current[part]
        else:
            skipped.append(str(part))
    return tuple(path), skipped, at_key


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    return tp


def _members(tp: Any) -> list[tuple[Any, str | None]]:
    """Union members with their tags (``Tag`` metadata), optional ``None`` dropped."""
    tp = _unwrap(tp)
    if get_origin(tp) in (Union, types.UnionType):
        out: list[tuple[Any, str | None]] = []
        for arg in get_args(tp):
            if arg is type(None):
                continue
            tag = None
            if get_origin(arg) is typing.Annotated:
                for meta in get_args(arg)[1:]:
                    if type(meta).__name__ == "Tag":
                        tag = meta.tag
            out.append((arg, tag))
        return out
    return [(tp, None)]


def _field_type(model: type[BaseModel], name: Any) -> Any:
    for fname, info in model.model_fields.items():
        if name in (fname, info.alias):
            return info.annotation
    return None


def _keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The spec model that ``loc`` (without its last part) lands on, following tags."""
    current: Any = root
    for part in loc:
        candidates = _members(current)
        nxt: Any = None
        tagged = [m for m, tag in candidates if tag == part]
        if tagged:
            current = tagged[0]
            continue
        for member, _tag in candidates:
            member = _unwrap(member)
            origin = get_origin(member)
            if isinstance(member, type) and issubclass(member, BaseModel):
                found = _field_type(member, part)
                if found is not None:
                    nxt = found
                    break
            elif origin in (dict, list) and get_args(member):
                nxt = get_args(member)[-1]
                break
        if nxt is None:
            continue  # a union member name or something else not in the types: stay
        current = nxt
    members = [_unwrap(m) for m, _ in _members(current)]
    models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
    return models[0] if len(models) == 1 else None


def _discriminator_field(raw: Any, tag: Any) -> str:
    if isinstance(raw, dict):
        for name in ("kind", "planner", "type"):
            if name in raw and raw[name] == tag:
                return name
    return "kind"


def _lookup(data: Any, path: tuple[Any, ...]) -> Any:
    current = data
    for part in path:
        try:
            current = current[part]
        except (KeyError, IndexError, TypeError):
            return None
    return current


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def problems_from_errors(
    errors: list[ErrorDetails], data: Any, root: type[BaseModel], skip: set[tuple[Any, ...]]
) -> list[tuple[Problem, bool]]:
    """One problem per error (union alternatives merged), each with whether it points at a key.
    ``skip`` holds paths already reported (e.g. misplaced settings)."""
    out: list[tuple[Problem, bool]] = []
    grouped: dict[tuple[Any, ...], list[tuple[ErrorDetails, list[str]]]] = {}
    for err in errors:
        loc = tuple(err["loc"])
        path, skipped, at_key = _data_path(data, loc)
        if path in skip:
            continue
        kind = err["type"]
        where = dotted(path)
        if kind == "extra_forbidden":
            model = _model_at(root, loc[:-1])
            options = _keys(model) if model is not None else []
            key = path[-1] if path else loc[-1]
            parent = dotted(path[:-1])
            hint = suggest(key, options)
            if not hint and options:
                hint = f"; valid keys here: {', '.join(options)}"
            out.append((Problem("UNKNOWN_KEY", f"unknown key '{key}' in {parent}{hint}", path), True))
        elif kind == "missing":
            name = loc[-1]
            if name == "version":
                message = "missing 'version: 1' at the top of the spec"
            else:
                message = f"missing required key '{name}' in {where}"
            out.append((Problem("MISSING", message, path), True))
        elif kind == "union_tag_invalid":
            ctx = err.get("ctx") or {}
            tag = ctx.get("tag")
            expected = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",") if t.strip()]
            field = _discriminator_field(_lookup(data, path), tag)
            out.append(
                (
                    Problem(
                        "UNKNOWN_KIND",
                        f"unknown {field} '{tag}' in {where}{suggest(tag, expected)} ({field}s: {', '.join(expected)})",
                        (*path, field),
                    ),
                    False,
                )
            )
        elif kind == "union_tag_not_found":
            raw = _lookup(data, path)
            if isinstance(raw, dict):
                if path[:1] == ("nodes",) or (path and path[-1] in ("node", "generate")):
                    message = (
                        f"{where} has no kind; add kind: one of agent, planner, map, verifier, crossover, "
                        "evolve, writer, function"
                    )
                else:
                    message = f"{where} has no type; add type: (see `loom schema`)"
                out.append((Problem("MISSING", message, path), True))
            else:
                out.append((Problem("TYPE", f"{where} must be a mapping with a kind, not {_short(raw)}", path), False))
        else:
            grouped.setdefault(path, []).append((err, skipped))
    for path, group in grouped.items():
        where = dotted(path)
        err, skipped = group[0]
        message = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        value = err.get("input")
        members = [s[-1] for _, s in group if s]
        if len(group) > 1 and len(set(members)) > 1:
            alternatives = " or ".join(dict.fromkeys(members))
            out.append((Problem("TYPE", f"{where} must be {alternatives}, not {_short(value)}", path), False))
            continue
        kind = err["type"]
        if kind == "literal_error":
            wanted = str((err.get("ctx") or {}).get("expected", ""))
            options = [o.strip(" '") for o in wanted.replace(" or ", ",").split(",") if o.strip(" '")]
            message = f"{where} must be {wanted}, not {_short(value)}{suggest(value, options)}"
        elif kind == "too_short":
            message = f"{where} is empty; give at least one"
        elif kind == "string_pattern_mismatch":
            pattern = str((err.get("ctx") or {}).get("pattern", ""))
            if ":" in pattern:
                message = f"{where} must look like 'module:attr' (e.g. 'graph_funcs:lookup'), not {_short(value)}"
            else:
                message = f"{where} {_short(value)} must start with a letter or _ and use only letters, digits, _ and -"
        elif kind.endswith("_type") or kind.endswith("_parsing"):
            if isinstance(value, dict) and len(value) == 1 and next(iter(value.values())) is None:
                placeholder = next(iter(value))
                message = (
                    f"{where} is a mapping because '{{{placeholder}}}' is not quoted; "
                    f"write it as \"{{{placeholder}}}\""
                )
            else:
                message = f"{where}: {message[:1].lower()}{message[1:]}, not {_short(value)}"
        else:
            message = f"{where}: {message}"
        code = "TYPE" if kind.endswith("_type") or kind.endswith("_parsing") else "VALUE"
        out.append((Problem(code, message, path), False))
    return out

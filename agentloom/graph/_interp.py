"""The two interpolations of graph specs, kept apart on purpose.

``{name}`` / ``{name.field.0}`` reads a run input, a node's output (``{plan.sub_tasks}``) or,
inside a ``map`` body, the branch's ``{item}`` / ``{index}``; ``{{`` and ``}}`` are literal braces.
A string that is exactly one placeholder keeps the value's type (a list stays a list).

``${env:VAR}`` reads an environment variable when the run starts; it is for secrets, is never
written to the run store and is never confused with an input.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from agentloom.errors import ConfigError
from agentloom.secrets import is_secret_key, register_secret

__all__ = [
    "ENV",
    "PLACEHOLDER",
    "env_names",
    "lookup",
    "placeholders",
    "render",
    "resolve_env",
    "whole_placeholder",
]

#: ``${env:VAR}``; any other ``${...}`` is an error.
ENV = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
_DOLLAR = re.compile(r"\$\{([^}]*)\}")
#: ``{name}`` or ``{name.path}``, not preceded by ``$`` and not an escaped ``{{``.
PLACEHOLDER = re.compile(r"(?<![\${])\{([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*)\}(?!\})")
_WHOLE = re.compile(r"^\s*\{([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*)\}\s*$")


def placeholders(text: str) -> list[str]:
    """Every ``{path}`` placeholder in ``text`` (``${env:...}`` excluded), in order."""
    return [m.group(1) for m in PLACEHOLDER.finditer(_DOLLAR.sub("", text))]


def whole_placeholder(text: str) -> str | None:
    """The path when ``text`` is exactly one placeholder (its value keeps its type)."""
    match = _WHOLE.match(text)
    return match.group(1) if match else None


def env_names(text: str) -> list[str]:
    """The ``VAR`` of every ``${env:VAR}`` in ``text``."""
    return [m.group(1) for m in ENV.finditer(text)]


def bad_dollar(text: str) -> list[str]:
    """``${...}`` forms that are not ``${env:VAR}`` (a typo like ``${ENV:X}`` or ``${x}``)."""
    return [m.group(0) for m in _DOLLAR.finditer(text) if not ENV.fullmatch(m.group(0))]


def lookup(scope: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` in ``scope``; a missing part gives ``None``."""
    head, *rest = path.split(".")
    value: Any = scope.get(head)
    for part in rest:
        if value is None:
            return None
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list | tuple) and part.lstrip("-").isdigit():
            index = int(part)
            value = value[index] if -len(value) <= index < len(value) else None
        else:
            value = getattr(value, part, None)
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("text"), str):
        return value["text"]
    return json.dumps(value, ensure_ascii=False, default=str)


def render(value: Any, scope: Mapping[str, Any], env: Callable[[str], str] | None = None) -> Any:
    """``value`` with placeholders filled from ``scope`` (recursively through lists and dicts).

    A string that is exactly ``{path}`` becomes the value itself; otherwise values are written
    as text (a node output with a ``text`` field contributes that text). ``env`` resolves
    ``${env:VAR}``; without it those are left as they are.
    """
    if isinstance(value, str):
        if env is not None:
            value = ENV.sub(lambda m: env(m.group(1)), value)
        whole = whole_placeholder(value)
        if whole is not None:
            return lookup(scope, whole)
        out = PLACEHOLDER.sub(lambda m: _text(lookup(scope, m.group(1))), value)
        return out.replace("{{", "{").replace("}}", "}")
    if isinstance(value, list):
        return [render(v, scope, env) for v in value]
    if isinstance(value, dict):
        return {k: render(v, scope, env) for k, v in value.items()}
    return value


def resolve_env(value: Any, where: str = "") -> Any:
    """``value`` with every ``${env:VAR}`` replaced; a missing variable is a one-line error."""

    def env(name: str) -> str:
        found = os.environ.get(name)
        if found is None:
            place = f" (used by {where})" if where else ""
            raise ConfigError(f"environment variable {name} is not set{place}; export {name}=... and run again")
        if is_secret_key(where.rsplit(".", 1)[-1]) or "://" in found:
            register_secret(found)  # a key, or a URL that may carry a password: never written out
        return found

    if isinstance(value, str):
        return ENV.sub(lambda m: env(m.group(1)), value)
    if isinstance(value, list):
        return [resolve_env(v, where) for v in value]
    if isinstance(value, dict):
        return {k: resolve_env(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    return value


def strings(value: Any, path: tuple[Any, ...] = (), *, _depth: int = 0) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Every string inside ``value`` with its path (bounded depth, so hostile YAML cannot loop)."""
    if _depth > 40:
        return
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings(v, (*path, k), _depth=_depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from strings(v, (*path, i), _depth=_depth + 1)

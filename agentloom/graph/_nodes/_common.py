"""Helpers every node runner shares: the runner result type, state values as text, whole
numbers from rendered spec fields, and a node's question."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentloom.errors import ConfigError
from agentloom.graph._interp import render

__all__ = ["Output", "as_int", "node_question", "text_of"]

Output = tuple[Any, bool]



def text_of(value: Any) -> str:
    """A state value as text: strings as they are, outputs by their ``text``, else JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        for key in ("text", "markdown", "answer"):
            if isinstance(value.get(key), str):
                return str(value[key])
    import json

    return json.dumps(value, ensure_ascii=False, default=str)


def as_int(value: Any, where: str) -> int:
    """A rendered spec field as a whole number (digits in strings too); ConfigError naming ``where`` else."""
    if isinstance(value, bool):
        raise ConfigError(f"{where} must be a whole number, not {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ConfigError(f"{where} must be a whole number, but it is {value!r}")


def node_question(template: str | None, scope: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    """The node's rendered question (``{question}`` by default); ConfigError when empty and required."""
    value = render(template if template is not None else "{question}", scope)
    text = text_of(value).strip()
    if not text and required:
        raise ConfigError(f"node '{name}' has an empty question; pass --input question=... or set question:")
    return text or None

"""Lazy package exports: a name is imported from its module on first access, so importing a
package stays fast and never pulls in what its caller does not use."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, table: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` for ``package``: ``table`` maps each lazily
    exported name to the module that defines it; a loaded name is cached in ``namespace``."""

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        # the public names and the module's dunders; never its imports or helpers (os, TYPE_CHECKING, ...)
        return sorted(set(namespace.get("__all__", ())) | {n for n in namespace if n.startswith("__")})

    return __getattr__, __dir__

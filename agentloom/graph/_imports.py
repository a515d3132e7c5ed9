"""``module:attr`` references: imported with the spec's folder and the working directory on
``sys.path``, so ``graph_funcs:lookup`` next to a YAML file just works."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from agentloom.errors import RefImportError
from agentloom.graph._problems import suggest

__all__ = ["RefImportError", "import_ref"]


def import_ref(ref: str, base_dir: Path | None = None) -> Any:
    """The object ``ref`` names, or ``RefImportError`` with a one-line reason."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise RefImportError(f"'{ref}' must look like 'module:attr' (e.g. 'graph_funcs:lookup')")
    extra = [str(p) for p in (base_dir, Path.cwd()) if p is not None]
    added = [p for p in extra if p not in sys.path]
    sys.path[:0] = added
    try:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            where = " or ".join(dict.fromkeys(extra)) or "sys.path"
            missing = exc.name or module_name
            raise RefImportError(
                f"cannot import '{ref}': no module named '{missing}' (looked in {where} and site-packages)"
            ) from None
        except BaseException as exc:  # the user's module failed while importing
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise RefImportError(f"cannot import '{ref}': importing {module_name} raised {type(exc).__name__}: {exc}") from None
    finally:
        for p in added:
            try:
                sys.path.remove(p)
            except ValueError:
                pass
    value: Any = module
    for part in attr.split("."):
        if not hasattr(value, part):
            names = [n for n in dir(value) if not n.startswith("_")]
            raise RefImportError(
                f"cannot import '{ref}': {getattr(value, '__name__', module_name)} has no attribute '{part}'"
                + suggest(part, names)
            )
        value = getattr(value, part)
    return value

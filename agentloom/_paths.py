"""Where agentloom keeps its files: ``.loom/`` under the working directory unless overridden."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_corpus", "loom_home", "set_home"]

_override: Path | None = None


def set_home(path: str | Path | None) -> None:
    """Point every store at ``path`` (the CLI's ``--home``); ``None`` restores the default."""
    global _override
    _override = Path(path) if path is not None else None


def loom_home() -> Path:
    """``--home``, else ``$AGENTLOOM_HOME``, else ``./.loom``."""
    if _override is not None:
        return _override
    env = os.environ.get("AGENTLOOM_HOME")
    return Path(env) if env else Path.cwd() / ".loom"


def default_corpus() -> Path:
    """The example corpus that ships inside the package (``agentloom/data/corpus``, also reachable
    as ``examples/corpus`` in a checkout), or ``$AGENTLOOM_CORPUS`` when set."""
    env = os.environ.get("AGENTLOOM_CORPUS")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here / "data" / "corpus", here.parent / "examples" / "corpus"):
        if candidate.is_dir():
            return candidate
    return here.parent / "examples" / "corpus"

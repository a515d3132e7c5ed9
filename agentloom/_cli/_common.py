"""Pieces shared by the ``loom`` commands: budgets from flags, output writing, JSON printing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from agentloom.budget import Budget
from agentloom.errors import ConfigError

__all__ = ["budget_from_flags", "write_output", "print_json"]


def budget_from_flags(
    usd: float | None = None, tokens: int | None = None, seconds: float | None = None, *, name: str = "run"
) -> Budget:
    """A budget from CLI flags; zero or negative limits are a usage error (exit 2)."""
    for flag, value in (("--budget-usd", usd), ("--budget-tokens", tokens), ("--budget-seconds", seconds)):
        if value is not None and value <= 0:
            raise ConfigError(f"{flag} {value:g} leaves nothing to spend; give a positive limit or leave it out")
    return Budget(usd=usd, tokens=tokens, seconds=seconds, name=name)


def write_output(path: str | None, text: str) -> None:
    """Write ``text`` to ``path`` (creating folders) when a path was given."""
    if path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


def print_json(value: Any) -> None:
    """One JSON object on stdout and nothing else."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()

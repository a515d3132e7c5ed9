"""Pieces shared by the ``loom`` commands: budgets and models from flags, output writing, JSON printing."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from agentloom.budget import Budget
from agentloom.errors import ConfigError

if TYPE_CHECKING:
    from agentloom.models.types import Model

__all__ = ["budget_from_flags", "model_options", "model_from_flags", "write_output", "print_json"]

_F = TypeVar("_F", bound=Callable[..., Any])


def model_options(command: _F) -> _F:
    """The connection flags every command with ``--model`` takes, beside it."""
    for option in reversed((
        click.option("--base-url", default=None, metavar="URL",
                     help="An OpenAI-compatible server for --model, e.g. http://127.0.0.1:8080/v1 (llama.cpp, vLLM, Ollama)."),
        click.option("--api-key-env", default=None, metavar="VAR", help="Read the model's API key from this environment variable."),
        click.option("--price", default=None, metavar="IN,OUT",
                     help="USD per million input,output tokens for a model with no known price (0,0 for a local one)."),
        click.option("--tool-mode", type=click.Choice(["auto", "native", "json", "text"]), default=None,
                     help="How the model calls tools: native (OpenAI tools), json (schema-enforced step), text, or auto."),
    )):
        command = option(command)
    return command


def model_from_flags(
    model: str | None, base_url: str | None, api_key_env: str | None, price: str | None, tool_mode: str | None
) -> str | Model | None:
    """``--model`` as given when no connection flag is set, else the model built from all of them."""
    if base_url is None and api_key_env is None and price is None and tool_mode is None:
        return model
    from agentloom.models.resolve import parse_price, resolve_model

    return resolve_model(model, base_url=base_url, api_key_env=api_key_env, price=parse_price(price, "--price"), tool_mode=tool_mode)


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

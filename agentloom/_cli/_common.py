"""Pieces shared by the ``loom`` commands: budgets from flags, output writing, JSON printing."""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from agentloom.budget import Budget
from agentloom.errors import ConfigError

__all__ = ["DEFAULT_LIMITS", "echo_markdown", "help_when_bare", "budget_options", "budget_from_flags", "limits_help",
           "memory_bank", "memory_option", "budget_shared_option", "follow_symlinks_option", "model_connection", "model_from_flags", "otel_option",
           "write_output", "print_json"]


#: The limits ``loom ask`` and ``loom research`` apply when a flag is left out (a test keeps them
#: equal to the research pipeline's own budget).
DEFAULT_LIMITS: dict[str, float | None] = {"usd": None, "tokens": 400_000, "seconds": 300}


def limits_help(limits: dict[str, float | None]) -> dict[str, str]:
    """``limits`` as ``budget_options`` shows them in --help: ``400,000``, ``300``, ``none``."""
    return {key: "none" if value is None else f"{value:,g}" if key == "tokens" else f"{value:g}"
            for key, value in limits.items()}


def budget_from_flags(
    usd: float | None = None, tokens: int | None = None, seconds: float | None = None, *, name: str = "run",
    shared: str | None = None, defaults: dict[str, float | None] | None = None,
) -> Budget:
    """A budget from CLI flags; zero or negative limits are a usage error (exit 2). Each limit
    left out takes its value from ``defaults``, except that a shared budget (``shared``) keeps
    its own USD and token limits: the first run that names it gives them (the flags, else the
    defaults), and later runs use them."""
    for flag, value in (("--budget-usd", usd), ("--budget-tokens", tokens), ("--budget-seconds", seconds)):
        if value is not None and value <= 0:
            raise ConfigError(f"{flag} {value:g} leaves nothing to spend; give a positive limit or leave it out")
    fill = defaults or {}
    if shared is None or (usd is None and tokens is None and not _shared_exists(shared)):
        usd = usd if usd is not None else fill.get("usd")
        default_tokens = fill.get("tokens")
        tokens = tokens if tokens is not None else (int(default_tokens) if default_tokens is not None else None)
    seconds = seconds if seconds is not None else fill.get("seconds")
    return Budget(usd=usd, tokens=tokens, seconds=seconds, name=name, shared=shared)


def _shared_exists(name: str) -> bool:
    from agentloom.shared_budget import stored_limits

    return stored_limits(name) is not None


def memory_option(default: str | None, shown: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--memory``, spelled and meant the same on ask, run and research: ``run`` (a bank for this
    run only), ``project`` (shared by every run under the loom home) or a bank file path."""
    return click.option(
        "--memory", default=default, metavar="SCOPE",
        help=f"Memory bank: run (this run only), project (shared across runs) or a file path (default: {shown or default}).",
    )


def memory_bank(memory: str, run_id: str) -> Any:
    """The bank ``--memory`` names for run ``run_id`` (None for ``none``), with heuristic admission
    as ``loom research`` uses it."""
    if memory == "none":
        return None
    from agentloom.memory.admission import HeuristicAdmission
    from agentloom.memory.bank import MemoryBank

    if memory in ("run", "project"):
        return MemoryBank(scope=memory, run_id=run_id if memory == "run" else None, policy=HeuristicAdmission())
    return MemoryBank(Path(memory).expanduser().resolve(), scope="project", policy=HeuristicAdmission())


def budget_options(default: dict[str, str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--budget-usd``, ``--budget-tokens`` and ``--budget-seconds``, spelled the same on every
    command; ``default`` says what applies when a flag is left out (shown in --help)."""
    options = (
        click.option("--budget-usd", type=float, default=None, metavar="USD", help=f"Hard limit on spend in USD (default: {default['usd']})."),
        click.option("--budget-tokens", type=int, default=None, metavar="N", help=f"Hard limit on tokens (default: {default['tokens']})."),
        click.option("--budget-seconds", type=float, default=None, metavar="S", help=f"Hard limit on wall time in seconds (default: {default['seconds']})."),
    )

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def budget_shared_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--budget-shared NAME``: the run's limits are the shared budget NAME's, across processes."""
    return click.option(
        "--budget-shared", "budget_shared", default=None, metavar="NAME",
        help="Share the budget with every process naming NAME (limits kept in the database: "
             "AGENTLOOM_DATABASE_URL, else the loom home). The first run gives the limits.",
    )(fn)


def help_when_bare(ctx: click.Context) -> None:
    """A group typed with no subcommand prints its help and exits 0 (what a new user expects)."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
        ctx.exit(0)


def echo_markdown(text: str) -> None:
    """Markdown on stdout: rendered (headings, lists, links) on a terminal, the raw text otherwise,
    so pipes and files get the Markdown itself."""
    if not sys.stdout.isatty():
        click.echo(text)
        return
    from rich.console import Console
    from rich.markdown import Markdown

    Console().print(Markdown(text))


def write_output(path: str | None, text: str) -> None:
    """Write ``text`` to ``path`` (creating folders) when a path was given."""
    if path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


def print_json(value: Any) -> None:
    """One JSON object on stdout and nothing else."""
    from agentloom.secrets import redact

    sys.stdout.write(json.dumps(redact(value), ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def model_from_flags(model: Any, base_url: str | None, api_key_env: str | None, price: str | None,
                     tool_mode: str | None = None, timeout: float | None = None) -> Any:
    """``--model`` as given when no connection flag is set (resolved later, lazily), else the model
    built from ``--base-url``, ``--api-key-env``, ``--price``, ``--tool-mode`` and ``--timeout``."""
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise ConfigError(f"--timeout {timeout:g} must be a positive number of seconds")
    if not (base_url or api_key_env or price or tool_mode or timeout):
        return model
    from agentloom.models.resolve import default_model_name, resolve_model

    name = model or default_model_name()
    if name == "offline" and not (base_url or api_key_env or price):
        return resolve_model(name, tool_mode=tool_mode)  # (nothing to time out offline)
    if name == "offline":
        raise ConfigError("--base-url, --api-key-env and --price need a served model: add --model NAME "
                          "(e.g. --model qwen2.5-coder-0.5b-instruct --base-url http://127.0.0.1:8080/v1)")
    extra: dict[str, Any] = {"timeout": timeout} if timeout else {}
    return resolve_model(name, base_url=base_url, api_key_env=api_key_env, price=price, tool_mode=tool_mode, **extra)


_CONNECTION_OPTIONS = (
    click.option("--base-url", default=None, metavar="URL",
                 help="An OpenAI-compatible server for --model, e.g. http://127.0.0.1:8080/v1 "
                      "(a bare model name then means openai/NAME)."),
    click.option("--api-key-env", default=None, metavar="VAR",
                 help="The environment variable holding the model's API key (default: the provider's own)."),
    click.option("--price", default=None, metavar="IN,OUT",
                 help="USD per million input,output tokens, for a model litellm cannot price (0,0 for a local one)."),
    click.option("--tool-mode", type=click.Choice(["auto", "native", "json", "text"]), default=None,
                 help="How the model is asked for tool calls: native (OpenAI tools), json (a schema the server "
                      "enforces), text (parsed from its reply), auto (default: picked per model, remembered)."),
    click.option("--timeout", type=float, default=None, metavar="SECONDS",
                 help="Longest wait for one model attempt (a budget's time limit cuts it shorter)."),
)


def model_connection(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--base-url``, ``--api-key-env``, ``--price``, ``--tool-mode`` and ``--timeout`` to a command that takes ``--model``;
    the command receives the model they describe in its ``model`` argument."""

    @functools.wraps(command)
    def with_connection(*args: Any, base_url: str | None, api_key_env: str | None, price: str | None,
                        tool_mode: str | None, timeout: float | None, **kwargs: Any) -> Any:
        kwargs["model"] = model_from_flags(kwargs.get("model"), base_url, api_key_env, price, tool_mode, timeout)
        return command(*args, **kwargs)

    wrapped: Callable[..., Any] = with_connection
    for option in reversed(_CONNECTION_OPTIONS):
        wrapped = option(wrapped)
    return wrapped


#: ``--follow-symlinks/--no-follow-symlinks`` for commands that index a corpus (unset: as the index last did).
follow_symlinks_option = click.option(
    "--follow-symlinks/--no-follow-symlinks", "follow_symlinks", default=None,
    help="Index symlinked files whose target lies outside the corpus (default: no, or as the index last did).",
)


def _otel_on(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        from agentloom.observability import enable

        enable()  # without the [otel] extra: one clear line, exit 2


#: ``--otel``: trace the run with OpenTelemetry (also on whenever OTEL_EXPORTER_OTLP_ENDPOINT is set).
otel_option = click.option(
    "--otel", is_flag=True, expose_value=False, callback=_otel_on,
    help="Send OpenTelemetry traces over OTLP/HTTP to $OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4318); "
         "needs the [otel] extra. On whenever that variable is set.",
)

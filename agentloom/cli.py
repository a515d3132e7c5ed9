"""``loom``: the command line. Subcommands live in ``agentloom._cli.*`` and are imported only
when invoked, so ``loom --help`` never loads litellm, langgraph or the openai SDK.

Exit codes: 0 ok, 1 run failed, 2 usage or input error, 3 budget exhausted (partial output
still written), 4 waiting for approval (``loom runs approve``/``deny``), 130 interrupted (the run
is recorded and can be resumed).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import click

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__all__ = ["main", "cli", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_BUDGET", "EXIT_INTERRUPTED"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUDGET, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

#: command name -> ("module:attr", short help). Imported on use only.
COMMANDS: dict[str, tuple[str, str]] = {
    "ask": ("agentloom._cli.ask:ask", "Answer one question with one agent over a corpus."),
    "research": ("agentloom._cli.research:research", "Deep research: parallel teams, verification, a cited report."),
    "index": ("agentloom._cli.index:index", "Build or refresh a corpus index (incremental)."),
    "runs": ("agentloom._cli.runs:runs", "List, show and export recorded runs."),
    "run": ("agentloom._cli.graph:run", "Run an agent graph from a YAML file."),
    "validate": ("agentloom._cli.graph:validate", "Check a graph YAML file; list every error."),
    "draw": ("agentloom._cli.graph:draw", "Print a graph as Mermaid text."),
    "schema": ("agentloom._cli.graph:schema", "Write the JSON Schema of graph YAML files."),
    "memory": ("agentloom._cli.memory:memory", "Memory bank: stats, audit, train, export, clear."),
    "mcp": ("agentloom._cli.mcp:mcp", "Serve research and ask as MCP tools (loom mcp serve)."),
    "ui": ("agentloom._cli.ui:ui", "A local web view of runs: live progress, timelines, cited reports."),
    "eval": ("agentloom._cli.eval:eval_cmd", "Score answer recall and citation precision on a question set."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported when they are run, not when listed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr = entry[0].split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List commands from the table, without importing them."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in sorted(COMMANDS)])


def _version() -> str:
    from agentloom import __version__

    return __version__


@click.group(cls=LazyGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", prog_name="loom")
@click.option("--home", type=click.Path(file_okay=False), default=None, help="Where runs and indexes live (default: ./.loom or $AGENTLOOM_HOME).")
@click.option("--database-url", default=None, metavar="URL",
              help="Where runs and checkpoints live: a postgresql:// URL shares them across machines (default: SQLite files; $AGENTLOOM_DATABASE_URL).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default=None,
              help="Where map branches and remote=True tools run: local (default) or ray ($AGENTLOOM_EXECUTOR; RAY_ADDRESS names a cluster).")
@click.pass_context
def cli(ctx: click.Context, home: str | None, database_url: str | None, executor: str | None) -> None:
    """agentloom: agents that scale reasoning wide and deep under a budget.

    Exit codes: 0 ok, 1 run failed, 2 usage or input error, 3 budget exhausted
    (partial output still written), 4 waiting for approval, 130 interrupted (resumable).
    """
    if ctx.invoked_subcommand is None:  # bare `loom`: the help, not a usage error
        click.echo(ctx.get_help())
        ctx.exit(EXIT_OK)
    if home is not None:
        from agentloom._paths import set_home

        set_home(home)
    if database_url is not None:
        import os

        os.environ["AGENTLOOM_DATABASE_URL"] = database_url
    if executor is not None:
        import os

        os.environ["AGENTLOOM_EXECUTOR"] = executor


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """Print one line to stderr and exit with ``code``."""
    from agentloom.secrets import redact_text

    click.echo(f"loom: error: {redact_text(message)}", err=True)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run the CLI and turn every user error into one line and an exit code."""
    from agentloom.errors import AgentloomError
    from agentloom.secrets import redact_text

    try:
        cli.main(args=argv, prog_name="loom", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("loom: interrupted", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except click.ClickException as exc:
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see `{exc.ctx.command_path} --help`)"
        click.echo(f"loom: error: {redact_text(' '.join(message.split()))}{hint}", err=True)
        raise SystemExit(exc.exit_code) from None
    except AgentloomError as exc:
        click.echo(f"loom: error: {redact_text(exc.one_line())}", err=True)
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        click.echo("loom: interrupted", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:
        raise SystemExit(EXIT_OK) from None
    return None


if __name__ == "__main__":  # pragma: no cover
    main()

"""``loom run``, ``loom validate``, ``loom draw`` and ``loom schema``: agent graphs from YAML.

A spec error prints one line per problem (``file:line:col: CODE message``) and exits 2; a run
that hit its budget still writes its partial output and exits 3.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from agentloom._cli._common import (
    budget_options,
    budget_shared_option,
    memory_option,
    model_connection,
    otel_option,
)
from agentloom._cli.approve import approve_option

__all__ = ["run", "validate", "draw", "schema"]

EXIT_USAGE, EXIT_BUDGET = 2, 3


def _load(path: str) -> Any:
    """The graph at ``path``; on spec errors, every problem on its own line and exit 2."""
    from agentloom.errors import SpecError
    from agentloom.graph.loader import load_graph

    try:
        return load_graph(path)
    except SpecError as exc:
        _problems(exc.problems, path)
        raise SystemExit(EXIT_USAGE) from None


def _problems(problems: list[str], path: str) -> None:
    for line in problems:
        click.echo(line, err=True)
    count = len(problems)
    click.echo(f"loom: error: {count} problem{'s' if count != 1 else ''} in {path}; nothing was run", err=True)


def _parse_inputs(pairs: tuple[str, ...]) -> dict[str, str]:
    from agentloom.errors import ConfigError

    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--input {pair!r} must look like KEY=VALUE, e.g. --input question='What is...'")
        out[key.strip()] = value
    return out


def _output_text(output: Any, path: str | None = None) -> str:
    """What to print or write: JSON for a ``.json`` file, else the output's text (the first
    declared output when it is text, e.g. a report's Markdown), else pretty JSON."""
    as_json = json.dumps(output, indent=2, ensure_ascii=False, default=str)
    if path is not None and path.lower().endswith(".json"):
        return as_json
    if isinstance(output, str):
        return output
    if isinstance(output, dict) and output:
        first = next(iter(output.values()))
        if isinstance(first, str):
            return first
    return as_json


def _gates(values: tuple[str, ...]) -> Any:
    """``--approve`` values as ``approve=`` (None keeps the spec's own gates)."""
    from agentloom.approvals import parse_approve_flags

    return parse_approve_flags(values)


def _preload_langgraph() -> None:
    """Import LangGraph before the budget's clock starts (it takes a second or so)."""
    import langgraph.checkpoint.sqlite.aio  # noqa: F401
    import langgraph.graph  # noqa: F401
    import langgraph.types  # noqa: F401


@click.command("run")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--input", "-i", "inputs", multiple=True, metavar="KEY=VALUE", help="A run input (repeat for several).")
@click.option("--model", "-m", default=None, help="Use this model for every model in the graph (e.g. offline).")
@budget_options({"usd": "the spec's budget.usd, else none", "tokens": "the spec's budget.tokens, else none",
                 "seconds": "the spec's budget.seconds, else none"})
@memory_option(None, "the spec's memory: block")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default=None, help="Write the output here.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (the Result) on stdout.")
@click.option("--resume", metavar="RUN_ID", default=None, help="Continue a killed or budget-stopped run.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines on stderr.")
@approve_option
@otel_option
@budget_shared_option
@model_connection
def run(file: str, inputs: tuple[str, ...], model: str | None, budget_usd: float | None, budget_tokens: int | None,
        budget_seconds: float | None, memory: str | None, out: str | None,
        as_json: bool, resume: str | None, quiet: bool, budget_shared: str | None, approve_gates: tuple[str, ...] = ()) -> None:
    """Run the agent graph in FILE.

    Exit codes: 0 ok, 1 failed, 2 bad spec or input, 3 budget exhausted (partial output written),
    4 waiting for approval (loom runs approve/deny RUN_ID).
    """
    import asyncio

    from agentloom._cli._common import print_json, write_output
    from agentloom._cli._display import RunDisplay
    from agentloom.budget import Budget
    from agentloom.errors import ConfigError
    from agentloom.runstore import new_run_id
    from agentloom.storage import prefer_database

    graph = _load(file)
    if memory is not None:
        _set_memory(graph, memory)
    prefer_database(graph.spec.database_url())  # before the budget: a shared one lives in that database
    given = _parse_inputs(inputs)
    _preload_langgraph()
    limits = graph.spec.budget.limits() if graph.spec.budget is not None else {}
    for flag, key, value in (("--budget-usd", "usd", budget_usd), ("--budget-tokens", "tokens", budget_tokens),
                             ("--budget-seconds", "seconds", budget_seconds)):
        if value is not None:
            if value <= 0:
                raise ConfigError(f"{flag} {value:g} leaves nothing to spend; give a positive limit")
            limits[key] = value
    if budget_shared:
        limits["shared"] = budget_shared
    budget = Budget.from_limits(limits, name=graph.name)
    run_id = resume or new_run_id()
    display = RunDisplay(f"loom run: {graph.name}", budget, mode="quiet" if (quiet or as_json) else "auto",
                         stages=list(graph.spec.nodes))

    async def go() -> Any:
        from agentloom._cli._keypress import answer_in_view, can_ask

        with display:  # the same live view as research on a terminal, plain lines otherwise
            result = await graph.run(given or None, budget=budget, run_id=run_id, model=model, resume=resume is not None,
                                     listeners=[display], approve=_gates(approve_gates))
            if result.stop_reason == "waiting" and can_ask(display):
                result = await answer_in_view(result, display, model=model)  # a keypress in the live view
            return result

    try:
        result = asyncio.run(go())
    except KeyboardInterrupt:
        click.echo(f"loom: interrupted; run {run_id} is recorded, continue it with: loom run {file} --resume {run_id}", err=True)
        raise SystemExit(130) from None
    if result.stop_reason == "waiting":
        from agentloom._cli.approve import report_waiting

        report_waiting(result, as_json)
    if out:
        write_output(out, _output_text(result.output, out))
    if as_json:
        print_json(result.to_dict())
    elif not out:
        from agentloom._cli._common import echo_markdown

        echo_markdown(_output_text(result.output))
    if not as_json:
        usage = result.usage
        state = "partial (budget exhausted)" if result.budget_limited else "done"
        where = f" → {out}" if out else ""
        click.echo(
            f"loom: {state}{where} · run {result.run_id} · {usage.llm_calls} model calls, {usage.tool_calls} tool calls, "
            f"{usage.tokens} tokens, {usage.wall_s:.1f}s",
            err=True,
        )
        if result.budget_limited:
            click.echo(f"loom: continue it with: loom run {file} --resume {result.run_id} --budget-usd <higher>", err=True)
    if result.budget_limited:
        raise SystemExit(EXIT_BUDGET)


def _set_memory(graph: Any, memory: str) -> None:
    """``--memory`` in place of the spec's ``memory:`` block, meaning what it means on research."""
    from pathlib import Path

    from agentloom.errors import ConfigError

    if memory == "none":
        raise ConfigError("--memory none: a graph's memory comes from its spec; remove its memory: block instead")
    if memory in ("run", "project"):
        graph.set_memory(scope=memory, admission="heuristic")
    else:
        graph.set_memory(path=str(Path(memory).expanduser().resolve()), admission="heuristic")


@click.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
def validate(file: str) -> None:
    """Check the graph in FILE: every problem, one per line (exit 2), or ok (exit 0)."""
    graph = _load(file)
    spec = graph.spec
    edges = len(spec.edges) if spec.edges is not None else max(0, len(spec.nodes) - 1)
    inputs = ", ".join(spec.inputs) or "none"
    click.echo(f"{file}: ok — graph '{spec.name}', {len(spec.nodes)} nodes, {edges} edges, inputs: {inputs}")


@click.command("draw")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--png", type=click.Path(dir_okay=False), default=None, help="Also render a PNG (needs mermaid-cli, mmdc).")
def draw(file: str, png: str | None) -> None:
    """Print the graph in FILE as Mermaid text."""
    graph = _load(file)
    text = graph.draw()
    if png is None:
        click.echo(text, nl=False)
        return
    import shutil
    import subprocess
    import tempfile

    from agentloom.errors import ConfigError

    mmdc = shutil.which("mmdc")
    if mmdc is None:
        click.echo(text, nl=False)  # the Mermaid text is still useful without the renderer
        raise ConfigError(
            "--png needs mermaid-cli (mmdc) on PATH: npm install -g @mermaid-js/mermaid-cli; "
            "or paste the text of `loom draw` into https://mermaid.live"
        )
    with tempfile.NamedTemporaryFile("w", suffix=".mmd", delete=False, encoding="utf-8") as handle:
        handle.write(text)
    done = subprocess.run([mmdc, "-i", handle.name, "-o", png], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        reason = " ".join((done.stderr or done.stdout or "").split())[:300]
        raise ConfigError(f"mmdc could not render {png}: {reason or f'exit code {done.returncode}'}")
    click.echo(text, nl=False)
    click.echo(f"loom: wrote {png}", err=True)


@click.command("schema")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default=None, help="Write the schema here.")
def schema(out: str | None) -> None:
    """Print the JSON Schema of graph YAML files (for `# yaml-language-server: $schema=...`)."""
    from agentloom.graph.schema import json_schema

    text = json.dumps(json_schema(), indent=2, ensure_ascii=False)
    if out:
        from agentloom._cli._common import write_output

        write_output(out, text)
        click.echo(f"loom: wrote {out}; add '# yaml-language-server: $schema={out}' to the top of your graph files", err=True)
    else:
        sys.stdout.write(text + "\n")

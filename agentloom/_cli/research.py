"""``loom research``: the deep-research run, end to end, offline by default."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from agentloom._cli._common import (
    DEFAULT_LIMITS,
    budget_options,
    budget_shared_option,
    follow_symlinks_option,
    limits_help,
    memory_option,
    model_connection,
    otel_option,
)
from agentloom._cli.approve import approve_option

if TYPE_CHECKING:
    from agentloom.budget import Budget
    from agentloom.result import Result

#: The pipeline's own limits, as --help shows them (a test keeps them equal to the pipeline spec's).
RESEARCH_DEFAULT_LIMITS = limits_help(DEFAULT_LIMITS)

__all__ = ["research"]


@click.command()
@click.argument("question", required=False)
@click.option("--corpus", "corpus", multiple=True, type=click.Path(), help="Corpus folder (repeatable). Default: the shipped example corpus.")
@click.option("--model", default=None, help="litellm model string, or 'offline'. Default: $AGENTLOOM_MODEL, else offline.")
@click.option("--width", default="auto", show_default=True, help="Research teams per round: auto or a number.")
@click.option("--depth", default="auto", show_default=True, help="Research rounds at most: auto or a number.")
@budget_options(RESEARCH_DEFAULT_LIMITS)
@memory_option("run")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write the report to this file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
@click.option("--resume", "resume", default=None, metavar="RUN_ID", help="Continue a killed or budget-stopped run.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@approve_option
@otel_option
@follow_symlinks_option
@budget_shared_option
@model_connection
def research(
    question: str | None,
    corpus: tuple[str, ...],
    model: str | None,
    width: str,
    depth: str,
    budget_usd: float | None,
    budget_tokens: int | None,
    budget_seconds: float | None,
    memory: str,
    out: str | None,
    as_json: bool,
    resume: str | None,
    quiet: bool,
    follow_symlinks: bool | None,
    budget_shared: str | None,
    approve_gates: tuple[str, ...] = (),
) -> None:
    """Research QUESTION with parallel teams and write a cited report.

    Exit codes: 0 ok, 1 failed, 2 bad input, 3 budget exhausted (a partial report is still
    written), 4 waiting for approval (loom runs approve/deny RUN_ID), 130 interrupted (resume
    with --resume RUN_ID).
    """
    import asyncio

    from agentloom._cli._display import RunDisplay
    from agentloom._paths import default_corpus
    from agentloom.approvals import parse_approve_flags
    from agentloom.research.run import corpus_paths
    from agentloom.runstore import RunStore, new_run_id

    _check_inputs(question, resume, width, depth, memory)
    gates = parse_approve_flags(approve_gates)
    budget = _budget(budget_usd, budget_tokens, budget_seconds, budget_shared)
    paths = corpus_paths(list(corpus)) if corpus else []
    if resume is not None:
        RunStore().get_run(resume)  # an unknown run id is one clear line, before anything starts
    mode = "quiet" if (quiet or as_json) else "auto"
    _index_with_progress(paths or [str(default_corpus())], mode, follow_symlinks)
    run_id = resume or new_run_id()
    display = RunDisplay(f"loom research: {question or 'resume ' + run_id}", budget, mode=mode)

    async def go() -> Result:
        from agentloom._cli._keypress import answer_in_view, can_ask
        from agentloom.research.run import research as run_research

        with display:
            result = await run_research(
                question,
                corpus=paths or None,
                model=model,
                width=width,
                depth=depth,
                budget=budget,
                memory=memory,
                run_id=run_id,
                resume=resume is not None,
                listeners=[display],
                approve=gates,
            )
            if result.stop_reason == "waiting" and can_ask(display):
                result = await answer_in_view(result, display, model=model)  # a keypress in the live view
            return result

    try:
        result = asyncio.run(go())
    except KeyboardInterrupt:
        click.echo(f"loom: interrupted; the run is recorded, continue it with: loom research --resume {run_id}", err=True)
        raise SystemExit(130) from None
    if result.stop_reason == "waiting":
        from agentloom._cli.approve import report_waiting

        report_waiting(result, as_json)
    _report(result, out, as_json, quiet)
    if result.budget_limited:
        raise SystemExit(3)


def _check_inputs(question: str | None, resume: str | None, width: str, depth: str, memory: str = "run") -> None:
    """One clear line for a missing question, a question given with --resume, a bad width/depth or memory."""
    from agentloom.errors import ConfigError
    from agentloom.research.run import check_width

    if resume is None and (question is None or not question.strip()):
        raise ConfigError('the question is empty; ask something, e.g. loom research "How is Marrowick supplied with water?"')
    if resume is not None and question:
        raise ConfigError("--resume continues a run with its own question; leave the question out")
    check_width(width, "--width")
    check_width(depth, "--depth")
    if memory == "none":
        raise ConfigError("--memory none: research teams always share a memory bank; use run, project or a file path")


def _budget(usd: float | None, tokens: int | None, seconds: float | None, shared: str | None = None) -> Budget:
    """The budget from the flags, each limit left out being the pipeline's own (made here so the
    live view can show them); ``shared`` names a budget shared across processes."""
    from agentloom._cli._common import budget_from_flags
    from agentloom.research.pipeline import deep_research_graph

    spec_budget = deep_research_graph().spec.budget
    limits = spec_budget.limits() if spec_budget is not None else {}
    return budget_from_flags(usd, tokens, seconds, name="research", shared=shared, defaults=limits)


def _report(result: Result, out: str | None, as_json: bool, quiet: bool) -> None:
    """Write the report (to ``out`` or stdout, or as one JSON object) and the one-line summary."""
    from agentloom._cli._common import print_json, write_output

    report = str(result.output)
    write_output(out, report)
    if as_json:
        print_json(_json_payload(result))
        return
    if not out:
        from agentloom._cli._common import echo_markdown

        echo_markdown(report)
    elif not quiet:
        click.echo(f"report written to {out}", err=True)
    if not quiet:
        u = result.usage
        state = "partial (budget exhausted)" if result.partial else "complete"
        click.echo(
            f"[run {result.run_id}: {state}; {u.llm_calls} model calls, {u.tool_calls} tool calls, "
            f"{u.tokens} tokens, memory hits {u.memory_hits}, {u.wall_s:.2f}s]",
            err=True,
        )


def _index_with_progress(paths: list[str], mode: str, follow_symlinks: bool | None = None) -> None:
    """Build or refresh the corpus index up front, with progress, so the run finds it ready
    (the run's own index inherits the symlink choice recorded here)."""
    import io
    import sys

    from agentloom._cli.index import IndexProgress, _isatty
    from agentloom.tools.corpus import CorpusIndex

    index = CorpusIndex(paths, follow_symlinks=follow_symlinks)
    held = io.StringIO()  # plain lines are held back and shown only when a file was (re)read or dropped
    plain = mode == "plain" or (mode == "auto" and not _isatty(sys.stderr))
    try:
        with IndexProgress(mode="plain" if plain else mode, label="indexing corpus",
                           stream=held if plain else None) as progress:
            stats = index.refresh(on_progress=progress)
    finally:
        index.close()
    if plain and (stats.indexed or stats.removed):
        sys.stderr.write(held.getvalue())
        sys.stderr.flush()


def _json_payload(result: Result) -> dict[str, Any]:
    """The one JSON object ``--json`` prints."""
    numbered = []
    for n, citation in enumerate(result.citations, start=1):
        numbered.append(
            {
                "n": n,
                "id": citation.id,
                "path": citation.path,
                "url": citation.url,
                "line_start": citation.line_start,
                "line_end": citation.line_end,
                "title": citation.title,
                "text": citation.text,
            }
        )
    return {
        "answer": result.meta.get("short_answer", ""),
        "report": str(result.output),
        "citations": numbered,
        "usage": result.usage.to_dict(),
        "width": result.meta.get("width"),
        "depth": result.meta.get("depth"),
        "run_id": result.run_id,
        "partial": result.partial,
        "stop_reason": result.stop_reason,
        "resumed": bool(result.meta.get("resumed")),
    }

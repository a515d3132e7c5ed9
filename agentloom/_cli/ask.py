"""``loom ask``: one agent answers one question over a corpus, with citations."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from agentloom._cli._common import (
    budget_options,
    budget_shared_option,
    follow_symlinks_option,
    model_connection,
    otel_option,
)

if TYPE_CHECKING:
    from agentloom._cli._display import RunDisplay
    from agentloom.agents.agent import Agent
    from agentloom.budget import Budget
    from agentloom.citations import Citation
    from agentloom.result import Result

__all__ = ["ask"]


@click.command()
@click.argument("question")
@click.option("--corpus", "corpus", multiple=True, type=click.Path(), help="Corpus folder (repeatable). Default: the shipped example corpus.")
@click.option("--model", default=None, help="litellm model string, or 'offline'. Default: $AGENTLOOM_MODEL, else offline.")
@budget_options({"usd": "none", "tokens": "none", "seconds": "none"})
@click.option("--width", default="descending", show_default=True, help="Tool calls per turn: a number or constant/descending/ascending.")
@click.option("--max-turns", type=int, default=6, show_default=True, help="Most turns (depth) the agent may take.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Also write the answer to this file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@otel_option
@follow_symlinks_option
@budget_shared_option
@model_connection
def ask(
    question: str,
    corpus: tuple[str, ...],
    model: str | None,
    budget_usd: float | None,
    budget_tokens: int | None,
    budget_seconds: float | None,
    width: str,
    max_turns: int,
    out: str | None,
    as_json: bool,
    quiet: bool,
    follow_symlinks: bool | None,
    budget_shared: str | None,
) -> None:
    """Answer QUESTION with one agent over a corpus (offline by default)."""
    import asyncio

    from agentloom._cli._common import budget_from_flags, print_json, write_output
    from agentloom._cli._display import RunDisplay
    from agentloom._paths import default_corpus
    from agentloom.agents.agent import Agent
    from agentloom.errors import ConfigError
    from agentloom.tools.calculator import calculator
    from agentloom.tools.corpus import corpus_tools

    if not question.strip():
        raise ConfigError("the question is empty; ask something, e.g. loom ask \"What powers the tram network?\"")
    budget = budget_from_flags(budget_usd, budget_tokens, budget_seconds, shared=budget_shared)
    paths = list(corpus) or [str(default_corpus())]
    tools = [*corpus_tools(paths, follow_symlinks=follow_symlinks), calculator]
    agent = Agent(model=model, tools=tools, width=width if not width.isdigit() else int(width), max_turns=max_turns, name="ask")
    display = RunDisplay(f"loom ask: {question}", budget, mode="quiet" if (quiet or as_json) else "auto")

    async def go() -> Result:
        with display:
            return await _run_with_listener(agent, question, budget, display)

    result = asyncio.run(go())
    text = str(result.output)
    rendered = _numbered(text, result.citations)
    if result.grounded is False:
        rendered += "\n\nUngrounded: this answer cites nothing the run looked up; do not rely on it."
    write_output(out, rendered)
    if as_json:
        print_json({"answer": text, **result.to_dict()})
    else:
        click.echo(rendered)
        if not quiet:
            u = result.usage
            click.echo(
                f"\n[run {result.run_id}: {u.llm_calls} model calls, {u.tool_calls} tool calls, "
                f"{u.tokens} tokens, ${u.usd or 0:.4f}, {u.wall_s:.2f}s]",
                err=True,
            )
    if result.budget_limited:
        raise SystemExit(3)


def _numbered(text: str, citations: list[Citation]) -> str:
    """The answer with ``[n]`` markers and a numbered source list, as ``loom research`` writes them."""
    from agentloom.agents.writer import number_citations

    body, ordered = number_citations(text, {c.id: c for c in citations})
    listed = {c.id for c in ordered}
    ordered += [c for c in citations if c.id not in listed]  # cited by the run but not marked in the text
    refs = "\n".join(f"[{n}] {c.where()}" for n, c in enumerate(ordered, 1))
    return body + ("\n\nSources:\n" + refs if refs else "")


async def _run_with_listener(agent: Agent, question: str, budget: Budget, listener: RunDisplay) -> Result:
    """Run the agent as a top-level run whose events also reach ``listener``."""
    from agentloom._runtime import run_scope

    async with run_scope("ask", "ask", {"question": question}, budget=budget, listeners=[listener]) as scope:
        result = await agent.run(question)
        result = result.with_(run_id=scope.run_id)
        scope.output = {"answer": str(result.output), "citations": [c.to_dict() for c in result.citations]}
        scope.status = "budget_exhausted" if result.budget_limited else "ok"
        scope.usage = result.usage.to_dict()
    return result

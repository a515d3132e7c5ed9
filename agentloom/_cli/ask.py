"""``loom ask``: one agent answers one question over a corpus, with citations."""

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

if TYPE_CHECKING:
    from agentloom._cli._display import RunDisplay
    from agentloom.agents.agent import Agent
    from agentloom.budget import Budget
    from agentloom.citations import Citation
    from agentloom.result import Result

__all__ = ["ask"]


@click.command()
@click.argument("question", required=False)
@click.option("--corpus", "corpus", multiple=True, type=click.Path(), help="Corpus folder (repeatable). Default: the shipped example corpus.")
@click.option("--model", default=None, help="litellm model string, or 'offline'. Default: $AGENTLOOM_MODEL, else offline.")
@budget_options(limits_help(DEFAULT_LIMITS))
@click.option("--width", default="descending", show_default=True, help="Tool calls per turn: a number or constant/descending/ascending.")
@click.option("--max-turns", type=int, default=6, show_default=True, help="Most turns (depth) the agent may take.")
@memory_option("none", "none, no bank")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Also write the answer to this file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
@click.option("--resume", "resume", default=None, metavar="RUN_ID",
              help="Continue a killed or budget-stopped ask run: its question and settings, counting what it spent "
                   "(an agent keeps no checkpoints, so it asks again; with --memory run the tool results it had are reused).")
@click.option("--quiet", is_flag=True, help="No progress output.")
@otel_option
@follow_symlinks_option
@budget_shared_option
@model_connection
def ask(
    question: str | None,
    corpus: tuple[str, ...],
    model: str | None,
    budget_usd: float | None,
    budget_tokens: int | None,
    budget_seconds: float | None,
    width: str,
    max_turns: int,
    memory: str,
    out: str | None,
    as_json: bool,
    resume: str | None,
    quiet: bool,
    follow_symlinks: bool | None,
    budget_shared: str | None,
) -> None:
    """Answer QUESTION with one agent over a corpus (offline by default).

    Exit codes: 0 ok, 1 failed, 2 bad input, 3 budget exhausted, 130 interrupted (continue
    with --resume RUN_ID).
    """
    import asyncio

    from agentloom._cli._common import budget_from_flags, memory_bank
    from agentloom._cli._display import RunDisplay
    from agentloom._paths import default_corpus
    from agentloom.agents.agent import Agent
    from agentloom.runstore import new_run_id
    from agentloom.tools.calculator import calculator
    from agentloom.tools.corpus import corpus_tools

    settings: dict[str, Any] = {"corpus": list(corpus), "width": width, "max_turns": max_turns, "memory": memory}
    question, settings, finished = _question_and_settings(question, resume, settings)
    if finished is not None:  # a finished run has nothing left to do: its recorded answer
        _print_result(finished, out, as_json, quiet)
        return
    budget = budget_from_flags(budget_usd, budget_tokens, budget_seconds, shared=budget_shared, defaults=DEFAULT_LIMITS)
    paths = list(settings["corpus"]) or [str(default_corpus())]
    tools = [*corpus_tools(paths, follow_symlinks=follow_symlinks), calculator]
    run_id = resume or new_run_id()
    bank = memory_bank(str(settings["memory"]), run_id)
    turns = str(settings["width"])
    agent = Agent(model=model, tools=tools, width=int(turns) if turns.isdigit() else turns, max_turns=int(settings["max_turns"]),
                  name="ask", memory=bank)
    display = RunDisplay(f"loom ask: {question}", budget, mode="quiet" if (quiet or as_json) else "auto")

    async def go() -> Result:
        with display:
            return await _run_with_listener(agent, question, budget, display, run_id, settings, resume is not None)

    try:
        result = asyncio.run(go())
    except KeyboardInterrupt:
        click.echo(f"loom: interrupted; run {run_id} is recorded, continue it with: loom ask --resume {run_id}", err=True)
        raise SystemExit(130) from None
    finally:
        if bank is not None:
            bank.close()
    _print_result(result, out, as_json, quiet)


def _question_and_settings(question: str | None, resume: str | None,
                           settings: dict[str, Any]) -> tuple[str, dict[str, Any], Result | None]:
    """The question and settings to run: the flags', or a resumed run's recorded ones (and its
    result when it had already finished)."""
    from agentloom.errors import ConfigError

    if resume is None:
        if question is None or not question.strip():
            raise ConfigError("the question is empty; ask something, e.g. loom ask \"What powers the tram network?\"")
        return question, settings, None
    if question:
        raise ConfigError("--resume continues a run with its own question; leave the question out")
    from agentloom.runstore import RunStore

    store = RunStore()
    try:
        record = store.get_run(resume)
    finally:
        store.close()
    recorded = record.input if isinstance(record.input, dict) else {}
    if record.kind != "ask" or not isinstance(recorded.get("question"), str):
        hint = "loom research --resume" if record.name == "deep_research" else "loom run FILE --resume"
        raise ConfigError(f"run '{record.id}' is a {record.kind} run, not an ask run; continue it with: {hint} {record.id}")
    kept = {key: recorded.get(key, value) for key, value in settings.items()}
    if record.status == "ok" and isinstance(record.output, dict):
        return recorded["question"], kept, _recorded_result(record)
    return recorded["question"], kept, None


def _recorded_result(record: Any) -> Result:
    """The result a finished ask run recorded (no model is called again)."""
    from agentloom.citations import Citation
    from agentloom.result import Result, UsageSummary

    output = record.output
    usage = dict(record.usage or {})
    return Result(output=str(output.get("answer") or ""), run_id=record.id,
                  citations=[Citation.from_dict(c) for c in output.get("citations") or []],
                  usage=UsageSummary(**{k: usage[k] for k in ("usd", "input_tokens", "output_tokens", "llm_calls", "tool_calls",
                                                              "memory_hits", "wall_s") if k in usage}),
                  meta={"resumed": True})


def _print_result(result: Result, out: str | None, as_json: bool, quiet: bool) -> None:
    """The numbered answer (to ``out`` too), or one JSON object; exit 3 when the budget cut it short."""
    from agentloom._cli._common import print_json, write_output

    text = str(result.output)
    rendered = _numbered(text, result.citations)
    if result.grounded is False:
        rendered += "\n\nUngrounded: this answer cites nothing the run looked up; do not rely on it."
    write_output(out, rendered)
    if as_json:
        print_json({"answer": text, **result.to_dict(), "resumed": bool(result.meta.get("resumed"))})
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


async def _run_with_listener(agent: Agent, question: str, budget: Budget, listener: RunDisplay, run_id: str,
                             settings: dict[str, Any], resume: bool) -> Result:
    """Run the agent as top-level run ``run_id`` (recording the question and settings a resume
    needs; ``resume`` continues that recorded run) whose events also reach ``listener``."""
    from agentloom._runtime import run_scope

    async with run_scope("ask", "ask", {"question": question, **settings}, budget=budget, listeners=[listener],
                         run_id=run_id, resume=resume) as scope:
        result = await agent.run(question)
        result = result.with_(run_id=scope.run_id, meta={"resumed": resume})
        if resume:  # the whole run: what it spent before the stop was charged to ``budget`` first
            from agentloom.result import UsageSummary

            result = result.with_(usage=UsageSummary.from_budget(budget, memory_hits=result.usage.memory_hits,
                                                                 priced=result.usage.usd is not None))
        scope.output = {"answer": str(result.output), "citations": [c.to_dict() for c in result.citations]}
        scope.status = "budget_exhausted" if result.budget_limited else "ok"
        scope.usage = result.usage.to_dict()
    return result

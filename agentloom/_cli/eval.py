"""``loom eval``: run the research pipeline on a question set and score the reports."""

from __future__ import annotations

import click

from agentloom._cli._common import model_connection

__all__ = ["eval_cmd"]


@click.command("eval")
@click.argument("questions", type=click.Path(dir_okay=False))
@click.option(
    "--corpus",
    "corpus",
    multiple=True,
    type=click.Path(),
    help="Corpus folder (repeatable). Default: a 'corpus' folder next to QUESTIONS, else the shipped example corpus.",
)
@click.option("--model", default=None, help="litellm model string, or 'offline'. Default: $AGENTLOOM_MODEL, else offline.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
@model_connection
def eval_cmd(questions: str, corpus: tuple[str, ...], model: str | None, as_json: bool) -> None:
    """Score research answers on QUESTIONS (a JSON list of {"question", "expected", "support"}
    objects; "unanswerable": true for a question the corpus cannot answer). The headline score
    is strict: a short answer passes when it holds every expected value. Exit 2 on a bad file."""
    import asyncio
    from pathlib import Path

    from agentloom._cli._common import print_json
    from agentloom._paths import default_corpus
    from agentloom.research.evaluate import evaluate, load_questions

    load_questions(questions)  # a bad file fails here, before any index is built
    paths = list(corpus)
    if not paths:
        beside = Path(questions).resolve().parent / "corpus"
        paths = [str(beside if beside.is_dir() else default_corpus())]
    report = asyncio.run(evaluate(questions, paths, model))
    if as_json:
        print_json(report.to_dict())
    else:
        click.echo(f"loom eval: {len(report.rows)} questions · model {report.model} · corpus {', '.join(report.corpus)}")
        click.echo(report.table())
    if report.errors:
        raise SystemExit(1)

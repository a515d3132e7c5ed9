"""``loom runs approve`` / ``deny`` / ``waiting``: answer a run that waits at an approval gate,
from any process (the pause lives in the run's checkpoint). Also the ``--approve`` option and
the "waiting" message that ``loom research`` and ``loom run`` share."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from agentloom.result import Result

__all__ = ["EXIT_WAITING", "approve", "approve_option", "deny", "read_plan_edit", "report_waiting", "waiting"]

#: A run paused at an approval gate (``loom runs approve RUN_ID`` / ``deny`` continues it).
EXIT_WAITING = 4

approve_option = click.option(
    "--approve", "approve_gates", multiple=True, metavar="GATE",
    help="Pause for a person: plan, spend_over=0.50 (USD), spend_over=20000tokens, tools=http_fetch,... (repeatable).",
)


def report_waiting(result: Result, as_json: bool) -> None:
    """Say what the run waits for and how to answer it, then exit with ``EXIT_WAITING``."""
    from agentloom.approvals import describe_request

    pending = result.meta.get("waiting") or []
    if as_json:
        click.echo(json.dumps({"run_id": result.run_id, "status": "waiting", "pending": pending}, ensure_ascii=False, default=str))
    else:
        for request in pending:
            click.echo(describe_request(request), err=True)
        click.echo(f"loom: run {result.run_id} waits for approval; continue with `loom runs approve {result.run_id}` "
                   f"(--edit-plan FILE to change the plan) or `loom runs deny {result.run_id} --reason ...`", err=True)
    raise SystemExit(EXIT_WAITING)


def read_plan_edit(path: str | None) -> dict[str, Any] | None:
    """The edited plan in ``path`` (YAML or JSON: sub_tasks, width or branches)."""
    if path is None:
        return None
    import yaml

    from agentloom.errors import ConfigError

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read --edit-plan {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or 'syntax error'}); "
                          "write sub_tasks: [...] and width: N") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: an edited plan is a mapping with sub_tasks: [...] and/or width: N (or branches: [...])")
    return data


def _finish(result: Result, as_json: bool) -> None:
    from agentloom._cli.graph import _output_text

    if result.stop_reason == "waiting":
        report_waiting(result, as_json)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, default=str))
    else:
        click.echo(_output_text(result.output))
        state = "denied; report of what was found" if result.stop_reason == "denied" else result.stop_reason
        click.echo(f"loom: run {result.run_id} {state}", err=True)
    if result.budget_limited:
        raise SystemExit(3)


def _resume(run_id: str, approve_it: bool, reason: str | None, plan: dict[str, Any] | None, model: str | None) -> Result:
    import asyncio

    from agentloom import approvals

    handle = approvals.get(run_id)
    return asyncio.run(handle.resume(approve_it, reason=reason, plan=plan, model=model, by="cli"))


@click.command("approve")
@click.argument("run_id")
@click.option("--edit-plan", "edit_plan", type=click.Path(dir_okay=False), default=None,
              help="A YAML/JSON file with the plan to run instead: sub_tasks: [...], width: N (or branches: [...]).")
@click.option("--model", default=None, help="The model to continue with (default: the run's own).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (the Result) on stdout.")
def approve(run_id: str, edit_plan: str | None, model: str | None, as_json: bool) -> None:
    """Approve every gate run RUN_ID waits at, and run it on.

    Exit codes: as the run (0 done, 1 failed, 3 budget exhausted, 4 waits at another gate).
    """
    _finish(_resume(run_id, True, None, read_plan_edit(edit_plan), model), as_json)


@click.command("deny")
@click.argument("run_id")
@click.option("--reason", required=True, help="Why (kept with the run and shown in its report).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (the Result) on stdout.")
def deny(run_id: str, reason: str, as_json: bool) -> None:
    """Deny the gates run RUN_ID waits at: the run ends without spending more, with a report of
    what it found so far.

    Exit code 0 once the run has ended and its report is written.
    """
    _finish(_resume(run_id, False, reason, None, None), as_json)


@click.command("waiting")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array instead of text.")
def waiting(as_json: bool) -> None:
    """Runs that wait for approval, with what each waits for."""
    from agentloom import approvals

    rows: list[dict[str, Any]] = [{"run_id": h.run_id, "requests": [dict(r.data) for r in h.requests]} for h in approvals.waiting()]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, default=str))
        return
    if not rows:
        click.echo("no run waits for approval")
    for row in rows:
        click.echo(f"run {row['run_id']}")
        for request in row["requests"]:
            click.echo("  " + approvals.describe_request(request).replace("\n", "\n  "))

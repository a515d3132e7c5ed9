"""``loom memory``: inspect and maintain a memory bank (stats, audit, train, export, clear).

Top-level imports stay light (click, stdlib); the bank is imported inside each command.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from agentloom.memory.bank import MemoryBank

__all__ = ["memory"]


def _bank_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--db``, ``--scope`` and ``--run``: which bank file, and which part of it."""

    @click.option("--db", "db", type=click.Path(dir_okay=False), default=None,
                  help="Memory bank file (default: <loom home>/memory.db).")
    @click.option("--scope", type=click.Choice(["run", "project"]), default=None,
                  help="Only the per-run namespaces (run) or the cross-run one (project); default: the whole file.")
    @click.option("--run", "run_id", default=None, help="With --scope run: one run's namespace.")
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper


def _open(db: str | None, scope: str | None, run_id: str | None, *, create: bool = False) -> MemoryBank:
    from agentloom._paths import loom_home
    from agentloom.memory.admission import AdmitNone
    from agentloom.memory.bank import MemoryBank

    path = Path(db) if db else loom_home() / "memory.db"
    if run_id is not None and scope is None:
        scope = "run"
    if run_id is not None and scope != "run":
        raise click.UsageError("--run only applies to --scope run")
    return MemoryBank(path, scope=scope or "all", run_id=run_id, policy=AdmitNone(), create=create)


def _echo_mapping(data: dict[str, Any], indent: str = "") -> None:
    width = max((len(k) for k in data), default=0)
    for key, value in data.items():
        if isinstance(value, dict):
            click.echo(f"{indent}{key}:")
            _echo_mapping(value, indent + "  ")
        else:
            shown = f"{value:.2%}" if key.endswith("_rate") and isinstance(value, float) else value
            click.echo(f"{indent}{key.ljust(width)}  {shown}")


@click.group("memory", invoke_without_command=True)
@click.pass_context
def memory(ctx: click.Context) -> None:
    """Memory bank: stats, audit, train, export, clear."""
    from agentloom._cli._common import help_when_bare

    help_when_bare(ctx)


@memory.command("stats")
@_bank_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats(db: str | None, scope: str | None, run_id: str | None, as_json: bool) -> None:
    """Entries, hit rate (hits and coalesced calls over all tool calls) and saved cost."""
    with _open(db, scope, run_id) as bank:
        data = bank.stats()
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        _echo_mapping(data)


@memory.command("audit")
@_bank_options
@click.option("--stale-days", type=click.FloatRange(min=0), default=7.0, show_default=True,
              help="Entries neither created nor used for this many days count as stale.")
@click.option("--near-duplicate", type=click.FloatRange(0, 1), default=0.8, show_default=True,
              help="Term-Jaccard similarity at which two entries are near-duplicates.")
@click.option("--sample", type=click.IntRange(min=0), default=2000, show_default=True,
              help="Entries checked for near-duplicates (evenly spaced) on large banks.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def audit(db: str | None, scope: str | None, run_id: str | None, stale_days: float, near_duplicate: float,
          sample: int, as_json: bool) -> None:
    """Duplicate, near-duplicate and stale rates (how much of the bank is junk)."""
    with _open(db, scope, run_id) as bank:
        data = bank.audit(stale_after=stale_days * 86400.0, near_duplicate=near_duplicate, sample=sample)
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        _echo_mapping(data)


@memory.command("train")
@_bank_options
@click.option("--penalty", type=click.FloatRange(min=0), default=0.001, show_default=True,
              help="Credit lost per context token an entry adds (seconds-equivalent).")
@click.option("--min-decisions", type=click.IntRange(min=1), default=20, show_default=True,
              help="Refuse to train on fewer logged admission decisions.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def train(db: str | None, scope: str | None, run_id: str | None, penalty: float, min_decisions: int, as_json: bool) -> None:
    """Fit the learned admission model from the logged decisions and reads; store it, versioned."""
    with _open(db, scope, run_id) as bank:
        report = bank.train(penalty=penalty, min_decisions=min_decisions)
        path = bank.path
    if as_json:
        click.echo(json.dumps({"version": report.version, "n_decisions": report.n_decisions,
                               "n_positive": report.n_positive, "threshold": report.threshold,
                               "weights": report.weights, "bias": report.bias, "metrics": report.metrics}, indent=2))
    else:
        click.echo(f"{path}: {report.summary()}")


@memory.command("export")
@_bank_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-", show_default=True,
              help="JSONL file to write ('-' for stdout).")
@click.option("--table", type=click.Choice(["entries", "decisions", "reads", "models"]), default="entries",
              show_default=True, help="What to export.")
def export(db: str | None, scope: str | None, run_id: str | None, output: str, table: str) -> None:
    """Write entries (or the decision/read logs, or trained models) as JSON lines."""
    with _open(db, scope, run_id) as bank:
        if output == "-":
            n = bank.export(sys.stdout, table=table)
        else:
            with open(output, "w", encoding="utf-8") as fh:
                n = bank.export(fh, table=table)
            click.echo(f"wrote {n} {table} to {output}", err=True)


@memory.command("clear")
@_bank_options
@click.option("--expired", is_flag=True, help="Only evict entries whose TTL has passed.")
@click.option("--unread-days", type=click.FloatRange(min=0), default=None,
              help="Only evict entries never read and older than this many days (with --expired: either).")
@click.option("--logs", is_flag=True, help="Also delete the decision and read logs (and, for the whole file, trained models).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def clear(db: str | None, scope: str | None, run_id: str | None, expired: bool, unread_days: float | None,
          logs: bool, yes: bool) -> None:
    """Delete the entries in scope, or evict only expired / never-read ones (the file is kept)."""
    with _open(db, scope, run_id) as bank:
        label = bank.scope_label()
        if expired or unread_days is not None:
            if logs:
                raise click.UsageError("--logs applies to a full clear, not to eviction")
            n = bank.evict(expired=expired, unused_for=unread_days * 86400.0 if unread_days is not None else None)
            click.echo(f"evicted {n} entries from {bank.path} ({label})")
            return
        if not yes:
            try:
                agreed = click.confirm(f"delete {len(bank)} entries from {bank.path} ({label})?")
            except click.Abort:  # no answer could be read (no terminal, stdin closed)
                raise click.UsageError("nothing was deleted: no answer to the confirmation; add -y to clear without asking") from None
            if not agreed:
                click.echo("nothing was deleted", err=True)
                raise SystemExit(1)
        n = bank.clear(logs=logs)
        click.echo(f"deleted {n} entries from {bank.path} ({label})" + (" and their logs" if logs else ""))

"""``loom runs``: list recorded runs, show one (summary, decisions, errors, timeline) and export
one as a self-contained HTML page. Only click and the standard library at import time."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from agentloom.runstore import RunRecord, RunStore

__all__ = ["runs"]



def _usage(record: RunRecord, events: list[dict[str, Any]]) -> dict[str, Any]:
    from agentloom.research.run_page import usage_of

    return usage_of(record, events)


def _timeline_of(store: RunStore, record: RunRecord, events: list[dict[str, Any]] | None = None) -> Any:
    from agentloom.research.run_page import timeline_of

    return timeline_of(store, record, events)


def _store_path() -> Path:
    from agentloom._paths import loom_home

    return loom_home() / "runs.db"


def _open_store() -> RunStore | None:
    """The run store, or None when no run was ever recorded here (reading never creates it)."""
    from agentloom.runstore import RunStore
    from agentloom.storage import database_url

    path = _store_path()
    if not path.exists() and not (database_url() or "").startswith("postgres"):
        return None

    return RunStore(path)


def _get_run(run_id: str) -> tuple[RunStore, RunRecord]:
    from agentloom.errors import RunNotFoundError

    store = _open_store()
    if store is None:
        raise RunNotFoundError(f"no run with id '{run_id}': no runs recorded in {_store_path()}; see `loom runs list`")
    return store, store.get_run(run_id)


# --------------------------------------------------------------------------- formatting
def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _secs(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 3600:
        return f"{value / 3600:.1f}h"
    if value >= 60:
        return f"{int(value // 60)}m{int(value % 60):02d}s"
    return f"{value:.2f}s"


def _duration(record: RunRecord) -> float | None:
    from agentloom.research.run_page import duration_of

    return duration_of(record)


def _short(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _brief(value: Any, limit: int = 40) -> str:
    """A decision's value in words, never JSON cut in the middle: scalars as they are, a list of
    scalars joined (with how many more), anything nested by its size."""
    if isinstance(value, list):
        if all(isinstance(v, (str, int, float, bool)) or v is None for v in value):
            shown: list[str] = []
            for v in value:
                if len(", ".join([*shown, str(v)])) > limit:
                    break
                shown.append(str(v))
            more = len(value) - len(shown)
            return "[" + ", ".join(shown) + (f", +{more} more" if more and shown else f"{more} items" if more else "") + "]"
        return f"[{len(value)} item{'s' if len(value) != 1 else ''}]"
    if isinstance(value, dict):
        return "{" + ", ".join(str(k) for k in list(value)[:4]) + (", ..." if len(value) > 4 else "") + "}"
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _usd(value: Any) -> str:
    if value is None:
        return "unknown"
    try:
        return f"${float(value):.4f}"
    except (TypeError, ValueError):
        return str(value)


def _decisions(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in events:
        if e.get("kind") != "decision":
            continue
        data = dict(e.get("data") or {})
        reason = data.pop("reason", None) or data.pop("why", None) or data.pop("rationale", None)
        out.append({"name": e.get("name"), "team": e.get("team"), "reason": reason, "data": data, "at": e.get("start")})
    return out


def _errors(record: RunRecord, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if record.error:
        out.append({"kind": "run", "name": record.kind, "error": record.error})
    for e in events:
        if e.get("status") == "error":
            out.append({"kind": e.get("kind"), "name": e.get("name"), "team": e.get("team"), "error": e.get("error") or "error"})
    return out


def _output_text(output: Any) -> str:
    if output is None:
        return ""
    if isinstance(output, str):
        return output
    if isinstance(output, dict):
        for key in ("report", "report_markdown", "markdown", "answer", "output", "text"):
            if isinstance(output.get(key), str) and output[key].strip():
                return str(output[key])
    return json.dumps(output, indent=2, ensure_ascii=False, default=str)


def _width() -> int:
    import shutil

    return max(60, min(180, shutil.get_terminal_size((100, 24)).columns))


# --------------------------------------------------------------------------- commands
@click.group("runs", invoke_without_command=True)
@click.pass_context
def runs(ctx: click.Context) -> None:
    """List, show and export recorded runs (from the run store under --home / $AGENTLOOM_HOME)."""
    from agentloom._cli._common import help_when_bare

    help_when_bare(ctx)


@runs.command("list")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True, help="How many recent runs.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array instead of a table.")
def list_runs(limit: int, as_json: bool) -> None:
    """The most recent runs, newest first."""
    store = _open_store()
    records = store.list_runs(limit=limit) if store is not None else []
    if as_json:
        click.echo(json.dumps([
            {"id": r.id, "kind": r.kind, "name": r.name, "status": r.status, "created": r.created,
             "finished": r.finished, "duration_s": _duration(r), "input": r.input, "usage": r.usage}
            for r in records
        ], ensure_ascii=False, default=str))
        return
    if not records:
        click.echo(f"no runs recorded in {_store_path()}")
        return
    assert store is not None
    models = {r.id: _models(store, r.id) for r in records}
    status_w = max(6, *(len(r.status) for r in records))
    model_w = min(24, max(5, *(len(m) for m in models.values())))
    header = (f"{'ID':<24} {'KIND':<10} {'STATUS':<{status_w}} {'MODEL':<{model_w}} {'CREATED':<19} {'TIME':>8} {'USD':>9} "
              f"{'TOKENS':>8}  NAME / INPUT")
    click.echo(header)
    for r in records:
        usage = r.usage or {}
        tokens = usage.get("tokens", int(usage.get("input_tokens") or 0) + int(usage.get("output_tokens") or 0))
        usd = _usd(usage.get("usd")) if "usd" in usage else "-"
        what = " - ".join(x for x in (r.name, _short(r.input, 60) if r.input is not None else "") if x)
        click.echo(
            f"{r.id:<24} {r.kind[:10]:<10} {r.status:<{status_w}} {_short(models[r.id], model_w):<{model_w}} "
            f"{_when(r.created):<19} {_secs(_duration(r)):>8} {usd:>9} {tokens:>8}  {_short(what, 60) if what else ''}"
        )


def _models(store: RunStore, run_id: str) -> str:
    """The models a run called (from its ``model_call`` events), or '-' when it made no call."""
    names = sorted({str(e.get("name")) for e in store.events(run_id, kind="model_call") if e.get("name")})
    return ", ".join(names) or "-"


def _placements(events: list[dict[str, Any]]) -> list[str]:
    """Where a run's branches and remote tools ran (``placement`` events): one line per executor."""
    by: dict[str, dict[str, Any]] = {}
    for event in events:
        data = event.get("data")
        if event.get("kind") != "placement" or not isinstance(data, dict):
            continue
        seen = by.setdefault(str(data.get("executor")), {"branch": 0, "tool": 0, "workers": set(), "nodes": set()})
        seen["branch" if data.get("what") == "branch" else "tool"] += 1
        seen["workers"].add((data.get("node_id"), data.get("worker_id"), data.get("pid")))
        seen["nodes"].add(data.get("node_id"))
    if not by:
        return []
    def count(n: int, one: str, many: str | None = None) -> str:
        return f"{n} {one if n == 1 else many or one + 's'}"

    return ["ran on"] + [f"  {name:<9} {count(s['branch'], 'branch', 'branches')}, "
                         f"{count(s['tool'], 'remote tool call')}; {count(len(s['workers']), 'worker')} on "
                         f"{count(len(s['nodes']), 'node')}" for name, s in sorted(by.items())]


def _approval_lines(record: RunRecord) -> list[str]:
    """What a waiting run waits for, or the gates a run passed (projected beside actual)."""
    from agentloom.approvals import approvals_section, describe_request

    meta = record.meta or {}
    if record.status == "waiting":
        pending = (meta.get("approval") or {}).get("pending") or []
        lines = ["waiting for approval (loom runs approve / deny " + record.id + ")"]
        return lines + ["  " + describe_request(p).replace("\n", "\n  ") for p in pending]
    if meta.get("approvals"):
        return ["approvals"] + ["  " + line for line in approvals_section(meta).splitlines()[2:] if line]
    return []


@runs.command("show")
@click.argument("run_id")
@click.option("--timeline", is_flag=True, help="Also draw a text Gantt of branches and calls with the critical path.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def show(run_id: str, timeline: bool, as_json: bool) -> None:
    """A readable summary of one run: usage, events, planner decisions, errors, output."""
    store, record = _get_run(run_id)
    events = store.events(record.id)
    usage = _usage(record, events)
    counts = Counter(str(e.get("kind")) for e in events)
    decisions = _decisions(events)
    errors = _errors(record, events)
    tl = _timeline_of(store, record, events) if timeline else None
    if as_json:
        payload: dict[str, Any] = {
            "id": record.id, "kind": record.kind, "name": record.name, "status": record.status,
            "created": record.created, "finished": record.finished, "duration_s": _duration(record),
            "input": record.input, "usage": usage, "events": dict(counts), "decisions": decisions,
            "errors": errors, "output": record.output, "meta": record.meta,
            "artifacts": list(dict.fromkeys(a["name"] for a in store.artifacts(record.id))),  # once each: a resumed run rewrites its report
        }
        if tl is not None:
            payload["timeline"] = tl.to_dict()
        click.echo(json.dumps(payload, ensure_ascii=False, default=str))
        return

    out: list[str] = [f"run {record.id}"]
    fields = [("kind", record.kind), ("name", record.name), ("status", record.status),
              ("created", _when(record.created)),
              ("duration", _secs(_duration(record)) if record.finished else f"- (not finished; {record.status})")]
    from agentloom.research.run_page import resumed_line

    fields.append(("resumed", resumed_line(record) or "no"))
    if record.input is not None:
        fields.append(("input", _short(record.input, 300)))
    out += [f"  {k:<9} {v}" for k, v in fields if v]
    out.append("usage")
    out.append(
        f"  usd {_usd(usage.get('usd'))}   tokens {usage.get('tokens', 0)} "
        f"(in {usage.get('input_tokens', 0)}, out {usage.get('output_tokens', 0)})   "
        f"llm calls {usage.get('llm_calls', 0)}   tool calls {usage.get('tool_calls', 0)}   "
        f"memory hits {usage.get('memory_hits', 0)}"
    )
    for key in ("width", "depth"):
        if key in record.meta:
            out.append(f"  {key} {record.meta[key]}")
    out += _placements(events)
    out += _approval_lines(record)
    out.append(f"events ({len(events)})")
    out.append("  " + ("   ".join(f"{k} {n}" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))) or "none"))
    if decisions:
        out.append(f"decisions ({len(decisions)})")
        for d in decisions[:30]:
            extra = ", ".join(f"{k}={_brief(v)}" for k, v in d["data"].items())
            who = f"[{d['team']}] " if d.get("team") else ""
            line = f"  {who}{d['name']}"
            if extra:
                line += f" ({extra})"
            if d["reason"]:
                line += f": {_short(d['reason'], 200)}"
            out.append(line)
        if len(decisions) > 30:
            out.append(f"  ... {len(decisions) - 30} more")
    if errors:
        out.append(f"errors ({len(errors)})")
        for err in errors[:10]:
            who = f"[{err['team']}] " if err.get("team") else ""
            out.append(f"  {who}{err['kind']} {err['name']}: {_short(err['error'], 200)}")
        if len(errors) > 10:
            out.append(f"  ... {len(errors) - 10} more")
    cancelled = sum(1 for e in events if e.get("status") == "cancelled")
    if cancelled:
        out.append(f"cancelled events: {cancelled}")
    text = _output_text(record.output)
    if text:
        out.append("output")
        shown = text if len(text) <= 2000 else text[:2000] + f"\n... ({len(text) - 2000} more characters)"
        out += ["  " + line for line in shown.splitlines()]
    artifacts = list(dict.fromkeys(a["name"] for a in store.artifacts(record.id)))  # a resumed run rewrites its report
    if artifacts:
        out.append("artifacts: " + ", ".join(artifacts))
    if tl is not None:
        from agentloom.research.gantt import render_text_gantt

        out.append("")
        out.append(render_text_gantt(tl, width=_width()))
    click.echo("\n".join(out))


@runs.command("export")
@click.argument("run_id")
@click.option("--html", "as_html", is_flag=True, default=True, hidden=True,
              help="Write a self-contained HTML page (the only format, and the default; kept for old scripts).")
@click.option("--out", "-o", "out", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Where to write (default: ./loom-run-<RUN_ID>.html; '-' for stdout).")
def export(run_id: str, as_html: bool, out: str | None) -> None:
    """Export one run as one self-contained HTML file: its timeline chart and report."""
    store, record = _get_run(run_id)
    from agentloom.research.run_page import export_page

    page = export_page(store, record)
    if out == "-":
        click.echo(page, nl=False)
        return
    target = Path(out) if out else Path.cwd() / f"loom-run-{record.id}.html"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page, encoding="utf-8")
    except OSError as exc:
        from agentloom.errors import ConfigError

        raise ConfigError(f"cannot write {target}: {exc.strerror or exc}; choose another --out") from None
    click.echo(f"wrote {target} ({len(page.encode('utf-8'))} bytes)")


def _approval_commands() -> None:
    """``loom runs approve`` / ``deny`` / ``waiting`` live in ``agentloom._cli.approve``."""
    from agentloom._cli.approve import approve, deny, waiting

    for command in (approve, deny, waiting):
        runs.add_command(command)


_approval_commands()

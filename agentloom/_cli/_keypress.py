"""Answering an approval gate in the live terminal view: the view pauses, the request is drawn,
and one key answers it (y approve, n deny with an optional reason, e edit the plan in $EDITOR,
q leave it waiting). The answer goes through the same ``RunHandle.resume`` as ``loom runs
approve``, so the run and its record are the same as when answered from another process."""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentloom._cli._display import RunDisplay
    from agentloom.result import Result

__all__ = ["Answer", "answer_in_view", "can_ask"]

#: A person's answer: ``(approve, reason, edited plan)``; None leaves the run waiting.
Answer = tuple[bool, str | None, dict[str, Any] | None]


def can_ask(display: RunDisplay) -> bool:
    """Whether a person can answer here: the live view is on and stdin is a terminal (never with
    --json, --quiet or off a terminal: those keep the run waiting and exit 4)."""
    try:
        return display.mode == "live" and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


async def answer_in_view(result: Result, display: RunDisplay, *, model: Any = None) -> Result:
    """While ``result`` waits at a gate, pause the view, ask, and run on with the answer (again at
    the next gate); a run left waiting (q, Ctrl-C, end of input) is returned as it is."""
    from agentloom import approvals
    from agentloom.budget import Budget

    while result.stop_reason == "waiting" and result.run_id:
        pending = [dict(p) for p in result.meta.get("waiting") or []]
        with display.paused() as console:
            answer = await asyncio.to_thread(ask, console, pending)
        if answer is None:
            return result
        approve, reason, plan = answer
        old = display.budget
        budget = None
        if old is not None:  # a fresh budget with the same limits: the spend before the pause is charged to it
            limits = {k: v for k, v in old.limits.items() if v is not None}
            budget = Budget.from_limits(limits | ({"shared": old.shared} if old.shared else {}), name=old.name)
            display.budget = budget
        handle = approvals.get(result.run_id)
        result = await handle.resume(approve, reason=reason, plan=plan, model=model, budget=budget,
                                     listeners=[display], by="terminal")
    return result


def ask(console: Any, pending: list[dict[str, Any]]) -> Answer | None:
    """Draw the requests and read one key until it is an answer (runs on a worker thread)."""
    from rich.panel import Panel
    from rich.text import Text

    from agentloom.approvals import describe_request
    from agentloom.errors import ConfigError

    plan_gate = next((p for p in pending if p.get("gate") == "plan"), None)
    body = "\n".join(describe_request(p) for p in pending)
    keys = "y approve · n deny" + (" · e edit the plan" if plan_gate is not None else "") + " · q leave it waiting"
    console.print(Panel(Text(body), title="approval needed", title_align="left", border_style="yellow"))
    while True:
        console.print(f"[bold]{keys}[/bold] > ", end="")
        try:
            key = read_key()
        except (KeyboardInterrupt, EOFError):
            console.print()
            return None
        console.print(key if key.isprintable() else "")
        if key in ("y", "Y"):
            return True, None, None
        if key in ("n", "N"):
            try:
                reason = input("reason (optional, Enter to skip): ").strip()
            except (KeyboardInterrupt, EOFError):
                return None
            return False, reason or None, None
        if key in ("q", "Q", "\x1b"):
            return None
        if key in ("e", "E") and plan_gate is not None:
            try:
                plan = edit_plan(plan_gate)
            except ConfigError as exc:
                console.print(f"[red]{exc}[/red]")
                continue
            if plan is not None:
                return True, None, plan


def read_key() -> str:
    """One key from the terminal, without waiting for Enter ("" at end of input)."""
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)  # keeps Ctrl-C a signal
        data = os.read(fd, 1)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
    if not data:
        raise EOFError
    return data.decode("utf-8", "replace")


def edit_plan(request: Mapping[str, Any]) -> dict[str, Any] | None:
    """Open the plan of a plan gate in ``$VISUAL``/``$EDITOR`` as YAML; the edited plan (checked
    as ``loom runs approve --edit-plan`` checks it), or None when no editor is set."""
    import yaml

    from agentloom._cli.approve import read_plan_edit
    from agentloom.approvals import ApprovalRequest
    from agentloom.errors import ConfigError
    from agentloom.graph.approval import check_plan_edit

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        raise ConfigError("set $EDITOR (or $VISUAL) to edit the plan here, or answer y/n")
    plan = ApprovalRequest("", "plan", "", dict(request)).plan
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="loom-plan-", delete=False, encoding="utf-8") as handle:
        handle.write("# Edit the sub-questions and/or the width; save and quit to run this plan.\n")
        handle.write(yaml.safe_dump(plan, sort_keys=False, allow_unicode=True))
        path = handle.name
    try:
        done = subprocess.run([*shlex.split(editor), path], check=False)
        if done.returncode != 0:
            raise ConfigError(f"the editor ({editor}) exited with code {done.returncode}; the plan is unchanged")
        edit = read_plan_edit(path)
    finally:
        os.unlink(path)
    if edit is not None:
        check_plan_edit(request, edit)
    return edit

"""Watching a run: a live rich display on a terminal, plain log lines otherwise, or nothing.

It is a tracing listener: every event of the run passes through ``__call__``. The live view
shows the plan, each branch's status and current tool call, budget bars and memory hits.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from agentloom.budget import Budget
from agentloom.events import Event, MemoryHit, ModelCall, PlanMade, SpanStarted, ToolCall, ToolResult
from agentloom.secrets import redact_text

__all__ = ["RunDisplay"]


@dataclass
class _Branch:
    name: str
    status: str = "running"
    current: str = ""
    tool_calls: int = 0
    model_calls: int = 0
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    in_flight: dict[str, str] = field(default_factory=dict)  # call id -> tool name, until its result

    def doing(self) -> str:
        """What the branch is waiting on now: its open tool calls, else the model (never a finished call)."""
        if self.status != "running":
            return ""
        if self.in_flight:
            names = list(self.in_flight.values())
            return names[0] + (f" +{len(names) - 1}" if len(names) > 1 else "")
        return "model"


#: The research pipeline's stages, in order (``loom run`` passes its graph's nodes instead).
RESEARCH_STAGES = ("plan", "research", "verify", "merge", "write")
_STATUS_STYLE = {"running": "yellow", "ok": "green", "done": "green", "error": "bold red", "failed": "bold red",
                 "cancelled": "dim", "budget_exhausted": "magenta"}


class RunDisplay:
    """Render run events. ``mode``: "auto" (live on a TTY, plain otherwise), "live", "plain", "quiet"."""

    def __init__(self, title: str, budget: Budget | None = None, *, mode: str = "auto", stream: IO[str] | None = None,
                 stages: tuple[str, ...] | list[str] = RESEARCH_STAGES, width: int | None = None) -> None:
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "live" if self.stream.isatty() else "plain"
        self.mode = mode
        self.title = title
        self.budget = budget
        self.branches: dict[str, _Branch] = {}
        self.plan_lines: list[str] = []
        self.memory_hits = 0
        self._span_keys: dict[str, str] = {}
        self.started = time.monotonic()
        self._live: Any = None
        self.stages = list(stages)
        self.stage_seen: list[str] = []  # stages started, in order
        self.width = width
        self._finished = False
        self._logged = False
        self._tty: tuple[int, Any] | None = None  # the terminal settings to restore (see _quiet_interrupt_echo)

    # ----------------------------------------------------------------- lifecycle
    def __enter__(self) -> RunDisplay:
        if self.mode == "live":
            from rich.live import Live

            # get_renderable: every refresh redraws, so running times and spinners tick between events
            self._live = Live(console=self._console(), refresh_per_second=8, transient=False, get_renderable=self._render)
            self._quiet_interrupt_echo()
            self._live.start()
        return self

    def _quiet_interrupt_echo(self) -> None:
        """Stop the terminal echoing ``^C`` while the view is drawn: the echo moves the cursor a
        line under the view's feet, and its last frame was then drawn below a stray copy of its
        title. Restored on exit (Ctrl-C still interrupts)."""
        if self._tty is not None or not sys.stdin.isatty():
            return
        try:
            import termios

            fd = sys.stdin.fileno()
            saved = termios.tcgetattr(fd)
            quiet = list(saved)
            quiet[3] &= ~termios.ECHOCTL
            termios.tcsetattr(fd, termios.TCSANOW, quiet)
            self._tty = (fd, saved)
        except (ImportError, AttributeError, OSError, ValueError):  # no termios (Windows) or no real terminal
            self._tty = None

    def _restore_echo(self) -> None:
        if self._tty is None:
            return
        import termios

        fd, saved = self._tty
        self._tty = None
        try:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        except (OSError, termios.error):
            pass

    def _console(self) -> Any:
        from rich.console import Console

        return Console(file=self.stream, width=self.width)

    @contextmanager
    def paused(self) -> Iterator[Any]:
        """Stop redrawing and erase the frame, so the body can print and read the keyboard on a
        rich console of the same stream; the view starts again below what the body printed, so
        the terminal shows one frame, not the paused one above the new one."""
        live, self._live = self._live, None
        if live is not None:
            live.transient = True
            live.stop()
            self._restore_echo()
        try:
            yield self._console()
        finally:
            if live is not None:
                self.__enter__()

    def __exit__(self, *exc: object) -> None:
        self._finished = True
        if self._live is not None:
            try:
                self._live.stop()  # one last frame, drawn once (also after Ctrl-C)
            finally:
                self._live = None
                self._restore_echo()
        elif self.mode == "plain" and self._logged and not exc[0]:
            self._log(f"done in {time.monotonic() - self.started:.2f}s; memory hits {self.memory_hits}")

    def _log(self, line: str) -> None:
        if not self._logged:  # the start line waits for the run's first event: an input error prints only itself
            self._logged = True
            self._log(f"start: {self.title}")
        self.stream.write(f"[{time.monotonic() - self.started:7.2f}s] {redact_text(line)}\n")
        self.stream.flush()

    # ----------------------------------------------------------------- events
    def __call__(self, event: Event) -> None:
        if self.mode == "quiet":
            return
        kind, name = event.kind, event.name
        team = event.team or self._span_keys.get(str(event.parent_id), "main")
        data = event.data
        line: str | None = None
        if isinstance(event, PlanMade):
            detail = data.get("reason") or ""
            who = "" if name in ("plan", "budget", "") else f"{name}: "
            depth = data.get("depth", "?")
            rounds = f"depth up to {depth}" if isinstance(depth, int) and depth > 1 else f"depth {depth}"  # at most; the footer says how many ran
            detail = re.sub(rf"^width {data.get('width')}\s*[,:]\s*", "", detail)  # said once, just before
            plan = f"{who}width {data.get('width', '?')}, {rounds}" + (f" — {detail}" if detail else "")
            self.plan_lines.append(plan)
            for sub in data.get("sub_tasks") or []:
                self.plan_lines.append(f"  - {sub}")
            line = f"plan: {plan}"
        elif isinstance(event, SpanStarted) and kind[:-6] in ("branch", "team", "agent", "node", "map"):
            key = team if event.team else name
            stage = name.split("[", 1)[0]
            if kind == "node_start" and stage in self.stages and stage not in self.stage_seen:
                self.stage_seen.append(stage)
            if event.span_id:
                self._span_keys[event.span_id] = key
            if key not in self.branches or self.branches[key].status != "running":
                self.branches[key] = _Branch(key)
                line = f"{key}: started"
        elif kind in ("branch", "team", "agent", "node"):
            key = team if event.team else name
            branch = self.branches.get(key)
            if branch is not None and branch.status == "running":
                branch.status = event.status
                branch.ended = time.monotonic()
                branch.current = ""
                line = f"{key}: {branch.status} in {branch.ended - branch.started:.2f}s"
        elif isinstance(event, ToolCall):
            self.branches.setdefault(team, _Branch(team)).in_flight[event.call_id or str(event.span_id)] = name
        elif isinstance(event, ToolResult):
            branch = self.branches.setdefault(team, _Branch(team))
            branch.in_flight.pop(event.call_id, None)
            branch.tool_calls += 1
            status = event.status
            branch.current = f"{name} ({status})"
            if status in ("cached", "coalesced"):
                self.memory_hits += 1
                line = f"{team}: memory hit for {name}"
            else:
                line = f"{team}: tool {name} {status} {event.duration:.2f}s"
        elif isinstance(event, MemoryHit):
            line = f"{team}: memory hit {name}"
        elif isinstance(event, ModelCall):
            branch = self.branches.setdefault(team, _Branch(team))
            branch.model_calls += 1
            if event.status == "error":
                line = f"{team}: model {name} error: {event.error}"
        elif kind == "cancelled":
            line = f"{team}: cancelled ({data.get('reason', 'early stop')})"
        elif kind in ("verify", "crossover", "write", "phase"):
            line = f"{kind}: {name}"
        if self._live is not None:
            self._live.update(self._render())
        elif line is not None and self.mode == "plain":
            self._log(line)

    # ----------------------------------------------------------------- live view
    def _render(self) -> Any:
        """One frame: title, stage line, plan, branches (in-flight calls, ticking times), budget bars."""
        from rich.console import Group
        from rich.panel import Panel
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        parts: list[Any] = [self._stage_line()]
        if self.plan_lines:
            parts.append(Text("\n".join(self.plan_lines[-8:]), style="cyan", overflow="ellipsis", no_wrap=True))
        table = Table(expand=True, show_edge=False, pad_edge=False, box=None, header_style="bold")
        table.add_column("branch", ratio=2, no_wrap=True, overflow="ellipsis", min_width=10)
        table.add_column("status", width=9, no_wrap=True)
        table.add_column("now", ratio=3, no_wrap=True, overflow="ellipsis", min_width=10)
        table.add_column("tools", width=5, justify="right", no_wrap=True)
        table.add_column("model", width=5, justify="right", no_wrap=True)
        table.add_column("time", width=7, justify="right", no_wrap=True)
        now = time.monotonic()
        for branch in list(self.branches.values())[-20:]:
            elapsed = (branch.ended or now) - branch.started
            style = _STATUS_STYLE.get(branch.status, "")
            doing: Any = Spinner("dots", text=branch.doing(), style="yellow") if branch.status == "running" else Text("")
            table.add_row(Text(branch.name), Text(branch.status, style=style), doing, str(branch.tool_calls),
                          str(branch.model_calls), f"{elapsed:.1f}s")
        parts.append(table)
        parts.append(self._bars())
        return Panel(Group(*parts), title=Text(self.title, overflow="ellipsis", no_wrap=True), title_align="left")

    def _stage_line(self) -> Any:
        from rich.text import Text

        line = Text(no_wrap=True, overflow="ellipsis")
        current = self.stage_seen[-1] if self.stage_seen else None
        for n, stage in enumerate(self.stages):
            if n:
                line.append(" → ", style="dim")
            if stage == current and not self._finished:
                line.append(stage, style="bold yellow")
            elif stage in self.stage_seen:
                line.append(stage + " ✓", style="green")
            else:
                line.append(stage, style="dim")
        line.append(f"   memory hits {self.memory_hits}", style="dim")
        return line

    def _bars(self) -> Any:
        """A bar per budget limit (USD, tokens, time): spent of the limit; a figure alone when unlimited."""
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        grid = Table.grid(expand=True, padding=(0, 1))
        grid.add_column(width=6, no_wrap=True)
        grid.add_column(ratio=1)
        grid.add_column(width=24, justify="right", no_wrap=True)
        for key, value, limit, fmt in self._budget_rows():
            bar = ProgressBar(total=limit, completed=min(value, limit), complete_style="green" if value < 0.8 * limit
                              else "red") if limit else ""
            grid.add_row(key, bar, fmt.format(value) + (f" of {fmt.format(limit)}" if limit else ""))
        return grid

    def _budget_rows(self) -> list[tuple[str, float, float | None, str]]:
        elapsed = self.budget.elapsed() if self.budget is not None else time.monotonic() - self.started
        if self.budget is None:
            return [("time", elapsed, None, "{:,.1f}s")]
        spent, limits = self.budget.spent, self.budget.limits
        return [("usd", float(spent.usd or 0.0), limits.get("usd"), "${:,.4f}"),
                ("tokens", float(spent.tokens), limits.get("tokens"), "{:,.0f}"),
                ("time", elapsed, limits.get("seconds"), "{:,.1f}s")]

"""Watching a run: a live rich display on a terminal, plain log lines otherwise, or nothing.

It is a tracing listener: every event of the run passes through ``__call__``. The live view
shows the plan, each branch's status and current tool call, budget bars and memory hits.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import IO, Any

from agentloom.budget import Budget
from agentloom.events import Event, MemoryHit, ModelCall, PlanMade, SpanStarted, ToolResult
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


class RunDisplay:
    """Render run events. ``mode``: "auto" (live on a TTY, plain otherwise), "live", "plain", "quiet"."""

    def __init__(self, title: str, budget: Budget | None = None, *, mode: str = "auto", stream: IO[str] | None = None) -> None:
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

    # ----------------------------------------------------------------- lifecycle
    def __enter__(self) -> RunDisplay:
        if self.mode == "live":
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.stream)
            self._live = Live(self._render(), console=console, refresh_per_second=8, transient=False)
            self._live.__enter__()
        elif self.mode == "plain":
            self._log(f"start: {self.title}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(None, None, None)
            self._live = None
        elif self.mode == "plain":
            self._log(f"done in {time.monotonic() - self.started:.2f}s; memory hits {self.memory_hits}")

    def _log(self, line: str) -> None:
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
            plan = f"{name}: width={data.get('width', '?')} depth={data.get('depth', '?')} {detail}".strip()
            self.plan_lines.append(plan)
            for sub in data.get("sub_tasks") or []:
                self.plan_lines.append(f"  - {sub}")
            line = f"plan {plan}"
        elif isinstance(event, SpanStarted) and kind[:-6] in ("branch", "team", "agent", "node", "map"):
            key = team if event.team else name
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
        elif isinstance(event, ToolResult):
            branch = self.branches.setdefault(team, _Branch(team))
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
        from rich.console import Group
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        parts: list[Any] = []
        if self.plan_lines:
            parts.append(Panel(Text("\n".join(self.plan_lines[-12:])), title="plan", expand=True))
        table = Table(expand=True, show_edge=False)
        for column in ("branch", "status", "now", "tools", "model calls", "time"):
            table.add_column(column)
        now = time.monotonic()
        for branch in list(self.branches.values())[-20:]:
            elapsed = (branch.ended or now) - branch.started
            table.add_row(branch.name, branch.status, branch.current, str(branch.tool_calls), str(branch.model_calls), f"{elapsed:.1f}s")
        parts.append(table)
        parts.append(Text(self._budget_text() + f"   memory hits: {self.memory_hits}"))
        return Panel(Group(*parts), title=self.title)

    def _budget_text(self) -> str:
        if self.budget is None:
            return f"elapsed {time.monotonic() - self.started:.1f}s"
        spent = self.budget.spent
        limits = self.budget.limits
        pieces = []
        shown = {"usd": "${:,.4f}", "tokens": "{:,.0f}", "seconds": "{:,.1f}s"}
        for key, value in (("usd", spent.usd), ("tokens", spent.tokens), ("seconds", self.budget.elapsed())):
            limit = limits.get(key)
            text = shown[key].format(value)
            if limit:
                filled = min(20, int(20 * value / limit))
                pieces.append(f"{key} [{'#' * filled}{'.' * (20 - filled)}] {text} of {shown[key].format(limit)}")
            else:
                pieces.append(f"{key} {text}")
        return "   ".join(pieces)

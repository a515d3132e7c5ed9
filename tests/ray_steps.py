"""Shared by the Ray fault test and benchmark: agent branches that each call one slow, logged
tool step, and a thread that SIGKILLs the process running a step mid-way. Graph specs refer to
these by module path (``tests.ray_steps:step``), so Ray workers import them as they are."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from agentloom import tool
from agentloom.models.function import FunctionModel
from agentloom.models.types import ModelRequest

__all__ = ["MOD", "kill_mid_step", "numbers", "read_log", "repeated_after", "step", "step_model", "step_spec", "victim"]

MOD = "tests.ray_steps"

Entry = tuple[str, int, int, float]  # ("start" | "end", item, pid, time)


def numbers(n: int) -> list[int]:
    """The items of the fan-out."""
    return list(range(n))


@tool(cache=False)
def step(item: int, log: str, seconds: float) -> str:
    """Do one slow step of a branch, logging its start and end with the process.

    Args:
        item: the branch's item
        log: the log file
        seconds: how long the step takes
    """
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"start {item} {os.getpid()} {time.time()}\n")
    time.sleep(seconds)
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"end {item} {os.getpid()} {time.time()}\n")
    return f"stepped {item}"


def _step_model(request: ModelRequest) -> Any:
    """Call ``step`` once for the branch's task ``ITEM|LOG|SECONDS|STAGGER`` (item i's step takes
    SECONDS + i × STAGGER), then answer with its result."""
    results = [m for m in request.messages if m.role == "tool"]
    if results:
        return {"text": str(results[-1].content)}
    item, log, seconds, stagger = str(request.metadata.get("question")).split("|")
    return {"tool_calls": [{"name": "step", "arguments": {
        "item": int(item), "log": log, "seconds": float(seconds) + int(item) * float(stagger)}}]}


def step_model() -> FunctionModel:
    return FunctionModel(_step_model, name="stepper")


def step_spec(name: str, *, seconds: float, stagger: float = 0.0, executor: str | None = None) -> str:
    """A graph of ``n`` agent branches (input ``n``), each running one step logged to input ``log``."""
    return "\n".join([
        "version: 1",
        f"name: {name}",
        *([f"executor: {executor}"] if executor else []),
        "inputs:",
        "  log: {type: string}",
        "  n: {type: integer}",
        "models:",
        f'  default: {{ref: "{MOD}:step_model"}}',
        "tools:",
        f'  step: "{MOD}:step"',
        "nodes:",
        f'  make: {{kind: function, fn: "{MOD}:numbers", args: {{n: "{{n}}"}}}}',
        "  fan:",
        "    kind: map",
        "    over: make",
        f'    node: {{kind: agent, task: "{{item}}|{{log}}|{seconds}|{stagger}", tools: [step], max_turns: 3, memory: false}}',
        "",
    ])


def read_log(log: Path) -> list[Entry]:
    """The steps' log: ``(start|end, item, pid, time)`` per line written whole."""
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return [(k, int(i), int(p), float(t)) for k, i, p, t in (line.split() for line in lines if line.count(" ") == 3)]


def kill_mid_step(log: Path, after_ends: int, killed: list[tuple[int, float]], stop: threading.Event) -> None:
    """Once ``after_ends`` steps have ended, SIGKILL the process of a step still running (once),
    noting its pid and the time in ``killed``; gives up when ``stop`` is set. Under load the
    step may end (or the process move on) between the look and the kill: ``victim`` says which
    item the kill hit."""
    while not stop.is_set():
        entries = read_log(log)
        if sum(k == "end" for k, *_ in entries) >= after_ends:
            ended = {(i, p) for k, i, p, _ in entries if k == "end"}
            running = [p for k, i, p, _ in entries if k == "start" and (i, p) not in ended]
            if running:
                os.kill(running[-1], signal.SIGKILL)
                killed.append((running[-1], time.time()))
                return
        time.sleep(0.005)


def victim(entries: list[Entry], pid: int, at: float) -> int:
    """The item the process ``pid`` had started last before it was killed at ``at``."""
    return max((t, i) for k, i, p, t in entries if k == "start" and p == pid and t <= at)[1]


def repeated_after(entries: list[Entry], at: float, margin: float) -> set[int]:
    """Items whose step had ended ``margin`` seconds before ``at`` and started again after it."""
    done = {i for k, i, _, t in entries if k == "end" and t <= at - margin}
    return {i for k, i, _, t in entries if k == "start" and t > at and i in done}

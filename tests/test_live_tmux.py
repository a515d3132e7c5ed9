"""The live view on a real terminal: ``loom research`` and ``loom run`` under tmux at 80 and 140
columns draw a framed view that fits, a stage line and budget bars, and the report as Markdown."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)")


def _tmux(name: str) -> list[str]:
    """``tmux`` on a server of the test's own: another process's tmux (another test run on the
    machine) cannot size its window or share its options. (Its panes may still inherit COLUMNS=80
    from the environment, which rich would believe over the pane's size: the scripts unset it.)"""
    return ["tmux", "-L", name]


def in_tmux(argv: list[str], width: int, home: Path) -> str:
    """Run ``loom ARGV`` in a detached tmux pane WIDTH columns wide; the pane's text when it ends."""
    name = f"loom-{uuid.uuid4().hex[:8]}"
    done = home / f"{name}.done"
    cmd = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "agentloom.cli", "--home", str(home), *argv])
    go = home / f"{name}.go"
    subprocess.run([*_tmux(name), "new-session", "-d", "-s", name, "-x", str(width), "-y", "60",
                    f"unset COLUMNS LINES; while [ ! -e {shlex.quote(str(go))} ]; do sleep 0.1; done; "
                    f"cd {shlex.quote(str(ROOT))} && {cmd}; touch {shlex.quote(str(done))}; sleep 60"], check=True)
    try:
        # a running server may have sized the window already: set the width, then start loom
        subprocess.run([*_tmux(name), "resize-window", "-t", name, "-x", str(width), "-y", "60"], check=True)
        go.touch()
        deadline = time.monotonic() + 120
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert done.exists(), "loom did not finish in tmux"
        return subprocess.run([*_tmux(name), "capture-pane", "-p", "-t", name, "-S", "-500"], capture_output=True,
                              text=True, check=True).stdout
    finally:
        subprocess.run([*_tmux(name), "kill-session", "-t", name], check=False)


@pytest.mark.parametrize("width", [80, 140])
def test_research_live_view_fits_and_report_is_rendered(width: int, tmp_path: Path) -> None:
    text = in_tmux(["research", "How is Marrowick supplied with water?"], width, tmp_path)
    lines = text.splitlines()
    frame = _frame(lines)
    bad = [line for line in frame if not (len(line) == width and line[0] in "╭│╰" and line[-1] in "╮│╯")]
    assert not bad, bad  # nothing wrapped
    top = next(line for line in lines if line.startswith("╭─ loom research"))
    assert top.endswith("╮") and len(top) == width
    assert any("plan ✓ → research ✓ → verify ✓ → merge ✓ → write ✓" in line for line in lines)
    assert any(line.strip("│ ").startswith("tokens ") and " of " in line for line in lines)
    assert sum(1 for line in lines if line.startswith("╭─")) == 1  # the frame is drawn once
    assert not any(line.startswith("## ") for line in lines)  # Markdown rendered, not raw
    assert any("References" in line for line in lines)


def test_loom_run_gets_the_same_view(tmp_path: Path) -> None:
    text = in_tmux(["run", "examples/pdr_reasoning.yaml", "-i", "question=How is Marrowick supplied with water?"], 80,
                   tmp_path)
    lines = text.splitlines()
    assert any(line.startswith("╭─ loom run: pdr_reasoning") for line in lines)
    assert any("draft ✓ → score ✓ → refine ✓" in line for line in lines)
    assert all(len(line) == 80 and line[-1] in "╮│╯" for line in _frame(lines))


def _frame(lines: list[str]) -> list[str]:
    """The live view's last frame: from its top border to its bottom border."""
    top = max(i for i, line in enumerate(lines) if line.startswith("╭─"))
    bottom = next(i for i in range(top, len(lines)) if lines[i].startswith("╰"))
    return lines[top : bottom + 1]


def test_ctrl_c_draws_the_last_frame_once_and_restores_the_terminal(tmp_path: Path) -> None:
    """The terminal's ``^C`` echo used to push the cursor a line down, so the last frame was drawn
    under a stray copy of its title; the view turns that echo off while it draws, and back on."""
    from tests.test_graph_resume import LOG_ENV, SPEC

    spec, log = tmp_path / "slow.yaml", tmp_path / "calls.log"
    spec.write_text(SPEC, encoding="utf-8")
    name = f"loom-{uuid.uuid4().hex[:8]}"
    done = tmp_path / "done"
    cmd = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "agentloom.cli", "--home", str(tmp_path), "run", str(spec)])
    go = tmp_path / "go"
    script = (f"unset COLUMNS LINES; while [ ! -e {shlex.quote(str(go))} ]; do sleep 0.1; done; "
              f"cd {shlex.quote(str(ROOT))} && {LOG_ENV}={shlex.quote(str(log))} {cmd}; echo EXIT=$?; "
              f"stty -a | grep -o -- '-*echoctl'; touch {shlex.quote(str(done))}; sleep 60")
    subprocess.run([*_tmux(name), "new-session", "-d", "-s", name, "-x", "80", "-y", "60", script], check=True)
    try:
        subprocess.run([*_tmux(name), "resize-window", "-t", name, "-x", "80", "-y", "60"], check=True)  # as in_tmux does
        go.touch()
        deadline = time.monotonic() + 60
        while "start item-" not in (log.read_text(encoding="utf-8") if log.exists() else ""):
            assert time.monotonic() < deadline, "the run never reached its slow tool calls"
            time.sleep(0.1)
        time.sleep(0.5)  # a few frames in
        subprocess.run([*_tmux(name), "send-keys", "-t", name, "C-c"], check=True)
        while not done.exists():
            assert time.monotonic() < deadline, "loom did not stop after Ctrl-C"
            time.sleep(0.2)
        pane = subprocess.run([*_tmux(name), "capture-pane", "-p", "-t", name, "-S", "-500"], capture_output=True,
                              text=True, check=True).stdout
    finally:
        subprocess.run([*_tmux(name), "kill-session", "-t", name], check=False)
    lines = pane.splitlines()
    assert "EXIT=130" in pane and any(line.startswith("loom: interrupted") for line in lines)
    assert sum(1 for line in lines if line.startswith("╭─ loom run")) == 1, pane  # one title, one frame
    assert all(len(line) == 80 for line in _frame(lines))
    assert "echoctl" in lines and "-echoctl" not in lines  # the terminal is as it was

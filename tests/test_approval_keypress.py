"""Answering an approval gate with a key in the live view, on a real terminal (tmux): the paused
view draws the request and y / n / e / q answer it. Every wait has a deadline, so a prompt that
never appears fails the test with the pane's text instead of hanging it."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agentloom.runstore import RunStore

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "How is Marrowick supplied with water?"
PROMPT = "y approve · n deny"
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)")


class Pane:
    """``loom ARGV`` running in a detached tmux pane; every wait has a deadline."""

    def __init__(self, name: str, done: Path) -> None:
        self.name, self.done = name, done

    def text(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name, "-S", "-500"], capture_output=True,
                              text=True, check=True, timeout=10).stdout

    def wait_for(self, needle: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if needle in text:
                return text
            if self.done.exists():
                break
            time.sleep(0.2)
        raise AssertionError(f"{needle!r} did not appear in the pane:\n{self.text()}")

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True, timeout=10)

    def exit_code(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while not self.done.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert self.done.exists(), f"loom did not finish:\n{self.text()}"
        return int(self.done.read_text().strip())


@contextmanager
def loom_in_tmux(argv: list[str], home: Path, env: dict[str, str] | None = None) -> Iterator[Pane]:
    name = f"loom-{uuid.uuid4().hex[:8]}"
    done = home / f"{name}.done"
    setting = [f"{k}={v}" for k, v in (env or {}).items()]
    cmd = " ".join(shlex.quote(a) for a in ["env", *setting, sys.executable, "-m", "agentloom.cli", "--home", str(home), *argv])
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "60",
                    f"cd {shlex.quote(str(ROOT))} && {cmd}; echo $? > {shlex.quote(str(done))}; sleep 60"],
                   check=True, timeout=10)
    try:
        yield Pane(name, done)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], check=False, timeout=10)


def only_run(home: Path) -> object:
    with RunStore(home / "runs.db") as store:
        [run] = store.list_runs()
        return store.get_run(run.id)


def test_y_approves_and_the_run_finishes_in_the_view(tmp_path: Path) -> None:
    with loom_in_tmux(["research", QUESTION, "--approve", "plan"], tmp_path) as pane:
        shown = pane.wait_for(PROMPT)
        assert "approval needed" in shown and "plan gate at 'plan'" in shown and "projected:" in shown
        assert "sub-question:" in shown
        pane.keys("y")
        assert pane.exit_code() == 0, pane.text()
        text = pane.text()
    assert "References" in text and "Approvals" in text
    assert text.count("╭─ loom research: ") == 1  # the paused frame was erased: one view, below the request
    assert text.index("approval needed") < text.index("╭─ loom research: ")
    record = only_run(tmp_path)
    assert record.status == "ok"  # type: ignore[attr-defined]
    [gate] = record.meta["approvals"]  # type: ignore[attr-defined]
    assert gate["approved"] is True and gate["by"] == "terminal"


def test_n_denies_with_a_reason(tmp_path: Path) -> None:
    with loom_in_tmux(["research", QUESTION, "--approve", "plan"], tmp_path) as pane:
        pane.wait_for(PROMPT)
        pane.keys("n")
        pane.wait_for("reason (optional")
        pane.keys("not today", "Enter")
        assert pane.exit_code() == 0, pane.text()
        text = pane.text()
    assert "Partial report" in text or "partial" in text.lower()
    record = only_run(tmp_path)
    assert record.status == "denied"  # type: ignore[attr-defined]
    assert record.meta["denied"]["reason"] == "not today"  # type: ignore[attr-defined]


def test_e_edits_the_plan_in_the_editor(tmp_path: Path) -> None:
    editor = tmp_path / "editor.py"
    editor.write_text("import sys\nopen(sys.argv[1], 'w').write('sub_tasks:\\n  - Where does Marrowick get its water?\\nwidth: 1\\n')\n")
    env = {"EDITOR": f"{sys.executable} {editor}"}
    with loom_in_tmux(["research", QUESTION, "--approve", "plan", "--width", "2"], tmp_path, env) as pane:
        pane.wait_for("e edit the plan")
        pane.keys("e")
        assert pane.exit_code() == 0, pane.text()
    record = only_run(tmp_path)
    assert record.status == "ok"  # type: ignore[attr-defined]
    [gate] = record.meta["approvals"]  # type: ignore[attr-defined]
    assert gate["edited"] is True and gate["approved"] is True
    with RunStore(tmp_path / "runs.db") as store:
        branches = [e for e in store.events(record.id, "node") if str(e["name"]).startswith("research[")]  # type: ignore[attr-defined]
    assert len(branches) == 1


def test_q_leaves_the_run_waiting(tmp_path: Path) -> None:
    with loom_in_tmux(["research", QUESTION, "--approve", "plan"], tmp_path) as pane:
        pane.wait_for(PROMPT)
        pane.keys("q")
        assert pane.exit_code() == 4, pane.text()
        assert "loom runs approve" in pane.text()
    assert only_run(tmp_path).status == "waiting"  # type: ignore[attr-defined]


def test_off_a_terminal_the_run_waits_and_exits_4(tmp_path: Path) -> None:
    """No tty (and --json): no prompt, the run is recorded waiting (exit 4), as before."""
    env = {**os.environ, "AGENTLOOM_HOME": str(tmp_path)}
    for extra in ([], ["--json"]):
        done = subprocess.run([sys.executable, "-m", "agentloom.cli", "research", QUESTION, "--approve", "plan", *extra],
                              cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        assert done.returncode == 4, done.stderr
        assert PROMPT not in done.stderr + done.stdout
    with RunStore(tmp_path / "runs.db") as store:
        assert [r.status for r in store.list_runs()] == ["waiting", "waiting"]

"""The `loom` entry point: version, help without heavy imports, one-line errors and exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agentloom.cli import COMMANDS
from tests.cliutil import run_cli


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0
    assert "loom" in out and "0.1.0" in out


def test_help_lists_every_command_without_heavy_imports() -> None:
    code = (
        "import sys, io, contextlib\n"
        "from agentloom.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in ('litellm', 'langgraph', 'openai', 'ray', 'opentelemetry') if m in sys.modules]\n"
        "print(heavy)\n"
        "print(buf.getvalue())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, _, help_text = proc.stdout.partition("\n")
    assert first == "[]"
    for name in COMMANDS:
        assert name in help_text
    assert "Exit codes" in help_text


def test_unknown_command_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["frobnicate"], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("loom: error:")


def test_ask_empty_question_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["ask", "   "], capsys)
    assert code == 2
    assert err.strip().count("\n") == 0 and "question is empty" in err


def test_ask_zero_budget_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["ask", "what?", "--budget-usd", "0"], capsys)
    assert code == 2
    assert "--budget-usd" in err and "Traceback" not in err


def test_ask_missing_corpus_is_one_line_exit_2(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli(["ask", "what?", "--corpus", str(tmp_path / "nope")], capsys)
    assert code == 2
    assert str(tmp_path / "nope") in err and err.strip().count("\n") == 0

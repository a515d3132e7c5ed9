"""Run ``loom`` in-process the way a shell would, for CLI tests."""

from __future__ import annotations

import pytest

from agentloom.cli import main


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``loom ARGV`` through the real entry point: (exit code, stdout, stderr)."""
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err

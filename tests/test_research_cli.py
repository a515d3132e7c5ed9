"""`loom research`: the offline run end to end, its JSON, budgets, resume, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cliutil import run_cli

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "What are the daily capacities of the Northpoint, Saltmarsh and Kettle Bay desalination plants?"



def test_json_is_one_object_with_cited_report(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["research", QUESTION, "--json"], capsys)
    assert code == 0
    payload = json.loads(out)  # stdout holds one JSON object and nothing else
    assert set(payload) >= {"answer", "report", "citations", "usage", "width", "depth", "run_id", "partial"}
    assert payload["partial"] is False
    assert "45,000" in payload["report"] and "28,000" in payload["report"]
    assert payload["report"].startswith("# ")
    assert "## References" in payload["report"]
    for citation in payload["citations"]:
        assert f"[{citation['n']}]" in payload["report"]
        source = (ROOT / "examples" / "corpus" / citation["path"]).read_text(encoding="utf-8").splitlines()
        span = " ".join(source[citation["line_start"] - 1 : citation["line_end"]])
        # the passage text is the cited line range of that file
        assert citation["text"].split()[0] in span
    assert payload["usage"]["llm_calls"] > 0 and payload["usage"]["tool_calls"] > 0


def test_report_is_written_and_run_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.md"
    code, _, _ = run_cli(["research", QUESTION, "--out", str(out), "--quiet"], capsys)
    assert code == 0
    text = out.read_text(encoding="utf-8")
    assert "**Usage:**" in text and "memory hits" in text
    code, listing, _ = run_cli(["runs", "list", "--json"], capsys)
    assert code == 0
    runs = json.loads(listing)
    assert runs and runs[0]["status"] == "ok"


def test_question_with_no_evidence_answers_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["research", "What colour are the gondolas of the Marrowick cable car?", "--json"], capsys)
    assert code == 0
    payload = json.loads(out)
    assert "no supporting evidence" in payload["report"].lower()
    assert payload["citations"] == []


def test_budget_exhausted_writes_partial_report_and_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "partial.md"
    code, stdout, _ = run_cli(["research", QUESTION, "--budget-tokens", "3000", "--json", "--out", str(out)], capsys)
    assert code == 3
    payload = json.loads(stdout)
    assert payload["partial"] is True
    assert out.exists() and out.read_text(encoding="utf-8").strip()
    assert payload["usage"]["tokens"] <= 3000
    # a budget-stopped run continues with a higher limit
    code, stdout, _ = run_cli(["research", "--resume", payload["run_id"], "--budget-tokens", "400000", "--json"], capsys)
    assert code == 0
    resumed = json.loads(stdout)
    assert resumed["partial"] is False and resumed["run_id"] == payload["run_id"] and resumed["resumed"] is True
    assert payload["resumed"] is False


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["research", "   "], "question is empty"),
        (["research", QUESTION, "--corpus", "/nonexistent/corpus"], "/nonexistent/corpus"),
        (["research", QUESTION, "--budget-usd", "0"], "--budget-usd"),
        (["research", QUESTION, "--budget-tokens", "0"], "--budget-tokens"),
        (["research", QUESTION, "--width", "0"], "--width"),
        (["research", "--resume", "no-such-run"], "no-such-run"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(argv, capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("loom: error:") and needle in err


def test_empty_corpus_folder_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.bin").write_bytes(b"\x00\x01")
    code, _, err = run_cli(["research", QUESTION, "--corpus", str(tmp_path)], capsys)
    assert code == 2 and "no readable files" in err and err.count("\n") == 1


def test_unknown_model_and_missing_key_are_one_line_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for model, needle in (("nosuchprovider/xyz", "nosuchprovider/xyz"), ("openai/gpt-4o-mini", "OPENAI_API_KEY")):
        proc = subprocess.run(
            [sys.executable, "-m", "agentloom.cli", "research", QUESTION, "--model", model, "--quiet"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert proc.stderr.count("\n") == 1 and needle in proc.stderr

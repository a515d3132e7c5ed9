"""``loom index``: builds and refreshes incrementally, reports progress and a summary, and
turns bad paths into one line on stderr with exit code 2."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentloom._cli.index import IndexProgress
from agentloom.tools.corpus import CorpusIndex
from tests.cliutil import run_cli


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    (root / "sub").mkdir(parents=True)
    (root / "a.md").write_text("# Ferries\n\nFerries cross the Tagus every twenty minutes.\n")
    (root / "sub" / "b.txt").write_text("Night buses run until five in the morning.\n")
    (root / "c.html").write_text("<html><body><p>Bicycles may ride on the riverside path.</p></body></html>\n")
    return root



def test_index_builds_then_refreshes_incrementally(corpus: Path, loom_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["index", str(corpus)], capsys)
    assert code == 0, err
    assert "3 files: 3 indexed, 0 unchanged, 0 removed" in out
    assert "passages in" in out
    assert "indexing: 3/3 files (100%)" in err  # plain progress lines off a terminal
    db = next((loom_home / "index").glob("kb-*.db"))
    assert str(db) in out

    (corpus / "sub" / "b.txt").unlink()
    (corpus / "d.md").write_text("Trams stop at midnight.\n")
    code, out, err = run_cli(["index", str(corpus)], capsys)
    assert code == 0, err
    assert "3 files: 1 indexed, 2 unchanged, 1 removed" in out
    hits = CorpusIndex(corpus).search("trams midnight")
    assert hits and hits[0]["path"] == "d.md"


def test_index_json_and_explicit_index_path(corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "my.db"
    code, out, err = run_cli(["index", str(corpus), "--index", str(target), "--json"], capsys)
    assert code == 0, err
    payload = json.loads(out)  # stdout holds one JSON object and nothing else
    assert payload["index_path"] == str(target) and target.exists()
    assert (payload["files"], payload["indexed"], payload["unchanged"], payload["removed"]) == (3, 3, 0, 0)
    assert payload["passages"] == 3 and payload["roots"] == [{"name": "kb", "path": str(corpus.resolve())}]
    assert err == ""  # no progress noise off a terminal in --json mode


def test_index_several_folders_and_home_flag(corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "more"
    other.mkdir()
    (other / "e.md").write_text("Elevators link the lower town and the castle.\n")
    home = tmp_path / "elsewhere"
    code, out, err = run_cli(["--home", str(home), "index", str(corpus), str(other), "--quiet"], capsys)
    assert code == 0, err
    assert err == ""
    assert "4 files: 4 indexed" in out
    assert len(list((home / "index").glob("*.db"))) == 1


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["index", "{missing}"], "does not exist"),
        (["index", "{file}"], "not a folder"),
        (["index", "{empty}"], "holds no .md, .txt or .html files"),
        (["index"], "Missing argument"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.md").write_text("x")
    places = {"missing": str(tmp_path / "missing"), "file": str(tmp_path / "file.md"), "empty": str(tmp_path / "empty")}
    code, out, err = run_cli([a.format(**places) for a in argv], capsys)
    assert code == 2
    assert out == ""
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("loom: error: ") and fragment in lines[0]
    assert "Traceback" not in err


def test_subprocess_end_to_end(corpus: Path, tmp_path: Path) -> None:
    env = {**os.environ, "AGENTLOOM_HOME": str(tmp_path / "home")}
    ok = subprocess.run(
        [sys.executable, "-m", "agentloom.cli", "index", str(corpus), "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["indexed"] == 3
    bad = subprocess.run(
        [sys.executable, "-m", "agentloom.cli", "index", str(tmp_path / "nowhere")],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("loom: error: corpus path")
    assert str(tmp_path / "nowhere") in bad.stderr and "Traceback" not in bad.stderr


def test_plain_progress_every_ten_percent() -> None:
    stream = io.StringIO()
    with IndexProgress(mode="plain", stream=stream) as progress:
        for done in range(1, 101):
            progress(done, 100, f"f{done}.md")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("indexing: 10/100 files (10%)") and lines[-1].startswith("indexing: 100/100 files (100%)")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_progress_renders_a_bar_on_a_terminal() -> None:
    stream = _Terminal()
    with IndexProgress(stream=stream) as progress:  # auto: a terminal gets the live bar
        assert progress.mode == "live"
        for done in range(1, 6):
            progress(done, 5, "folder/x.md")
    shown = stream.getvalue()
    assert "indexing" in shown and "5/5" in shown and "folder/x.md" in shown
    assert IndexProgress(stream=io.StringIO()).mode == "plain"
    quiet = io.StringIO()
    with IndexProgress(mode="quiet", stream=quiet) as progress:
        progress(1, 1, "x.md")
    assert quiet.getvalue() == ""
    with pytest.raises(ValueError):
        IndexProgress(mode="loud")

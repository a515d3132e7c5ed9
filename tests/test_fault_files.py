"""Hostile files: undecodable names, one huge repeated line, symlinks out of the corpus, specs that
are pipes, devices or huge."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentloom.tools import corpus as corpus_module
from agentloom.tools.corpus import CorpusIndex
from tests.cliutil import run_cli

GOOD = "# Harbour\n\nThe harbour of Pellmouth is 14 metres deep at the main quay.\n"


def _corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "harbour.md").write_text(GOOD, encoding="utf-8")
    return folder


def test_a_file_name_that_is_not_utf8_is_indexed_and_searchable(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = _corpus(tmp_path)
    bad = os.path.join(os.fsencode(folder), b"caf\xe9-notes.md")
    with open(bad, "wb") as fh:
        fh.write(b"# Cafe\n\nThe quay cafe opens at seven in the morning.\n")
    for argv in (["index", str(folder)],
                 ["ask", "When does the quay cafe open?", "--corpus", str(folder), "--quiet"],
                 ["research", "When does the quay cafe open?", "--corpus", str(folder), "--quiet"]):
        code, out, err = run_cli(argv, capsys)
        assert code == 0, (argv, err)
        assert "Traceback" not in err and "UnicodeEncodeError" not in err
    hits = CorpusIndex([folder]).search("quay cafe seven")
    assert any("\\xe9" in hit["path"] for hit in hits)


def test_one_long_repeated_line_costs_linear_id_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _corpus(tmp_path)
    (folder / "dump.txt").write_text("the same words again " * 40_000, encoding="utf-8")  # 840 KB, one line
    calls = {"n": 0}
    real = corpus_module.passage_id

    def counting(*args: object, **kwargs: object) -> str:
        calls["n"] += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(corpus_module, "passage_id", counting)
    index = CorpusIndex([folder])
    stats = index.refresh()
    passages = stats.passages
    assert passages > 1000
    assert calls["n"] <= 2 * passages + 10, f"{calls['n']} id hashes for {passages} passages"
    ids = [row[0] for row in index._db.conn.execute("SELECT id FROM passages")]
    assert len(ids) == len(set(ids))


def test_a_symlink_out_of_the_corpus_is_followed_only_when_asked(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    folder = _corpus(tmp_path)
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "diary.md").write_text("# Diary\n\nThe vault combination is kept under the blue lamp.\n")
    (folder / "diary.md").symlink_to(outside / "diary.md")
    (folder / "again.md").symlink_to(folder / "harbour.md")  # a link that stays inside is fine
    index_path = tmp_path / "idx.db"

    code, out, err = run_cli(["index", str(folder), "--index", str(index_path)], capsys)
    assert code == 0, err
    index = CorpusIndex([folder], index_path=index_path)
    assert not index.search("vault combination blue lamp")
    assert {h["path"].rsplit("/", 1)[-1] for h in index.search("harbour quay deep")} >= {"again.md", "harbour.md"}

    code, out, err = run_cli(["index", str(folder), "--index", str(index_path), "--follow-symlinks"], capsys)
    assert code == 0, err
    assert CorpusIndex([folder], index_path=index_path).search("vault combination blue lamp")
    # the choice is remembered by the index until it is changed
    assert CorpusIndex([folder], index_path=index_path).search("vault combination blue lamp")
    run_cli(["index", str(folder), "--index", str(index_path), "--no-follow-symlinks"], capsys)
    assert not CorpusIndex([folder], index_path=index_path).search("vault combination blue lamp")


@pytest.mark.parametrize("kind", ["fifo", "device", "huge"])
def test_a_spec_that_is_not_a_small_regular_file_is_one_clear_line(tmp_path: Path, kind: str,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    if kind == "fifo":
        spec = tmp_path / "graph.yaml"
        os.mkfifo(spec)
        expected = "not a regular file"
    elif kind == "device":
        spec = Path("/dev/zero")
        expected = "not a regular file"
    else:
        spec = tmp_path / "graph.yaml"
        spec.write_text("version: 1\n# " + "x" * (10 * 1024 * 1024) + "\n")
        expected = "at most 1,048,576 bytes"
    for command in ("validate", "run"):
        code, out, err = run_cli([command, str(spec)], capsys)
        assert code == 2, err
        lines = err.strip().splitlines()
        assert lines[0].startswith(f"{spec}:1:1: FILE") and expected in lines[0]  # the spec-problem line
        assert len(lines) <= 2 and "Traceback" not in err  # (and the usual one-line summary)

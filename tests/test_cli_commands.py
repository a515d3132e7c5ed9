"""What a new user types first: bare groups, Ctrl-C on ``loom run``, the same budget flags everywhere,
and the smaller command points (export's format, clear without a terminal, draw without mmdc)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from agentloom.memory import MemoryBank
from tests.cliutil import run_cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("argv", [[], ["runs"], ["memory"]])
def test_bare_groups_print_their_help_and_exit_0(capsys: pytest.CaptureFixture[str], loom_home: Path, argv: list[str]) -> None:
    code, out, err = run_cli(argv, capsys)
    assert code == 0 and err == ""
    assert out.startswith("Usage: loom") and "Commands:" in out
    assert len(out.splitlines()) > 5  # a proper help, not one crammed line


def test_ctrl_c_on_run_names_the_run_and_how_to_resume(capsys: pytest.CaptureFixture[str], loom_home: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from agentloom.graph.builder import Graph

    seen: dict[str, Any] = {}

    async def interrupted(self: Graph, *args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Graph, "run", interrupted)
    path = str(EXAMPLES / "pdr_reasoning.yaml")
    code, out, err = run_cli(["run", path, "-i", "question=Why?", "--model", "offline"], capsys)
    assert code == 130
    rid = seen["run_id"]
    assert rid and f"run {rid}" in err and f"loom run {path} --resume {rid}" in err


@pytest.mark.parametrize("command", ["ask", "run", "research"])
def test_budget_flags_are_the_same_everywhere_with_defaults_shown(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, _ = run_cli([command, "--help"], capsys)
    assert code == 0
    text = " ".join(out.split())
    for flag in ("--budget-usd", "--budget-tokens", "--budget-seconds", "--budget-shared"):
        assert flag in text
    assert len(re.findall(r"\(default: [^)]+\)", text)) >= 3


def test_research_help_shows_the_pipelines_own_limits(capsys: pytest.CaptureFixture[str]) -> None:
    from agentloom.research.pipeline import deep_research_graph

    spec = deep_research_graph().spec.budget
    limits = spec.limits() if spec is not None else {}
    _, out, _ = run_cli(["research", "--help"], capsys)
    text = " ".join(out.split())
    assert f"tokens (default: {limits['tokens']:,})" in text
    assert f"seconds (default: {limits['seconds']:g})" in text


def test_run_budget_tokens_and_seconds_override_the_spec(capsys: pytest.CaptureFixture[str], loom_home: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from agentloom.graph.builder import Graph

    seen: dict[str, Any] = {}

    async def capture(self: Graph, *args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Graph, "run", capture)
    run_cli(["run", str(EXAMPLES / "pdr_reasoning.yaml"), "-i", "question=Why?", "--budget-tokens", "1234",
             "--budget-seconds", "9"], capsys)
    budget = seen["budget"]
    assert budget.limits["tokens"] == 1234 and budget.limits["seconds"] == 9
    code, _, err = run_cli(["run", str(EXAMPLES / "pdr_reasoning.yaml"), "--budget-tokens", "0"], capsys)
    assert code == 2 and "--budget-tokens 0" in err


def test_memory_clear_without_a_terminal_or_yes_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    path = tmp_path / "m.db"
    MemoryBank(path).add("k", "v")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, _, err = run_cli(["memory", "clear", "--db", str(path)], capsys)
    assert code == 2 and "-y" in err and len(err.strip().splitlines()) == 1
    assert len(MemoryBank(path)) == 1


def test_draw_png_without_mmdc_still_prints_the_mermaid_text(capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    code, out, err = run_cli(["draw", str(EXAMPLES / "pdr_reasoning.yaml"), "--png", str(tmp_path / "g.png")], capsys)
    assert code == 2 and "mmdc" in err
    assert out.startswith("flowchart") or "-->" in out


def test_validate_catches_an_output_field_no_node_writes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = (EXAMPLES / "pdr_reasoning.yaml").read_text(encoding="utf-8")
    assert "answer: refine.text" in text
    bad = tmp_path / "typo.yaml"
    bad.write_text(text.replace("answer: refine.text", "answer: refine.txt"), encoding="utf-8")
    code, out, err = run_cli(["validate", str(bad)], capsys)
    assert code == 2 and out == ""
    assert re.search(r"typo\.yaml:\d+:\d+: UNKNOWN_FIELD outputs\.answer reads 'txt'.*did you mean 'text'", err)
    code, out, _ = run_cli(["validate", str(EXAMPLES / "pdr_reasoning.yaml")], capsys)
    assert code == 0 and "ok" in out


def test_graph_add_output_typos_fail_validation() -> None:
    from agentloom.errors import SpecError
    from agentloom.graph import Graph

    graph = Graph("typo").add_input("question").add_model("m", "offline")
    graph.add_node("a", kind="agent", model="m").add_output("answer", "a.txt")
    with pytest.raises(SpecError, match=r"outputs\.answer\.from reads 'txt'.*did you mean 'text'"):
        graph.validate()
    graph = Graph("nonode").add_input("question").add_model("m", "offline")
    graph.add_node("a", kind="agent", model="m").add_output("answer", "b.text")
    with pytest.raises(SpecError, match=r"outputs\.answer\.from reads 'b', which is neither an input nor a node"):
        graph.validate()


def test_runs_list_shows_the_whole_status_and_the_model(capsys: pytest.CaptureFixture[str], loom_home: Path) -> None:
    from agentloom.runstore import RunStore

    store = RunStore()
    rid = store.create_run("research", input={"question": "q?"})
    store.add_event({"run_id": rid, "span_id": "m", "parent_id": None, "kind": "model_call", "name": "openai/qwen-small",
                     "team": None, "start": 1.0, "end": 2.0, "duration": 1.0, "status": "ok", "data": {}, "error": None})
    store.add_event({"run_id": rid, "span_id": "d", "parent_id": None, "kind": "decision", "name": "width", "team": None,
                     "start": 1.0, "end": 1.0, "duration": 0.0, "status": "ok", "error": None,
                     "data": {"sub_tasks": [f"sub-question number {i}" for i in range(9)], "plan": {"a": 1, "b": [2]}}})
    store.finish_run(rid, "budget_exhausted", usage={"tokens": 5})
    other = store.create_run("ask", input="x")
    store.finish_run(other, "ok")
    store.close()
    code, out, _ = run_cli(["runs", "list"], capsys)
    header, *rows = out.splitlines()
    assert code == 0 and "MODEL" in header.split()
    row = next(r for r in rows if r.startswith(rid))
    assert "budget_exhausted" in row.split() and "openai/qwen-small" in row
    assert header.index("MODEL") == row.index("openai/qwen-small")  # columns line up with the header
    code, out, _ = run_cli(["runs", "show", rid], capsys)
    line = next(x for x in out.splitlines() if x.strip().startswith("width"))
    assert "sub_tasks=[sub-question number 0" in line and "more]" in line and "plan={a, b}" in line
    assert '{"' not in line and '["' not in line  # no JSON cut mid-way


def test_indexing_lines_only_when_something_changed(capsys: pytest.CaptureFixture[str], loom_home: Path, tmp_path: Path) -> None:
    from agentloom._cli.research import _index_with_progress

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("# A\n\nThe gate opens at dawn.\n", encoding="utf-8")
    _index_with_progress([str(corpus)], "auto")
    assert "indexing corpus: 1/1 files" in capsys.readouterr().err
    _index_with_progress([str(corpus)], "auto")
    assert capsys.readouterr().err == ""  # nothing changed: nothing to say
    (corpus / "b.md").write_text("# B\n\nThe gate closes at dusk.\n", encoding="utf-8")
    _index_with_progress([str(corpus)], "auto")
    assert "indexing corpus: 2/2 files" in capsys.readouterr().err


def test_ask_numbers_its_citations_like_research(capsys: pytest.CaptureFixture[str], loom_home: Path) -> None:
    code, out, _ = run_cli(["ask", "What powers the tram network?", "--model", "offline"], capsys)
    assert code == 0
    answer, _, sources = out.partition("\n\nSources:\n")
    assert re.search(r"\[1\]", answer) and not re.search(r"\[[a-z]_[0-9a-f]{6,}\]", answer)
    assert sources.splitlines()[0].startswith("[1] ")
    code, out, _ = run_cli(["ask", "What powers the tram network?", "--model", "offline", "--json"], capsys)
    import json

    assert code == 0 and json.loads(out)["citations"]  # --json keeps the passage ids

"""``loom run / validate / draw / schema``, tried as a new user would: bad specs get one line per
problem naming file:line:col and the fix, exit 2 and no traceback; budget stops exit 3 with
the partial output written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agentloom.cli import main
from tests.test_graph_spec import BAD, GOOD

ROOT = Path(__file__).resolve().parent.parent
PROBLEM = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<code>[A-Z_]+) (?P<message>.+)$")


def loom(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_specs_exit_2_with_one_line_per_problem(case: str, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, (line, col, code), fix = BAD[case]
    path = tmp_path / "graph.yaml"
    path.write_text(text, encoding="utf-8")
    status, out, err = loom([command, str(path)], capsys)
    assert status == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    match = PROBLEM.match(lines[0])
    assert match, lines[0]
    assert (match["file"], int(match["line"]), int(match["col"]), match["code"]) == (str(path), line, col, code)
    assert fix in lines[0]
    assert lines[1] == f"loom: error: 1 problem in {path}; nothing was run"


def test_no_traceback_from_a_real_process(tmp_path: Path, loom_home: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        GOOD.replace("    tools: [calculator]", "    tols: [calculator]") + "  extra: {kind: function, fn: 'nope_mod_q:f'}\n"
        "  extra: {kind: function, fn: 'json:dumps'}\nedges:\n  - solve -> ghost\n",
        encoding="utf-8",
    )
    env = {**os.environ, "AGENTLOOM_HOME": str(loom_home)}
    for command in ("validate", "run"):
        done = subprocess.run([sys.executable, "-m", "agentloom.cli", command, str(path)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2
        assert "Traceback" not in done.stderr and done.stdout == ""
        lines = done.stderr.strip().splitlines()
        codes = [PROBLEM.match(line)["code"] for line in lines[:-1]]  # type: ignore[index]
        assert codes == ["UNKNOWN_KEY", "UNREACHABLE", "DUPLICATE_KEY", "UNKNOWN_NODE"], done.stderr
        assert lines[-1].startswith("loom: error: 4 problems in ")


def test_validate_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(GOOD, encoding="utf-8")
    status, out, err = loom(["validate", str(path)], capsys)
    assert status == 0 and err == ""
    assert out.startswith(f"{path}: ok — graph 'demo', 1 nodes")


def test_draw_prints_mermaid_and_png_needs_a_renderer(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    status, out, _ = loom(["draw", str(ROOT / "examples" / "deep_research.yaml")], capsys)
    assert status == 0
    assert "flowchart TD" in out
    assert "n_research[[" in out and "one branch per item" in out
    assert "n_verify -. verdict fail, at most 1x .-> n_plan" in out
    monkeypatch.setenv("PATH", str(tmp_path))
    status, out, err = loom(["draw", str(ROOT / "examples" / "deep_research.yaml"), "--png", str(tmp_path / "g.png")], capsys)
    assert status == 2
    assert err.count("\n") == 1 and "mermaid-cli (mmdc)" in err


def test_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = loom(["schema"], capsys)
    assert status == 0
    schema = json.loads(out)
    assert schema["title"] == "agentloom graph spec v1"
    target = tmp_path / "graph.schema.json"
    status, _, err = loom(["schema", "--out", str(target)], capsys)
    assert status == 0 and json.loads(target.read_text()) == schema
    assert "yaml-language-server: $schema=" in err


SQUARES = """\
version: 1
name: squares
inputs:
  n: {type: integer, default: 3}
nodes:
  make: {kind: function, fn: "tests.test_graph_run:numbers", args: {n: "{n}"}}
  each:
    kind: map
    over: make
    node: {kind: function, fn: "tests.test_graph_run:square", args: {x: "{item}"}}
"""


def test_run_inputs_out_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sq.yaml"
    path.write_text(SQUARES, encoding="utf-8")
    status, out, err = loom(["run", str(path), "--input", "n=4", "--json"], capsys)
    assert status == 0
    result = json.loads(out)  # stdout holds one JSON object and nothing else
    assert result["output"] == [1, 4, 9, 16]
    assert err == ""
    target = tmp_path / "out" / "result.json"
    status, out, err = loom(["run", str(path), "--out", str(target), "-q"], capsys)
    assert status == 0 and out == ""
    assert json.loads(target.read_text()) == [1, 4, 9]
    assert "loom: done → " in err
    status, _, err = loom(["run", str(path), "--input", "n"], capsys)
    assert status == 2 and "must look like KEY=VALUE" in err
    status, _, err = loom(["run", str(path), "--budget-usd", "0"], capsys)
    assert status == 2 and "leaves nothing to spend" in err
    status, _, err = loom(["run", str(path), "--resume", "nope-123"], capsys)
    assert status == 2 and err.startswith("loom: error: run 'nope-123' has no graph checkpoint")


def test_run_budget_exhausted_exits_3_with_partial_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tight.yaml"
    path.write_text(
        """\
version: 1
name: tight
models: {fake: {ref: "tests.test_graph_run:fake_model"}}
budget: {llm_calls: 3}
tools: {fact: "tests.test_graph_run:fact"}
nodes:
  fan:
    kind: map
    items: [a, bb, ccc, dddd]
    node: {kind: agent, model: fake, tools: [fact], max_turns: 2, memory: false}
""",
        encoding="utf-8",
    )
    target = tmp_path / "partial.json"
    status, _, err = loom(["run", str(path), "--out", str(target)], capsys)
    assert status == 3
    written = json.loads(target.read_text())
    assert len(written) == 4 and any(item["budget_limited"] for item in written)
    assert "partial (budget exhausted)" in err and "--resume" in err
    status, out, _ = loom(["run", str(path), "--json"], capsys)
    assert status == 3 and json.loads(out)["partial"] is True


def boom(x: int) -> int:
    raise ValueError(f"cannot handle {x}")


def test_a_failing_node_exits_1_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "boom.yaml"
    path.write_text(
        'version: 1\nname: boom\nnodes:\n  bad: {kind: function, fn: "tests.test_graph_cli:boom", args: {x: 7}}\n', encoding="utf-8"
    )
    status, out, err = loom(["run", str(path), "-q"], capsys)
    assert status == 1 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("loom: error: node 'bad' failed: ValueError: cannot handle 7; fix it and continue with --resume ")

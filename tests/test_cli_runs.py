"""``loom runs list/show/export`` against runs recorded in the test's own run store."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agentloom.cli import main
from agentloom.runstore import RunStore

REPORT = """# Why sheep sleep standing

**Short answer:** they mostly do not [1].

## Evidence

- Sheep lie down for deep sleep [1].
- Lambs nap often [2].

## References

1. [1] docs/sheep.md:L3-L9
2. [2] https://example.org/lambs

<script>alert("x")</script>
"""


def ev(run_id: str, sid: str, parent: str | None, kind: str, name: str, s: float, e: float, t0: float,
       status: str = "ok", team: str | None = None, error: str | None = None, **data: Any) -> dict[str, Any]:
    return {"run_id": run_id, "span_id": sid, "parent_id": parent, "kind": kind, "name": name, "team": team,
            "start": t0 + s, "end": t0 + e, "duration": e - s, "status": status, "data": data, "error": error}


def make_research_run(store: RunStore, t0: float) -> str:
    rid = store.create_run("research", name="sheep", input={"question": "Why do sheep sleep standing?"})
    events = [
        ev(rid, "plan", None, "node", "plan", 0.0, 1.0, t0),
        ev(rid, "m0", "plan", "model_call", "offline", 0.1, 0.9, t0, purpose="plan", input_tokens=100, output_tokens=20, usd=0.0),
        ev(rid, "d1", "plan", "decision", "width", 0.95, 0.95, t0, reason="3 sub-questions fit the budget", width=3),
        ev(rid, "d2", "plan", "decision", "depth", 0.96, 0.96, t0, why="shallow corpus", depth=1),
        ev(rid, "ta", None, "team", "a", 1.0, 6.0, t0, team="a"),
        ev(rid, "tb", None, "team", "b", 1.0, 4.0, t0, team="b"),
        ev(rid, "a1", "ta", "tool_call", "corpus_search", 1.0, 3.0, t0, team="a"),
        ev(rid, "a2", "ta", "tool_call", "corpus_search", 1.0, 2.0, t0, status="cached", team="a"),
        ev(rid, "a3", "ta", "model_call", "offline", 3.5, 5.5, t0, team="a", purpose="act", input_tokens=300, output_tokens=50, usd=0.0),
        ev(rid, "b1", "tb", "tool_call", "read_passage", 1.0, 3.9, t0, status="error", team="b", error="no passage p_0000000000"),
        ev(rid, "w", None, "node", "write", 6.5, 8.0, t0),
        ev(rid, "wm", "w", "model_call", "offline", 6.5, 7.5, t0, purpose="write", input_tokens=500, output_tokens=200, usd=0.0),
        ev(rid, "bu", "w", "budget", "settle", 7.6, 7.6, t0, llm_calls=1),
    ]
    for e in events:
        store.add_event(e)
    store.put_artifact(rid, "report.md", REPORT, mime="text/markdown")
    usage = {"usd": 0.0, "input_tokens": 900, "output_tokens": 270, "tokens": 1170, "llm_calls": 3, "tool_calls": 2,
             "memory_hits": 1, "wall_s": 8.2}
    store.finish_run(rid, "done", output={"answer": "They mostly do not [1].", "report": REPORT}, usage=usage,
                     meta={"width": 3, "depth": 1})
    store.database.write(lambda c: c.execute("UPDATE runs SET created = ?, finished = ? WHERE id = ?", (t0, t0 + 8.2, rid)))
    return rid


@pytest.fixture
def runs_home(loom_home: Path) -> tuple[str, str]:
    store = RunStore()
    t0 = time.time() - 100
    first = store.create_run("ask", input="what is wool?")
    store.add_event(ev(first, "x1", None, "tool_call", "corpus_search", 0, 0.5, t0))
    store.finish_run(first, "failed", error="ModelHTTPError: 401 from provider")
    store.database.write(lambda c: c.execute("UPDATE runs SET created = ?, finished = ? WHERE id = ?", (t0 - 50, t0 - 49, first)))
    second = make_research_run(store, t0)
    store.close()
    return first, second


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = 0
    try:
        main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_list_empty_home_does_not_create_a_store(capsys: pytest.CaptureFixture[str], loom_home: Path) -> None:
    code, out, err = run_cli(capsys, "runs", "list")
    assert code == 0 and out.startswith("no runs recorded in") and err == ""
    assert not (loom_home / "runs.db").exists()
    code, out, _ = run_cli(capsys, "runs", "list", "--json")
    assert code == 0 and json.loads(out) == []


def test_list_newest_first_with_limit_and_json(capsys: pytest.CaptureFixture[str], runs_home: tuple[str, str]) -> None:
    first, second = runs_home
    code, out, _ = run_cli(capsys, "runs", "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["ID", "KIND", "STATUS"]
    assert lines[1].startswith(second) and lines[2].startswith(first)
    assert "research" in lines[1] and "done" in lines[1] and "8.20s" in lines[1] and "1170" in lines[1] and "sheep" in lines[1]
    assert "failed" in lines[2] and "what is wool?" in lines[2]
    code, out, _ = run_cli(capsys, "runs", "list", "--limit", "1")
    assert len(out.splitlines()) == 2 and second in out and first not in out
    code, out, _ = run_cli(capsys, "runs", "list", "--json")
    data = json.loads(out)
    assert [r["id"] for r in data] == [second, first] and data[0]["usage"]["tokens"] == 1170
    code, _, err = run_cli(capsys, "runs", "list", "--limit", "0")
    assert code == 2 and err.startswith("loom: error:")


def test_show_prints_a_readable_summary(capsys: pytest.CaptureFixture[str], runs_home: tuple[str, str]) -> None:
    _, rid = runs_home
    code, out, err = run_cli(capsys, "runs", "show", rid)
    assert code == 0 and err == ""
    assert out.startswith(f"run {rid}\n")
    assert re.search(r"kind\s+research", out) and re.search(r"name\s+sheep", out) and re.search(r"status\s+done", out)
    assert re.search(r"duration\s+8\.20s", out) and "Why do sheep sleep standing?" in out
    assert "usd $0.0000   tokens 1170 (in 900, out 270)   llm calls 3   tool calls 2   memory hits 1" in out
    assert "events (13)" in out and "model_call 3" in out and "tool_call 3" in out and "decision 2" in out
    assert "decisions (2)" in out
    assert "width (width=3): 3 sub-questions fit the budget" in out and "depth (depth=1): shallow corpus" in out
    assert "errors (1)" in out and "[b] tool_call read_passage: no passage p_0000000000" in out
    assert "output\n" in out and "# Why sheep sleep standing" in out
    assert "artifacts: report.md" in out
    assert "legend" not in out  # no timeline unless asked


def test_show_derives_usage_from_events_when_not_recorded(capsys: pytest.CaptureFixture[str], loom_home: Path) -> None:
    store = RunStore()
    t0 = time.time()
    rid = store.create_run("agent", input="q")
    store.add_event(ev(rid, "m", None, "model_call", "gpt", 0, 1, t0, input_tokens=10, output_tokens=5, usd=0.25))
    store.add_event(ev(rid, "t", None, "tool_call", "calc", 1, 2, t0))
    store.add_event(ev(rid, "t2", None, "tool_call", "calc", 2, 2, t0, status="coalesced"))
    store.close()
    code, out, _ = run_cli(capsys, "runs", "show", rid)
    assert code == 0
    assert "usd $0.2500   tokens 15 (in 10, out 5)   llm calls 1   tool calls 1   memory hits 1" in out
    assert "not finished; running" in out


def test_show_json_and_timeline(capsys: pytest.CaptureFixture[str], runs_home: tuple[str, str]) -> None:
    _, rid = runs_home
    code, out, _ = run_cli(capsys, "runs", "show", rid, "--json", "--timeline")
    data = json.loads(out)
    assert code == 0 and data["id"] == rid and data["status"] == "done"
    assert data["events"]["tool_call"] == 3 and data["artifacts"] == ["report.md"]
    assert [d["reason"] for d in data["decisions"]] == ["3 sub-questions fit the budget", "shallow corpus"]
    assert data["timeline"]["wall_s"] == pytest.approx(8.2) and data["timeline"]["max_concurrency"] == 3
    assert {r["id"] for r in data["timeline"]["rows"] if r["critical"]} == {"plan", "m0", "ta", "a1", "a3", "w", "wm"}

    code, out, _ = run_cli(capsys, "runs", "show", rid[:-2], "--timeline")  # a unique prefix is enough
    assert code == 0 and f"run {rid}" in out
    gantt = out[out.index("timeline of run"):]
    assert "legend: # critical path" in gantt
    assert "wall 8.20s, busy 9.70s in 6 calls, parallelism 1.18x avg (max 3 concurrent)" in gantt
    bars = {line.split("|")[0].strip(): line.split("|")[1] for line in gantt.splitlines() if line.count("|") == 2}
    assert "#" in bars["team a"] and "#" not in bars["team b"] and set(bars["tool read_passage"].strip()) == {"x"}


@pytest.mark.parametrize("argv", [["runs", "show", "nope-123"], ["runs", "export", "nope-123", "--html"],
                                  ["runs", "show", "nope-123", "--timeline", "--json"]])
def test_unknown_run_id_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], runs_home: tuple[str, str], argv: list[str]) -> None:
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("loom: error: no run with id 'nope-123'") and "loom runs list" in err


def test_unknown_run_id_without_any_store(capsys: pytest.CaptureFixture[str], loom_home: Path) -> None:
    code, _, err = run_cli(capsys, "runs", "show", "abc")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no run with id 'abc'" in err
    assert not (loom_home / "runs.db").exists()


def test_export_html_is_self_contained(capsys: pytest.CaptureFixture[str], runs_home: tuple[str, str], tmp_path: Path) -> None:
    _, rid = runs_home
    target = tmp_path / "out" / "run.html"
    code, out, _ = run_cli(capsys, "runs", "export", rid, "--html", "--out", str(target))
    assert code == 0 and out.startswith(f"wrote {target}")
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "<svg" in page and "<style>" in page
    assert '<h1 id="why-sheep-sleep-standing">Why sheep sleep standing</h1>' in page
    assert "<strong>Short answer:</strong>" in page and "docs/sheep.md:L3-L9" in page
    # nothing is loaded from elsewhere: no scripts, stylesheets, images, fonts or imports
    assert "<script" not in page and "&lt;script&gt;" in page
    assert not re.search(r"""\bsrc\s*=""", page)
    assert not re.search(r"""<link\b|@import|url\(""", page)
    hrefs = re.findall(r"""href\s*=\s*["']([^"']*)""", page)
    assert all(not h.startswith(("http://", "https://", "//")) or h == "https://example.org/lambs" for h in hrefs)
    assert "3 llm calls" in page and "1 memory hits" in page and "Why do sheep sleep standing?" in page


def test_export_defaults_and_stdout(capsys: pytest.CaptureFixture[str], runs_home: tuple[str, str], tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    first, rid = runs_home
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "runs", "export", rid, "--html")
    assert code == 0 and (tmp_path / f"loom-run-{rid}.html").exists()
    code, out, _ = run_cli(capsys, "runs", "export", first, "--html", "--out", "-")
    assert code == 0 and out.startswith("<!doctype html>") and "This run recorded no report." in out
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    code, out, err = run_cli(capsys, "runs", "export", rid)  # HTML is the only format: --html is optional
    assert code == 0 and (tmp_path / "elsewhere" / f"loom-run-{rid}.html").exists()


def test_home_flag_points_at_another_store(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    store = RunStore(other / "runs.db")
    rid = store.create_run("graph", name="elsewhere-run")
    store.finish_run(rid, "done")
    store.close()
    code, out, _ = run_cli(capsys, "--home", str(other), "runs", "list")
    assert code == 0 and rid in out and "elsewhere-run" in out


def test_runs_module_imports_light() -> None:
    code = (
        "import sys, agentloom._cli.runs\n"
        "heavy = [m for m in ('agentloom.runstore', 'sqlite_utils', 'litellm', 'langgraph', 'openai', 'httpx')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""

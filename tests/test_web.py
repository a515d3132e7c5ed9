"""``loom ui``'s ASGI app without a browser: runs list and filter, a finished run's detail,
citations read from inside the corpus only, the exported page, the token gate, and a run
started from the app streamed live over server-sent events."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from agentloom.cli import cli  # noqa: E402
from agentloom.research.run import research_sync  # noqa: E402
from agentloom.research.run_page import export_page  # noqa: E402
from agentloom.runstore import RunStore  # noqa: E402
from agentloom.web import UiSettings, create_app  # noqa: E402

QUESTION = "How is Marrowick supplied with water?"


@pytest.fixture()
def finished(loom_home: Path) -> str:
    """One finished offline research run in this test's home; its id."""
    with RunStore(loom_home / "runs.db") as store:
        result = research_sync(QUESTION, store=store)
    assert result.run_id
    return result.run_id


def _client(home: Path, **kw: Any) -> TestClient:
    return TestClient(create_app(UiSettings(home=home, **kw)))


def test_empty_home_lists_no_runs_and_serves_the_page(loom_home: Path) -> None:
    with _client(loom_home) as client:
        assert client.get("/api/runs").json() == []
        page = client.get("/")
        assert page.status_code == 200 and "agentloom runs" in page.text
        assert client.get("/api/runs/nope").status_code == 404
        assert client.get("/api/runs/nope/events").status_code == 404


def test_runs_list_filters_and_finished_run_detail(loom_home: Path, finished: str) -> None:
    with _client(loom_home) as client:
        rows = client.get("/api/runs").json()
        assert [r["id"] for r in rows] == [finished]
        row = rows[0]
        assert row["question"] == QUESTION and row["status"] == "ok" and row["tokens"] > 0 and row["wall_s"] > 0
        assert row["model"] == "offline"
        assert client.get("/api/runs", params={"model": "offl"}).json()[0]["id"] == finished
        assert client.get("/api/runs", params={"model": "gpt"}).json() == []
        assert client.get("/api/runs", params={"status": "error"}).json() == []
        assert client.get("/api/runs", params={"q": "marrowick"}).json()[0]["id"] == finished
        assert client.get("/api/runs", params={"q": "no such words"}).json() == []
        detail = client.get(f"/api/runs/{finished}").json()
        assert "<svg" in detail["timeline"]["svg"] and "critical path" in detail["timeline"]["summary"]
        assert 'class="cite" data-n="1"' in detail["report_html"]


def test_citation_opens_the_passage_in_context(loom_home: Path, finished: str) -> None:
    with _client(loom_home) as client:
        cited = client.get(f"/api/runs/{finished}/citations/1").json()
        marked = [text for _, text, hit in cited["lines"] if hit]
        assert len(marked) == cited["line_end"] - cited["line_start"] + 1
        assert cited["text"].splitlines()[0].strip() in "\n".join(marked)
        assert any(not hit for _, _, hit in cited["lines"])  # context around the passage
        assert client.get(f"/api/runs/{finished}/citations/99").status_code == 404


@pytest.mark.parametrize("path", ["../../../../../../etc/passwd", "/etc/passwd", "../runs.db", "link.md"])
def test_citations_never_leave_the_corpus(loom_home: Path, tmp_path: Path, path: str) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("one\ntwo\n")
    (corpus / "link.md").symlink_to("/etc/passwd")
    with RunStore(loom_home / "runs.db") as store:
        run = store.create_run("graph", name="crafted", input={"question": "q"})
        store.put_artifact(run, "citations.json", json.dumps(
            {"corpus": [str(corpus)], "citations": [{"n": 1, "id": "p_000000", "path": path, "line_start": 1, "line_end": 1, "text": "x"},
                                                    {"n": 2, "id": "p_000001", "path": "a.md", "line_start": 2, "line_end": 2, "text": "two"}]}))
    with _client(loom_home) as client:
        refused = client.get(f"/api/runs/{run}/citations/1")
        assert refused.status_code == 403 and "root:" not in refused.text
        assert client.get(f"/api/runs/{run}/citations/2").json()["lines"] == [[1, "one", False], [2, "two", True]]


def test_export_is_the_runs_export_page(loom_home: Path, finished: str) -> None:
    with _client(loom_home) as client:
        page = client.get(f"/api/runs/{finished}/export")
    with RunStore(loom_home / "runs.db") as store:
        expected = export_page(store, store.get_run(finished))
    assert page.status_code == 200 and page.text == expected and "<script" not in page.text


def test_token_is_required_when_set(loom_home: Path) -> None:
    with _client(loom_home, token="s3cret") as client:
        assert client.get("/api/runs").status_code == 401
        assert client.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/runs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        first = client.get("/", params={"token": "s3cret"})
        assert first.status_code == 200 and "loom_token=s3cret" in first.headers["set-cookie"]
        assert client.get("/api/runs").status_code == 200  # the cookie now carries it


def test_non_loopback_host_needs_a_token(loom_home: Path) -> None:
    result = CliRunner().invoke(cli, ["ui", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "--token" in result.output


def test_start_a_run_and_stream_its_events_live(loom_home: Path) -> None:
    with _client(loom_home) as client:
        assert client.post("/api/runs", content=json.dumps({"question": QUESTION}),
                           headers={"Content-Type": "text/plain"}).status_code == 415
        assert client.post("/api/runs", json={"question": " "}).status_code == 400
        run_id = client.post("/api/runs", json={"question": QUESTION, "width": "2"}).json()["id"]
        kinds, types = [], set()
        with client.stream("GET", f"/api/runs/{run_id}/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            for line in stream.iter_lines():
                if line.startswith("data: {") and "source" not in line:
                    event = json.loads(line[6:])
                    kinds.append(event["kind"])
                    types.add(event["type"])
                if line.startswith("event: end"):
                    break
        # live-only kinds (span and tool starts) arrive, not just what the store keeps
        assert {"PlanMade", "SpanStarted", "ToolCall", "ModelCall", "Verdict"} & types >= {"SpanStarted", "ToolCall", "ModelCall"}
        assert kinds[0] == "run_started" and kinds[-1] == "run_finished" and "decision" in kinds
        detail = client.get(f"/api/runs/{run_id}").json()
        assert detail["status"] == "ok" and detail["report_html"] and detail["limits"]["tokens"] == 400_000
    assert os.path.exists(loom_home / "runs.db")


def _drain(client: TestClient, run_id: str) -> list[dict[str, Any]]:
    events = []
    with client.stream("GET", f"/api/runs/{run_id}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data: {") and '"source"' not in line:
                events.append(json.loads(line[6:]))
            if line.startswith("event: end"):
                break
    return events


def test_a_gated_run_waits_and_an_edited_plan_is_approved(loom_home: Path) -> None:
    with _client(loom_home) as client:
        run_id = client.post("/api/runs", json={"question": QUESTION, "approve_plan": True}).json()["id"]
        _drain(client, run_id)
        waiting = client.get(f"/api/runs/{run_id}").json()
        assert waiting["status"] == "waiting"
        gate = waiting["approvals"][0]
        assert gate["gate"] == "plan" and "projected" in gate["describe"] and gate["plan"]["sub_tasks"]
        assert client.post(f"/api/runs/{run_id}/answer", json={"approve": True, "plan": {"width": 0}}).status_code == 400
        tasks = ["Which plants desalinate water for Marrowick?", "How much water can they produce per day?"]
        assert client.post(f"/api/runs/{run_id}/answer", json={"approve": True, "plan": {"sub_tasks": tasks, "width": 2}}).status_code == 202
        resumed = _drain(client, run_id)
        assert {e["team"] for e in resumed if e["kind"] == "model_call" and e["team"]} >= {"team-0", "team-1"}
        done = client.get(f"/api/runs/{run_id}").json()
        assert done["status"] == "ok" and "approvals" not in done and done["report_html"]
        assert client.post(f"/api/runs/{run_id}/answer", json={"approve": True}).status_code == 409

"""The run store: runs, buffered events, artifacts, secret redaction, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentloom import tracing
from agentloom.errors import RunNotFoundError, StoreError
from agentloom.runstore import RunStore, redact


def test_run_lifecycle_and_events(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    run_id = store.create_run("agent", name="t", input={"task": "x"})
    ctx = tracing.RunContext(run_id=run_id, store=store, team="team-1")
    with tracing.use(ctx), tracing.span("branch", "b1"):
        tracing.emit("tool_call", "lookup", data={"args": "{}"})
    store.finish_run(run_id, "ok", output={"answer": 42}, usage={"llm_calls": 1})
    record = store.get_run(run_id)
    assert record.status == "ok" and record.output == {"answer": 42} and record.input == {"task": "x"}
    events = store.events(run_id)
    kinds = [e["kind"] for e in events]
    assert kinds.count("tool_call") == 1 and kinds.count("branch") == 1
    tool_event = next(e for e in events if e["kind"] == "tool_call")
    span_event = next(e for e in events if e["kind"] == "branch")
    assert tool_event["parent_id"] == span_event["span_id"]
    assert tool_event["team"] == "team-1"
    assert store.get_run(run_id[:12]).id == run_id  # unique prefix works
    store.close()


def test_unknown_run_is_usage_error(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    with pytest.raises(RunNotFoundError) as info:
        store.get_run("nope")
    assert info.value.exit_code == 2 and "loom runs list" in str(info.value)


def test_secrets_never_reach_the_store(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    run_id = store.create_run("agent", input={"api_key": "sk-abcdefghijklmnop", "headers": {"Authorization": "Bearer abcdefghijkl"}})
    ctx = tracing.RunContext(run_id=run_id, store=store)
    tracing.emit("model_call", "m", data={"note": "used sk-live1234567890abcd"}, error="401 for Bearer zzzzzzzzzzzz", ctx=ctx)
    store.put_artifact(run_id, "log", "token sk-proj-0123456789abcdef")
    store.flush()
    raw = (tmp_path / "runs.db").read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("runs.db-wal"))
    for secret in (b"sk-abcdefghijklmnop", b"abcdefghijkl", b"sk-live1234567890abcd", b"zzzzzzzzzzzz", b"sk-proj-0123456789abcdef"):
        assert secret not in raw
    assert redact({"x-api-key": "k", "nested": ["Bearer abcdefgh12345"]}) == {"x-api-key": "[redacted]", "nested": ["[redacted]"]}


def test_corrupt_and_foreign_files_are_refused_not_recreated(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError) as info:
        RunStore(corrupt)
    assert str(corrupt) in str(info.value)
    assert corrupt.read_bytes().startswith(b"this is not sqlite")

    import sqlite3

    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError) as info2:
        RunStore(foreign)
    assert "not an agentloom" in str(info2.value)

"""Ctrl-C: a run interrupted with SIGINT exits 130 with one line, is recorded as interrupted
(nothing recorded is lost), and continues with --resume."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from agentloom.runstore import RunStore
from tests.test_graph_resume import ITEMS, LOG_ENV, ROOT, SPEC, _log_lines, _loom


def test_ctrl_c_records_the_run_as_interrupted_and_it_resumes(tmp_path: Path, loom_home: Path) -> None:
    spec = tmp_path / "resume.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    log = tmp_path / "calls.log"
    env = {**os.environ, "AGENTLOOM_HOME": str(loom_home), LOG_ENV: str(log), "PYTHONPATH": str(ROOT)}

    first = _loom(["run", str(spec), "--json", "-q"], env)
    deadline = time.monotonic() + 90
    while sum(line.startswith("end ") for line in _log_lines(log)) < 1:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "no branch ever finished"
        time.sleep(0.02)
    first.send_signal(signal.SIGINT)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().count("\n") == 0 and "interrupted" in err
    assert out == ""

    store = RunStore(loom_home / "runs.db")
    runs = store.list_runs()
    assert len(runs) == 1 and runs[0].status == "interrupted"
    run_id = runs[0].id
    assert store.events(run_id, "tool_call"), "the tool calls made before Ctrl-C were recorded"
    store.close()

    resumed = _loom(["run", str(spec), "--resume", run_id, "--json", "-q"], env)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert json.loads(out)["output"] == {"answers": [f"echoed ITEM-{i}" for i in range(ITEMS)]}

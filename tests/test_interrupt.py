"""Ctrl-C: a run interrupted with SIGINT exits 130 with one line, is recorded as interrupted
(nothing recorded is lost), and continues with --resume."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from agentloom.runstore import RunStore
from tests.test_graph_resume import ITEMS, _loom, start_demo_run


def test_ctrl_c_records_the_run_as_interrupted_and_it_resumes(tmp_path: Path, loom_home: Path) -> None:
    first, spec, _log, env = start_demo_run(tmp_path, loom_home, finished=1)
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

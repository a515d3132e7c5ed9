"""Every example in examples/ runs offline: each YAML graph with ``loom run FILE`` and no other
flags, each Python example as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
YAMLS = sorted(p.name for p in EXAMPLES.glob("*.yaml"))
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py"))


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    for key in ("AGENTLOOM_MODEL", "SEARXNG_URL", "AGENTLOOM_WEB_PROVIDER"):
        env.pop(key, None)
    env["AGENTLOOM_HOME"] = str(home)
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_the_graph_examples_are_there() -> None:
    assert {"deep_research.yaml", "parallel_qa.yaml", "pdr_reasoning.yaml", "evolve.yaml"} <= set(YAMLS)
    assert "build_deep_research.py" in SCRIPTS


@pytest.mark.parametrize("name", YAMLS)
def test_yaml_example_runs_offline_with_no_flags(name: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agentloom.cli", "run", str(EXAMPLES / name)],
        cwd=tmp_path, env=_env(tmp_path / ".loom"), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.strip(), "the example printed no output"
    if name == "deep_research.yaml":
        assert "## Short answer" in done.stdout and "## References" in done.stdout
        assert "45,000" in done.stdout and "28,000" in done.stdout
    elif name == "parallel_qa.yaml":
        answers = json.loads(done.stdout)["answers"]
        assert len(answers) == 3 and "73000" in answers[0]["answer"] and "17000" in answers[1]["answer"]
    elif name == "evolve.yaml":
        out = json.loads(done.stdout)
        assert out["facts"] == {"capacity_mw": 290, "chief_engineer": "Ilse Varga", "commissioned": 2016, "turbines": 22}
        assert out["score"] == 1.0 and out["stop_reason"] == "threshold"
    elif name == "pdr_reasoning.yaml":
        assert "290 MW" in done.stdout and "[p_" in done.stdout


@pytest.mark.parametrize("name", SCRIPTS)
def test_python_example_runs(name: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        cwd=tmp_path, env=_env(tmp_path / ".loom"), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    if name == "build_deep_research.py":
        assert done.stdout.startswith("same graph: 5 nodes, 6 edges")

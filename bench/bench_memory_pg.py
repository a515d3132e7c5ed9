"""The memory bank shared across processes, on SQLite (one file) and on Postgres (a throwaway
local cluster), side by side: the workload of ``bench_memory`` (8 teams, 50% overlap, 8 searches
each) split over 2 processes that share one project-scope bank; and key search on a bank of
1,000,000 entries on Postgres (``tsvector`` + GIN) beside SQLite's FTS5.

Targets (issue 14): at least 40% fewer tool calls than no memory, as on SQLite; key search p50
under 20 ms at 1,000,000 entries.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TEAMS, OVERLAP, SEED, LATENCY = 8, 0.5, 11, 0.02

#: One process: its half of the teams, on the bank the environment selects (or none).
_HALF = """
import asyncio, json, sys
from pathlib import Path
from bench.bench_memory import CALLS_PER_TEAM, TOOL_CAP, Workload, _run_teams, make_workload
from agentloom.memory import AdmitAll, MemoryBank
teams, overlap, seed, latency = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
half, bank_path, store_path = int(sys.argv[5]), sys.argv[6], sys.argv[7]
work = make_workload(teams, overlap, seed)
picked = [i for i in range(teams) if i % 2 == half]
mine = Workload(work.question, [work.team_questions[i] for i in picked], [work.expected[i] for i in picked])
bank = MemoryBank(bank_path, policy=AdmitAll(), scope="project") if bank_path != "-" else None
out = asyncio.run(_run_teams(mine, bank, latency, TOOL_CAP, Path(store_path)))
print(json.dumps({"tool_calls": out["tool_calls"], "success": out["success"], "wall_s": out["wall_s"]}))
"""


def _two_processes(case: str, env: dict[str, str], bank_path: str, root: Path) -> dict[str, Any]:
    procs = [subprocess.Popen([sys.executable, "-c", _HALF, str(TEAMS), str(OVERLAP), str(SEED), str(LATENCY), str(half),
                               bank_path, str(root / f"runs{half}.db")], stdout=subprocess.PIPE, text=True, env=env)
             for half in (0, 1)]
    outs = [json.loads(p.communicate(timeout=600)[0]) for p in procs]
    ok = sum(int(o["success"].split("/")[0]) for o in outs)
    return {"case": case, "tool_calls": sum(o["tool_calls"] for o in outs), "success": f"{ok}/{TEAMS}",
            "wall_s": round(max(o["wall_s"] for o in outs), 2)}


def _search(case: str, env: dict[str, str], n: int, root: Path) -> dict[str, Any]:
    """``bench_memory``'s key-search rows, in a process with ``env`` (so the backend is chosen there)."""
    code = ("import json, sys; from pathlib import Path; from bench.bench_memory import _search_rows; "
            f"print(json.dumps(_search_rows(Path({str(root)!r}), {n < 1_000_000!r})))")
    if n not in (50_000, 1_000_000):
        raise ValueError("n is 50,000 (quick) or 1,000,000")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=3600, check=True)
    row = json.loads(done.stdout.strip().splitlines()[-1])[0]
    return {"case": f"{case}: {row['case'].split(' (')[0]}", "build_s": row["build_s"], "ms_median": row["ms_median"],
            "ms_p95": row["ms_p95"], "found": row["success"]}


def run(quick: bool = False, *, search_entries: int = 1_000_000) -> list[dict[str, Any]]:
    """Rows for ``python -m bench memory_pg`` (``quick``: SQLite only, 50,000 entries)."""
    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="loom-mempg-")))
        base = dict(os.environ, PYTHONPATH=str(ROOT), LITELLM_LOCAL_MODEL_COST_MAP="True", AGENTLOOM_HOME=str(root / "home"))
        base.pop("AGENTLOOM_DATABASE_URL", None)
        envs = {"SQLite": base}
        if not quick:
            from tests.postgres import throwaway_postgres

            envs["Postgres"] = base | {"AGENTLOOM_DATABASE_URL": stack.enter_context(throwaway_postgres())}
        baseline = _two_processes("no memory", base, "-", root)
        rows.append(baseline | {"fewer calls": "-"})
        for name, env in envs.items():
            row = _two_processes(f"shared bank, {name}", env, str(root / "shared.db"), root)
            row["fewer calls"] = f"{100 * (1 - row['tool_calls'] / baseline['tool_calls']):.0f}%"
            rows.append(row)
        n = 50_000 if quick else search_entries
        for name, env in envs.items():
            (root / name).mkdir()
            rows.append(_search(name, env, n, root / name))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    from bench.run import format_table

    print(format_table(run(quick=args.quick)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

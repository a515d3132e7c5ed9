"""Repeated side effects after SIGKILL + ``--resume``, at ``config.max_concurrency`` 3 of 8 map items.

One ``loom run`` of the demo graph in ``tests/test_resume_durable.py`` (each branch calls a tool
that logs every execution to a file) is killed with SIGKILL at a random time, resumed with
``--resume RUN_ID``, killed again, ... ``--kills`` times in all (each kill on a fresh run), and
every resumed run is carried to the end. A *repeat* is a tool execution that starts after a
kill for an item whose tool had ended at least 0.4 s before that kill (its branch had finished).
Goal: 0 repeats in 20 kills.

    python -m bench.bench_resume [--kills 20] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import tempfile
import time
from pathlib import Path

__all__ = ["run"]


def run(kills: int = 20, seed: int = 7) -> dict[str, float]:
    from tests import test_resume_durable as demo

    rng = random.Random(seed)
    total_repeats = 0
    done_at_kill = 0
    for k in range(kills):
        tmp = Path(tempfile.mkdtemp(prefix="loom-bench-resume-"))
        home = tmp / "home"
        spec, log, env = demo.setup(tmp, home)
        first = demo.loom(["run", str(spec), "--json", "-q"], env)
        killed = demo.kill_at(first, log, ends=rng.randint(1, demo.ITEMS - 2), extra=rng.uniform(0.0, 0.6))
        if first.returncode != -signal.SIGKILL:
            continue
        run_id = demo.run_id_of(home)
        done = len({i for kind, i, at in demo.log_entries(log) if kind == "end" and at <= killed - demo.SETTLE})
        done_at_kill += done
        resumed = demo.loom(["run", str(spec), "--resume", run_id, "--json", "-q"], env)
        out, err = resumed.communicate(timeout=180)
        ok = resumed.returncode == 0 and json.loads(out)["output"]["answers"] == [f"echoed ITEM-{i}" for i in range(demo.ITEMS)]
        found = demo.repeats(log, [killed])
        total_repeats += len(found)
        print(f"kill {k + 1:2d}: finished before kill {done}, repeats {len(found)}, resumed ok {ok}"
              + ("" if ok else f" ({err.strip()[-200:]})"), flush=True)
    return {"kills": kills, "repeats": total_repeats, "finished_before_kills": done_at_kill}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started = time.monotonic()
    figures = run(args.kills, args.seed)
    print(f"{figures['kills']} kills at concurrency 3 of 8 items: {figures['repeats']} repeated executions "
          f"of finished branches ({figures['finished_before_kills']} branches had finished before their kill); "
          f"{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

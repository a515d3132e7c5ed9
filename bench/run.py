"""Run the benchmarks and print one table each: ``python -m bench [--quick] [NAME ...]``.

Every benchmark module is ``bench/bench_<name>.py`` with ``run(quick: bool) -> list[dict]``;
each row compares a figure with its peer measured side by side in the same process.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path
from typing import Any

import bench


def discover() -> list[str]:
    """Names of the benchmark modules, e.g. ``coldstart`` for ``bench/bench_coldstart.py``."""
    return sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))


def format_table(rows: list[dict[str, Any]]) -> str:
    """Rows as a plain aligned text table (columns in first-seen order)."""
    if not rows:
        return "(no rows)"
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return "" if value is None else str(value)

    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI (seconds, not minutes)")
    parser.add_argument("--json", type=Path, default=None, help="also write all rows to this JSON file")
    args = parser.parse_args(argv)
    names = args.names or discover()
    unknown = sorted(set(names) - set(discover()))
    if unknown:
        print(f"bench: unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(discover())}", file=sys.stderr)
        return 2
    results: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        print(f"\n== {name} ({'quick' if args.quick else 'full'})", flush=True)
        start = time.perf_counter()
        rows = module.run(quick=args.quick)
        results[name] = rows
        print(format_table(rows))
        print(f"({time.perf_counter() - start:.1f}s)", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Fail unless a JUnit report shows at least one test run and none skipped (a skip is not a pass)."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET


def main(report: str, label: str) -> int:
    root = ET.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = sum(int(s.get("tests", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    if tests == 0 or skipped:
        print(f"{label}: {tests} tests, {skipped} skipped; real-component tests must run, not skip", file=sys.stderr)
        return 1
    print(f"{label}: {tests} tests ran, none skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "tests"))

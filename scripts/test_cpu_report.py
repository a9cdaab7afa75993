"""Where the test suite's time goes: sum the per-test lines ``OMNIEMBED_TEST_CPU=FILE`` wrote, per file.

    OMNIEMBED_TEST_CPU=/tmp/cpu.jsonl make test
    .venv/bin/python scripts/test_cpu_report.py /tmp/cpu.jsonl [--tests 20]

Prints each test file's wall and CPU seconds (CPU = the pytest process and its reaped children, so
servers and CLI runs count; Ray's daemons, which are not children, do not), slowest first, and the
slowest single tests.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("--tests", type=int, default=20, help="how many of the slowest single tests to list")
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.file.read_text().splitlines() if line.strip()]
    files: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for r in rows:
        f = files[r["test"].split("::")[0]]
        f[0] += r["wall"]
        f[1] += r["cpu"]
        f[2] += 1
    wall, cpu = sum(r["wall"] for r in rows), sum(r["cpu"] for r in rows)
    print(f"{len(rows)} tests: {wall:.0f} s wall summed over tests, {cpu:.0f} s CPU")
    print(f"{'file':<40} {'tests':>5} {'wall s':>8} {'cpu s':>8}")
    for name, (w, c, n) in sorted(files.items(), key=lambda kv: -kv[1][0]):
        print(f"{name:<40} {n:>5} {w:>8.1f} {c:>8.1f}")
    print(f"\nslowest {args.tests} tests (wall, cpu):")
    for r in sorted(rows, key=lambda r: -r["wall"])[: args.tests]:
        print(f"{r['wall']:>7.1f} {r['cpu']:>7.1f}  {r['test']}")


if __name__ == "__main__":
    main()

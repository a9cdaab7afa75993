"""Run every benchmark: ``.venv/bin/python -m bench [--quick]`` (or ``make bench``).

Each ``bench/bench_*.py`` runs in its own process (``--quick`` goes only to those that have a quick mode) (so peak-memory figures stay separate) and prints
ratios against a baseline measured in the same run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0],
                                 epilog="Other arguments go to every benchmark as they are.")
    ap.add_argument("--quick", action="store_true", help="a short run of each benchmark that has a quick mode")
    ap.parse_known_args(argv)  # --help answers here; everything else goes on to the benchmarks
    extra = list(sys.argv[1:] if argv is None else argv)
    failed = []
    for mod in sorted(Path(__file__).parent.glob("bench_*.py")):
        name = f"bench.{mod.stem}"
        args = extra
        if "--quick" in extra and '"--quick"' not in mod.read_text():  # it has no quick mode: run it whole
            args = [a for a in extra if a != "--quick"]
        print(f"\n=== {name} ===", flush=True)
        if subprocess.run([sys.executable, "-m", name, *args]).returncode:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Start-up: how long the CLI takes to answer, and ``omniembed search`` against ``omniembed embed``.

    .venv/bin/python -m bench.bench_startup [--rounds 5] [--baseline-python OTHER/.venv/bin/python]

Each measurement is a fresh process (the OS file cache is warm after the first round, as it is for a
user who runs the command twice). Commands, in interleaved rounds (the order rotates every round, so a
drifting machine load hits every command alike):

* ``embed --help`` and ``search --help``;
* ``embed "q"``: one query vector (the model loads, one encoder call);
* ``search "q" --store S`` on a small store (the bundled notes, 3 text files) built by the benchmark;
* ``import lancedb`` plainly and through ``omniembed.store._lancedb_import.import_lancedb`` (which defers
  LanceDB's unused REST client), and the native binding alone (``store/_lance_native.py``: what ``search``
  loads now), each in a bare ``python -c``.

Time to first result = from process start until the first byte of its standard output (the first hit,
the vector's JSON, the help text); the process's exit comes a few ms later. Printed: median and min per
command, and the ratio search / embed per round (median over rounds) — the issue's target is ≤ 1.5×.
``--baseline-python`` also times the same CLI commands of another checkout (e.g. main before this
change) in the same rounds, for a before/after in one run. Load average is printed at start and end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUERY = "what did the retrospective say about deployments?"


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def first_output(cmd: list[str], env: dict) -> tuple[float, float]:
    """(seconds to the first byte on stdout, seconds to exit) of ``cmd``; raises if it fails."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    first = proc.stdout.read(1)
    t_first = time.perf_counter() - t0
    out, err = proc.communicate()
    t_exit = time.perf_counter() - t0
    if proc.returncode != 0 or not first:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err.decode(errors='replace')[-800:]}")
    return t_first, t_exit


def build_store(python: str, folder: Path, store: Path, env: dict) -> None:
    subprocess.run([python, "-m", "omniembed", "index", str(folder), "--store", str(store), "--quiet"],
                   check=True, env=env, stdout=subprocess.DEVNULL)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="2 rounds")
    ap.add_argument("--baseline-python", help="a python of another checkout's venv, timed in the same rounds")
    args = ap.parse_args()
    rounds = 2 if args.quick else args.rounds
    py = sys.executable
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
    env.pop("OMNIEMBED_STORE", None)
    print(f"load average at start: {_load()}", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        folder = Path(tmp) / "notes"
        folder.mkdir()
        for p in sorted((ROOT / "samples" / "notes").iterdir()) + [ROOT / "samples" / "README.md"]:
            if p.is_file():
                shutil.copy(p, folder / p.name)
        store = Path(tmp) / "store"
        build_store(py, folder, store, env)
        pythons = {"": py}
        if args.baseline_python:
            base_store = Path(tmp) / "store-baseline"
            build_store(args.baseline_python, folder, base_store, env)
            pythons["base "] = args.baseline_python
        cmds: dict[str, list[str]] = {}
        for tag, exe in pythons.items():
            s = str(store if not tag else base_store)
            cmds[f"{tag}embed --help"] = [exe, "-m", "omniembed", "embed", "--help"]
            cmds[f"{tag}search --help"] = [exe, "-m", "omniembed", "search", "--help"]
            cmds[f"{tag}embed q"] = [exe, "-m", "omniembed", "embed", QUERY]
            cmds[f"{tag}search q"] = [exe, "-m", "omniembed", "search", QUERY, "--store", s, "-k", "3"]
        cmds["import lancedb (plain)"] = [py, "-c", "import lancedb; print(1)"]
        cmds["import lancedb (omniembed)"] = [py, "-c", "from omniembed.store._lancedb_import import import_lancedb; "
                                              "import_lancedb(); print(1)"]
        cmds["lancedb native binding"] = [py, "-c", "from omniembed.store._lance_native import native_module; "
                                          "assert native_module() is not None; print(1)"]
        names = list(cmds)
        for name in names:  # warm the file cache and bytecode once, untimed
            first_output(cmds[name], env)
        first: dict[str, list[float]] = {n: [] for n in names}
        done: dict[str, list[float]] = {n: [] for n in names}
        for r in range(rounds):
            order = names[r % len(names):] + names[: r % len(names)]
            for name in order:
                a, b = first_output(cmds[name], env)
                first[name].append(a)
                done[name].append(b)
            print(f"round {r + 1}/{rounds} done, load {_load()}", flush=True)

    print(f"\n{'command':<28} {'first output median':>20} {'min':>7} {'exit median':>12}")
    for name in names:
        print(f"{name:<28} {statistics.median(first[name]):>19.2f}s {min(first[name]):>6.2f}s "
              f"{statistics.median(done[name]):>11.2f}s")
    for tag in pythons:
        ratios = [s / e for s, e in zip(first[f"{tag}search q"], first[f"{tag}embed q"])]
        label = "baseline" if tag else "this checkout"
        print(f"{label}: search/embed time to first result, per round: "
              f"{', '.join(f'{x:.2f}' for x in ratios)} → median {statistics.median(ratios):.2f}x (target ≤ 1.5x)")
    if args.baseline_python:
        for what in ("embed --help", "search --help", "embed q", "search q"):
            print(f"{what}: this checkout / baseline = "
                  f"{statistics.median(first[what]) / statistics.median(first['base ' + what]):.2f}x")
    lp, lo = statistics.median(first["import lancedb (plain)"]), statistics.median(first["import lancedb (omniembed)"])
    print(f"import lancedb: plain {lp:.2f}s, without the REST client {lo:.2f}s ({lp / lo:.2f}x faster)")
    ln = statistics.median(first["lancedb native binding"])
    print(f"LanceDB's native binding alone (what search loads): {ln:.2f}s ({lp / ln:.1f}x faster than import lancedb)")
    print(f"load average at end: {_load()}")


if __name__ == "__main__":
    main()

"""Indexing throughput on Ray with 1 vs 2 workers, against the single-machine indexer in the same run.

    .venv/bin/python -m bench.bench_ray [--profile lite] [--folder DIR] [--copies N] [--all-types]

One command: it indexes the same folder (default: the text, Markdown and PDF files of samples/ and the
dev set's D4 folder, copied ``--copies`` times under distinct names so there is enough work) three times
into fresh LanceDB stores:

1. the single-machine :class:`~omniembed.indexer.Indexer` (the baseline; model loaded before the clock);
2. :class:`~omniembed.distributed.RayIndexer` with 1 actor;
3. the same with 2 actors,

on a local Ray cluster the benchmark starts itself (tests/ray_cluster.py) — a head node and a second node
process on 127.0.0.1, ``--num-cpus 1`` each, so two actors land on two nodes — and stops (``ray stop --force``) at the end.
Each figure is printed with the load average read right after it (the machine is shared). Throughput is
given for the whole run and for the embedding phase alone (from "actors ready" to the last write: the
actors' model loads are a fixed cost per run that a long run amortises). Ray sets ``OMP_NUM_THREADS`` to
an actor's CPUs, so each lite actor encodes on one thread; the baseline runs on one thread too
(``--baseline-threads 0``: OpenMP's default, every core — which collapses on a busy shared machine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
D4 = ROOT.parent / "shared" / "eval-dev" / "tasks" / "d4-folder" / "files"
TEXTUAL = {".txt", ".md", ".pdf"}


def _load() -> str:
    return "load average %.2f, %.2f, %.2f" % os.getloadavg()


def _corpus(dst: Path, folders: list[Path], copies: int, all_types: bool) -> int:
    n = 0
    for c in range(copies):
        for f in folders:
            for p in sorted(f.rglob("*")):
                if p.is_file() and (all_types or p.suffix.lower() in TEXTUAL):
                    out = dst / f"copy{c}" / f.name / p.relative_to(f)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    data = p.read_bytes()
                    if c and p.suffix.lower() in (".txt", ".md"):  # a distinct text per copy (no cache effects)
                        data += f"\n\nCopy {c}.".encode()
                    out.write_bytes(data)
                    n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="lite")
    ap.add_argument("--folder", type=Path, action="append", help="folder(s) to index (repeatable)")
    ap.add_argument("--copies", type=int, default=2, help="copies of the folder(s), under distinct names")
    ap.add_argument("--all-types", action="store_true", help="also images, audio and video (much slower)")
    ap.add_argument("--address", help="use this running Ray cluster instead of starting one")
    ap.add_argument("--quick", action="store_true", help="one copy (for `python -m bench --quick`)")
    ap.add_argument("--baseline-threads", type=int, default=1,
                    help="OpenMP threads of the single-machine baseline (default 1, as one Ray actor: on a busy "
                    "2-core machine two OpenMP threads spin-collapse, 301 s vs 88 s on 36 files at load 11)")
    args = ap.parse_args()
    if args.baseline_threads:  # read when the e5 library loads, i.e. before any omniembed model is built
        os.environ["OMP_NUM_THREADS"] = str(args.baseline_threads)
    folders = args.folder or [p for p in (ROOT / "samples", D4) if p.is_dir()]
    copies = 1 if args.quick else args.copies

    sys.path.insert(0, str(ROOT / "tests"))
    import ray_cluster  # the same loopback two-node cluster as tests/test_ray_index.py

    os.environ.update(ray_cluster.env())  # this process is a Ray driver: loopback addresses
    from omniembed import Embedder
    from omniembed.distributed import RayIndexer
    from omniembed.indexer import Indexer
    from omniembed.store import open_store

    rows = []
    writes = []  # the driver's store-write seconds per Ray run
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "corpus"
        n = _corpus(work, folders, copies, args.all_types)
        print(f"corpus: {n} files ({'all types' if args.all_types else 'text, Markdown, PDF'}) from "
              f"{', '.join(str(f) for f in folders)} x{copies}; profile {args.profile}", flush=True)

        emb = Embedder(args.profile)
        emb.embed("warm up")  # the model loads outside the clock, as the actors' embedding phase does
        store = open_store(str(Path(tmp) / "s0"))
        t0 = time.perf_counter()
        rep = Indexer(store, emb).run(work, progress=False)
        dt = time.perf_counter() - t0
        store.close()
        rows.append((f"single machine, {args.baseline_threads or 'all'} thr", rep.indexed, dt, dt, _load()))
        print(f"  {rows[-1]}", flush=True)

        started = args.address is None
        address = args.address or ray_cluster.start(object_store_mb=200)
        try:
            for workers in (1, 2):
                store = open_store(str(Path(tmp) / f"s{workers}"))
                ix = RayIndexer(store, args.profile, address=address, workers=workers)
                ready = {}
                ix.on_pool = lambda pool: ready.setdefault("t", time.perf_counter())
                t0 = time.perf_counter()
                rep = ix.run(work, progress=False)
                t1 = time.perf_counter()
                store.close()
                rows.append((f"Ray, {workers} worker{'s' if workers > 1 else ''}", rep.indexed, t1 - t0,
                             t1 - ready["t"], _load()))  # fmt: skip
                writes.append(ix.write_seconds)
                print(f"  {rows[-1]}", flush=True)
        finally:
            import ray

            ray.shutdown()
            if started:
                ray_cluster.stop()

    base = rows[0][1] / rows[0][3]
    print(f"\n{'run':<26} {'files':>5} {'run s':>7} {'embed s':>8} {'files/min':>10} {'vs base':>8}  load")
    for name, files, whole, embed, load in rows:
        rate = files / embed
        print(f"{name:<26} {files:>5} {whole:>7.1f} {embed:>8.1f} {rate * 60:>10.1f} {rate / base:>7.2f}x  {load}")
    r1, r2 = rows[1][1] / rows[1][3], rows[2][1] / rows[2][3]
    print(f"\n2 workers / 1 worker (embedding phase): {r2 / r1:.2f}x; whole runs: "
          f"{(rows[2][1] / rows[2][2]) / (rows[1][1] / rows[1][2]):.2f}x")
    for (name, files, *_), w in zip(rows[1:], writes):
        print(f"{name}: the driver spent {w:.2f} s writing the store ({w / max(files, 1) * 1000:.0f} ms per file: "
              f"a ceiling of {files / max(w, 1e-9) * 60:.0f} files/min however many workers embed)")


if __name__ == "__main__":
    main()

"""Indexing throughput per modality (files/min, MB/min), and the indexer's overhead over the library.

    .venv/bin/python -m bench.bench_index [--folder DIR]

Indexes a folder (default: the bundled samples/ plus the dev set's D4 mixed folder, 44 files of 7 types)
into a fresh LanceDB store, then embeds the same files with ``Embedder.embed_detailed`` directly, in the
same run: the ratio is what the store, hashing and bookkeeping add.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
D4 = ROOT.parent / "shared" / "eval-dev" / "tasks" / "d4-folder" / "files"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", type=Path, action="append", help="folder(s) to index (repeatable)")
    ap.add_argument("--quick", action="store_true", help="accepted for `python -m bench --quick`; same run")
    args = ap.parse_args()
    folders = args.folder or [p for p in (ROOT / "samples", D4) if p.is_dir()]

    from omniembed import Embedder
    from omniembed.indexer import Indexer, walk
    from omniembed.store import open_store

    emb = Embedder()
    emb.embed("warm up")  # load the text encoder outside the timings
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "corpus"
        for f in folders:
            shutil.copytree(f, work / f.name)
        store = open_store(str(Path(tmp) / "store"))
        t0 = time.perf_counter()
        report = Indexer(store, emb).run(work, progress=False)
        t_index = time.perf_counter() - t0
        files = [p for p, indexable in walk(work) if indexable]
        t0 = time.perf_counter()
        ok = 0
        for p in files:
            try:
                emb.embed_detailed(p)
                ok += 1
            except Exception:
                pass
        t_lib = time.perf_counter() - t0
        store.close()

    print(f"indexed {report.indexed} files ({len(report.failed)} failed) from {', '.join(str(f) for f in folders)}")
    print(f"{'modality':<8} {'files':>5} {'MB':>7} {'files/min':>10} {'MB/min':>8}")
    for mod, d in sorted(report.by_modality().items()):
        mins = max(d["seconds"], 1e-9) / 60
        print(f"{mod:<8} {int(d['files']):>5} {d['bytes'] / 1e6:>7.2f} {d['files'] / mins:>10.1f} {d['bytes'] / 1e6 / mins:>8.2f}")
    print(f"whole run: {report.indexed / (t_index / 60):.1f} files/min; library alone on the same {ok} files: "
          f"{t_lib:.1f}s vs indexer {t_index:.1f}s → indexer/library time ratio {t_index / t_lib:.2f}x")


if __name__ == "__main__":
    main()

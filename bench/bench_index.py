"""The indexer's overhead over the library on the same files, and indexing throughput per modality.

    .venv/bin/python -m bench.bench_index [--set text|mixed|both] [--rounds 3] [--fine-reference] [--no-fine]

Two folders (``--set``): **text** — 19 text and Markdown files, 0.2–10 KB (this repo's docs/integrations,
docs/cli.md and docs/container.md, the samples' notes, the dev set's D4 notes); **mixed** — the dev set's
D4 folder (31 files: PDFs, page images, short videos, voice notes, notes). ``--folder DIR`` indexes
your own folder instead.

Per folder, interleaved rounds (the order alternates, so a drifting machine load hits both alike):

* ``omniembed index``: :meth:`Indexer.run` into a fresh LanceDB store — hashing, embedding with the
  fine-grained windows search uses, the store writes and the final indexes (``optimize``);
* the library: ``Embedder.embed(files)`` on the same files, one call (what a user of the library runs).

Models are loaded and LanceDB imported before the first round (one file of each type is indexed
untimed). Printed: per round both times and the ratio indexer / library, the median ratio (the issue's
target is ≤ 1.2×), the indexer's per-modality throughput, and with ``--fine-reference`` also
``Embedder.embed_detailed(files, fine=True)``, the same encoder work as the indexer without the store, and
with ``--no-fine`` also ``omniembed index --no-fine`` (pieces only) against the library.
Load average is printed at start and end. Time: on 2 quiet cores the text folder takes ~95 s a round
(2026-12-01); the mixed folder several minutes a round (OCR, speech) — to stay inside one 10-minute
quiet window, run the sets separately (``--set text``, ``--set mixed --rounds 1``).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
D4 = ROOT.parent / "shared" / "eval-dev" / "tasks" / "d4-folder" / "files"


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def text_files() -> list[Path]:
    files = sorted((ROOT / "docs" / "integrations").glob("*.md"))
    files += [ROOT / "docs" / "cli.md", ROOT / "docs" / "container.md", ROOT / "samples" / "README.md"]
    files += sorted((ROOT / "samples" / "notes").iterdir())
    files += sorted(D4.glob("notes-*")) if D4.is_dir() else []
    return [p for p in files if p.is_file()]


def copy_folder(files: list[Path], dest: Path) -> Path:
    dest.mkdir(parents=True)
    for i, p in enumerate(files):
        shutil.copy(p, dest / f"{i:02d}-{p.name}")  # several README.md: keep every file, in this order
    return dest


def measure(name: str, folder: Path, rounds: int, fine_reference: bool, emb, tmp: Path,
            no_fine: bool = False) -> float:
    from omniembed.indexer import Indexer, walk
    from omniembed.store import open_store

    files = [f.path for f in walk(folder) if f.modality is not None]
    mb = sum(p.stat().st_size for p in files) / 1e6
    # warm up: one file of each type through the indexer (loads OCR, Whisper…, imports LanceDB)
    warm = tmp / f"{name}-warm"
    seen: dict[str, Path] = {}
    for p in files:
        seen.setdefault(p.suffix.lower(), p)
    copy_folder(list(seen.values()), warm)
    st = open_store(str(tmp / f"{name}-warm-store"))
    Indexer(st, emb).run(warm, progress=False)
    st.close()

    t_index, t_lib, t_fine, t_nofine, ratios = [], [], [], [], []
    report = None
    for r in range(rounds):
        def run_index(fine: bool = True) -> float:
            nonlocal report
            store = open_store(str(tmp / f"{name}-store-{r}{'' if fine else '-nofine'}"))
            t0 = time.perf_counter()
            out = Indexer(store, emb, fine=fine).run(folder, progress=False)
            if fine:
                report = out
            dt = time.perf_counter() - t0
            store.close()
            return dt

        def run_lib() -> float:
            t0 = time.perf_counter()
            emb.embed(files)
            return time.perf_counter() - t0

        if r % 2 == 0:
            ti, tl = run_index(), run_lib()
            if no_fine:
                t_nofine.append(run_index(fine=False))
        else:
            if no_fine:
                t_nofine.append(run_index(fine=False))
            tl, ti = run_lib(), run_index()
        t_index.append(ti)
        t_lib.append(tl)
        ratios.append(ti / tl)
        if fine_reference:
            t0 = time.perf_counter()
            emb.embed_detailed(files, fine=True)
            t_fine.append(time.perf_counter() - t0)
        print(f"  {name} round {r + 1}: index {ti:.2f}s, Embedder.embed {tl:.2f}s → {ti / tl:.2f}x"
              + (f"; embed_detailed(fine=True) {t_fine[-1]:.2f}s" if fine_reference else "")
              + (f"; index --no-fine {t_nofine[-1]:.2f}s → {t_nofine[-1] / tl:.2f}x" if no_fine else "")
              + f" (load {_load()})", flush=True)
    assert report is not None
    print(f"{name}: {len(files)} files, {mb:.2f} MB, {report.indexed} indexed, {len(report.failed)} failed")
    print(f"{'  modality':<10} {'files':>5} {'MB':>7} {'files/min':>10} {'MB/min':>8}")
    for mod, d in sorted(report.by_modality().items()):
        mins = max(d["seconds"], 1e-9) / 60
        print(f"  {mod:<8} {int(d['files']):>5} {d['bytes'] / 1e6:>7.2f} {d['files'] / mins:>10.1f} "
              f"{d['bytes'] / 1e6 / mins:>8.2f}")
    med = statistics.median(ratios)
    print(f"{name}: index median {statistics.median(t_index):.2f}s, Embedder.embed median {statistics.median(t_lib):.2f}s"
          f" → indexer / library {med:.2f}x (per round {', '.join(f'{x:.2f}' for x in ratios)}; target ≤ 1.2x)")
    if fine_reference:
        print(f"{name}: embed_detailed(fine=True) median {statistics.median(t_fine):.2f}s "
              f"({statistics.median(t_fine) / statistics.median(t_lib):.2f}x Embedder.embed): the encoder work "
              "of the fine windows, without the store")
        like = [ti / tf for ti, tf in zip(t_index, t_fine)]
        print(f"{name}: index / embed_detailed(fine=True), the same encoder work: per round "
              f"{', '.join(f'{x:.2f}' for x in like)} → median {statistics.median(like):.2f}x (the indexer's own cost)")
    if no_fine:
        nf = [tn / tl for tn, tl in zip(t_nofine, t_lib)]
        print(f"{name}: index --no-fine / library: per round {', '.join(f'{x:.2f}' for x in nf)} → median "
              f"{statistics.median(nf):.2f}x (target ≤ 1.2x)")
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", choices=["text", "mixed", "both"], default="both")
    ap.add_argument("--folder", type=Path, action="append", help="index these folder(s) instead (repeatable)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fine-reference", action="store_true")
    ap.add_argument("--no-fine", action="store_true",
                    help="also time `omniembed index --no-fine` (pieces only, no sentence records) in each round")
    ap.add_argument("--quick", action="store_true", help="text files only, 2 rounds")
    args = ap.parse_args()
    if args.quick:
        args.set, args.rounds = "text", 2

    from omniembed import Embedder

    print(f"load average at start: {_load()}", flush=True)
    emb = Embedder()
    emb.embed("warm up")
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        sets: list[tuple[str, Path]] = []
        if args.folder:
            for i, f in enumerate(args.folder):
                dest = tmp / f"folder-{i}"
                shutil.copytree(f, dest)
                sets.append((f.name, dest))
        else:
            if args.set in ("text", "both"):
                sets.append(("text", copy_folder(text_files(), tmp / "text")))
            if args.set in ("mixed", "both") and D4.is_dir():
                sets.append(("mixed", copy_folder(sorted(D4.iterdir()), tmp / "mixed")))
        for name, folder in sets:
            measure(name, folder, args.rounds, args.fine_reference, emb, tmp, args.no_fine)
    print(f"load average at end: {_load()}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""How much cross-lingual R@1 each output size keeps: plain truncation of raw e5 vs the lite space.

    .venv/bin/python scripts/eval_matryoshka.py [--eval-dir ../shared/eval-dev] [--compare old_rotation.npz]

Reads the D1 tasks of the dev evaluation set (100 English queries vs 100 translations per language),
embeds every text once (cached under .omniembed/rotation/), then scores each size both ways, so both
columns come from the same vectors. ``--compare`` adds a column for another rotation file (e.g. the
previous ``lite_rotation.npz`` from git) projected exactly as the space projects.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

sys.path.insert(0, str(ROOT))

from bench.matryoshka_holdout import CACHE, Vectors  # noqa: E402
from omniembed.space import Space, get_profile, normalize  # noqa: E402

SIZES = (128, 192, 256, 384)


def load(task_dir: Path):
    q = [json.loads(line) for line in (task_dir / "queries.jsonl").read_text(encoding="utf-8").splitlines()]
    c = [json.loads(line) for line in (task_dir / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    return q, c


def r_at_1(qv: np.ndarray, cv: np.ndarray, queries, corpus) -> float:
    ids = [c["id"] for c in corpus]
    best = (qv @ cv.T).argmax(1)
    return float(np.mean([ids[b] in q["relevant"] for b, q in zip(best, queries)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eval-dir", type=Path, default=ROOT.parent / "shared" / "eval-dev")
    ap.add_argument("--compare", type=Path, help="another rotation file (mean, rotation) to score beside the shipped one")
    args = ap.parse_args()
    vecs = Vectors(CACHE)
    space = Space(get_profile("lite"))
    other = None
    if args.compare:
        z = np.load(args.compare)
        other = (z["mean"].astype(np.float32), z["rotation"].astype(np.float32))

    def other_project(x: np.ndarray, d: int) -> np.ndarray:
        assert other is not None
        return normalize(((np.asarray(x, np.float32) - other[0]) @ other[1].T)[:, :d])

    rows = {}
    for task_dir in sorted((args.eval_dir / "tasks").glob("d1-xling-*")):
        queries, corpus = load(task_dir)
        qraw = vecs.get([q["text"] for q in queries], "query").astype(np.float32)
        craw = vecs.get([c["text"] for c in corpus], "passage").astype(np.float32)
        lang = task_dir.name.removeprefix("d1-xling-")
        rows[lang] = {}
        for d in SIZES:
            plain = r_at_1(normalize(qraw[:, :d]), normalize(craw[:, :d]), queries, corpus)
            lite = r_at_1(space.project(qraw, d), space.project(craw, d), queries, corpus)
            cols = [plain, lite]
            if other is not None:
                cols.append(r_at_1(other_project(qraw, d), other_project(craw, d), queries, corpus))
            rows[lang][d] = cols
    names = "plain / lite" + (f" / {args.compare.name}" if other is not None else "")
    print("| language | " + " | ".join(f"{d}: {names}" for d in SIZES) + " |")
    print("|---" * (len(SIZES) + 1) + "|")
    for lang, r in rows.items():
        print(f"| {lang} | " + " | ".join(" / ".join(f"{x:.2f}" for x in r[d]) for d in SIZES) + " |")
    k = len(next(iter(rows.values()))[SIZES[0]])
    means = {d: [np.mean([r[d][i] for r in rows.values()]) for i in range(k)] for d in SIZES}
    mins = {d: [min(r[d][i] for r in rows.values()) for i in range(k)] for d in SIZES}
    print("| **mean** | " + " | ".join(" / ".join(f"{x:.3f}" for x in means[d]) for d in SIZES) + " |")
    print("| **min** | " + " | ".join(" / ".join(f"{x:.2f}" for x in mins[d]) for d in SIZES) + " |")


if __name__ == "__main__":
    main()

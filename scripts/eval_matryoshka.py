#!/usr/bin/env python3
"""How much cross-lingual R@1 each output size keeps: plain truncation of raw e5 vs the lite space.

    .venv/bin/python scripts/eval_matryoshka.py [--eval-dir ../shared/eval-dev]

Reads the D1 tasks of the dev evaluation set (100 English queries vs 100 translations per language),
embeds every text once, then scores each size both ways, so both columns come from the same vectors.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

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
    args = ap.parse_args()
    lite = get_profile("lite")
    enc = lite.load_encoders().text
    space = Space(lite)
    rows = {}
    for task_dir in sorted((args.eval_dir / "tasks").glob("d1-xling-*")):
        queries, corpus = load(task_dir)
        qraw = enc.encode([q["text"] for q in queries], "query")
        craw = enc.encode([c["text"] for c in corpus], "passage")
        lang = task_dir.name.removeprefix("d1-xling-")
        rows[lang] = {}
        for d in SIZES:
            plain = r_at_1(normalize(qraw[:, :d]), normalize(craw[:, :d]), queries, corpus)
            lite = r_at_1(space.project(qraw, d), space.project(craw, d), queries, corpus)
            rows[lang][d] = (plain, lite)
    header = "| language | " + " | ".join(f"{d}: plain / lite" for d in SIZES) + " |"
    print(header)
    print("|---" * (len(SIZES) + 1) + "|")
    for lang, r in rows.items():
        print(f"| {lang} | " + " | ".join(f"{r[d][0]:.2f} / {r[d][1]:.2f}" for d in SIZES) + " |")
    means = {d: (np.mean([r[d][0] for r in rows.values()]), np.mean([r[d][1] for r in rows.values()])) for d in SIZES}
    mins = {d: (min(r[d][0] for r in rows.values()), min(r[d][1] for r in rows.values())) for d in SIZES}
    print("| **mean** | " + " | ".join(f"{means[d][0]:.3f} / {means[d][1]:.3f}" for d in SIZES) + " |")
    print("| **min** | " + " | ".join(f"{mins[d][0]:.2f} / {mins[d][1]:.2f}" for d in SIZES) + " |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Fit the lite profile's Matryoshka rotation: an orthogonal R whose first axes keep what retrieval needs.

multilingual-e5-small was not trained for truncation; the lite space is ``normalize(R · (e − μ))[:d]``,
so the order of R's axes decides what a 128- or 256-d prefix keeps. Run once, offline:

    .venv/bin/python scripts/fit_rotation.py                 # writes src/omniembed/data/lite_rotation.npz
    .venv/bin/python scripts/fit_rotation.py --beta 0        # plain PCA about μ instead

**Corpus** (``bench/matryoshka_holdout.py``: all read from this machine, never eval-dev's items): gettext
catalogs (~150 languages), English and translated man pages, installed packages' summaries and
descriptions, the standard library's docstrings — half embedded as ``query: ``, half as ``passage: ``. Unlike the first fit (gettext + docstrings, plain PCA), the test catalogs, test packages
and test man pages of that benchmark are left out, so its held-out numbers stay held out.

**Axes**: eigenvectors of ``C_total − β·C_within`` (``fit_rotation``): ``C_total`` is the second moment
of the embeddings about μ, ``C_within`` that of differences that should not matter for retrieval — a
message as a query vs its translation as a passage (language and prefix). β = 0 is PCA. μ stays the shipped centre, so
full-size (384-d) vectors are exactly what they were; only the order of the axes changes. The choice of
β and its held-out numbers (leave-language-out, leave-domain-out) are in docs/engine.md.
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

from bench.matryoshka_holdout import (  # noqa: E402
    CACHE, Vectors, collect, fit_embeddings, fit_matrices, fit_rotation, shipped, subsample,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--beta", type=float, default=1.0, help="weight of C_within (0 = PCA)")
    ap.add_argument("--pairs", type=int, default=1000)
    ap.add_argument("--man", type=int, default=300)
    ap.add_argument("--docstrings", type=int, default=100)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "src" / "omniembed" / "data" / "lite_rotation.npz")
    args = ap.parse_args()

    data_f = CACHE / "corpus.json"
    if data_f.exists():
        data = json.loads(data_f.read_text("utf-8"))
    else:
        CACHE.mkdir(parents=True, exist_ok=True)
        data = collect()
        data_f.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    fit = subsample(data["fit"], {"gettext": args.pairs, "man": args.man, "docstrings": args.docstrings})
    print(f"fitting on {len(fit):,} texts in {len({r['lang'] for r in fit})} languages (half as queries, half as passages)", flush=True)
    emb = fit_embeddings(fit, Vectors(CACHE, args.threads))
    mu, _ = shipped()
    X, D = fit_matrices(fit, emb, lambda r: True)
    rot = fit_rotation(X, D, mu, args.beta)
    var = np.einsum("ij,nj->ni", rot, X - mu) ** 2
    explained = np.cumsum(var.sum(0)) / var.sum()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        mean=mu.astype(np.float32),
        rotation=rot.astype(np.float32),
        explained=explained.astype(np.float32),
        n_texts=np.int64(len(fit)),
        beta=np.float32(args.beta),
    )
    for k in (64, 128, 256, 384):
        print(f"variance kept by the first {k} axes: {explained[k - 1]:.3f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Fit the lite profile's Matryoshka rotation: a centring vector μ and an orthogonal rotation R (PCA).

multilingual-e5-small was not trained for truncation; PCA sorts the axes of its space by variance, so a
prefix of the rotated vector keeps as much of the geometry as a prefix can. Run once, offline:

    .venv/bin/python scripts/fit_rotation.py            # writes src/omniembed/data/lite_rotation.npz

Corpus (all read from this machine, nothing downloaded):
* the gettext message catalogs under /usr/share/locale — UI strings of ~80 Debian programs in ~100
  languages, as msgid (English) and msgstr (translation) — EXCEPT the catalogs the dev evaluation set is
  built from (coreutils, glib20, gtk20, Linux-PAM; gtk30 too, which shares gtk20's strings), and except
  any string that also appears in the evaluation set;
* English prose: the docstrings of the Python standard library's modules, classes and functions.
Each text is embedded in both e5 modes (``query: `` and ``passage: ``), since both kinds of vector
live in the space.
"""

from __future__ import annotations

import argparse
import gettext
import importlib
import inspect
import json
import pkgutil
import random
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

EXCLUDED_DOMAINS = {"coreutils", "glib20", "gtk20", "gtk20-properties", "gtk30", "gtk30-properties", "Linux-PAM"}


def eval_strings(eval_dir: Path) -> set[str]:
    """Every text of the dev evaluation set, to keep it out of the fit."""
    out: set[str] = set()
    for f in eval_dir.glob("tasks/*/*.jsonl"):
        for line in f.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            for key in ("text",):
                if rec.get(key):
                    out.add(rec[key].strip().lower())
            if rec.get("meta", {}).get("transcript"):
                out.add(rec["meta"]["transcript"].strip().lower())
    return out


def gettext_texts(locale_dir: Path, rng: random.Random, per_catalog: int) -> list[str]:
    texts = []
    for mo in sorted(locale_dir.glob("*/LC_MESSAGES/*.mo")):
        if mo.stem in EXCLUDED_DOMAINS or mo.stem.startswith("iso_"):
            continue
        try:
            with mo.open("rb") as fh:
                cat = gettext.GNUTranslations(fh)._catalog  # type: ignore[attr-defined]
        except Exception:
            continue
        pairs = [(k, v) for k, v in cat.items() if isinstance(k, str) and k and isinstance(v, str) and v]
        rng.shuffle(pairs)
        for msgid, msgstr in pairs[:per_catalog]:
            for t in (msgid, msgstr):
                t = " ".join(t.replace("_", "").replace("&", "").split())
                if 12 <= len(t) <= 600 and "%" not in t:
                    texts.append(t)
    return texts


def docstring_texts(limit: int) -> list[str]:
    texts = []
    warnings.simplefilter("ignore")
    for mod in sorted(m.name for m in pkgutil.iter_modules() if m.module_finder.path.endswith("python3.11")):
        if mod.startswith(("_", "test", "idlelib", "tkinter", "turtle", "antigravity", "this")):
            continue
        try:
            m = importlib.import_module(mod)
        except Exception:
            continue
        for obj in [m, *[v for _, v in inspect.getmembers(m) if inspect.isclass(v) or inspect.isfunction(v)]]:
            doc = inspect.getdoc(obj)
            if doc and len(doc) >= 40:
                texts.append(doc[:1500])
        if len(texts) >= limit:
            break
    return texts[:limit]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--locale-dir", type=Path, default=Path("/usr/share/locale"))
    ap.add_argument("--eval-dir", type=Path, default=ROOT.parent / "shared" / "eval-dev")
    ap.add_argument("--per-catalog", type=int, default=40, help="message pairs sampled per catalog")
    ap.add_argument("--docstrings", type=int, default=3000)
    ap.add_argument("--max-texts", type=int, default=40000)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--out", type=Path, default=ROOT / "src" / "omniembed" / "data" / "lite_rotation.npz")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    banned = eval_strings(args.eval_dir) if args.eval_dir.exists() else set()
    texts = gettext_texts(args.locale_dir, rng, args.per_catalog) + docstring_texts(args.docstrings)
    texts = sorted({t for t in texts if t.strip().lower() not in banned})
    rng.shuffle(texts)
    texts = texts[: args.max_texts]
    print(f"fitting on {len(texts):,} texts ({len(banned):,} eval strings excluded)", flush=True)

    from omniembed.profiles import get_profile

    enc = get_profile("lite").load_encoders().text  # the rotation belongs to the lite profile's text encoder
    chunks = []
    step = 2048
    for mode in ("query", "passage"):
        for i in range(0, len(texts), step):
            chunks.append(enc.encode(texts[i : i + step], mode))
            print(f"  {mode}: {min(i + step, len(texts)):,}/{len(texts):,}", flush=True)
    x = np.concatenate(chunks).astype(np.float64)
    mean = x.mean(0)
    cov = np.cov((x - mean).T)
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1]
    rotation = evecs[:, order].T  # rows are principal axes, largest variance first
    # make the sign of each axis deterministic
    rotation *= np.sign(rotation[np.arange(len(rotation)), np.abs(rotation).argmax(1)])[:, None]
    explained = np.cumsum(evals[order]) / evals.sum()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        mean=mean.astype(np.float32),
        rotation=rotation.astype(np.float32),
        explained=explained.astype(np.float32),
        n_texts=np.int64(len(texts)),
    )
    for k in (64, 128, 256, 384):
        print(f"variance kept by the first {k} axes: {explained[k - 1]:.3f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

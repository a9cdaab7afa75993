"""Real embedding vectors for the scale benchmark (bench/bench_scale.py), and their extension to 1 M.

Real texts: the message catalogs installed on this Debian machine (``/usr/share/locale/*/LC_MESSAGES/*.mo``,
read with the standard library's :mod:`gettext`): UI strings, error messages and help texts in many
languages — short, varied, multilingual, like the chunks of a real archive. A fixed sample (seeded) is
embedded with the lite profile as ``RETRIEVAL_DOCUMENT`` (the *base* vectors) and a disjoint sample as
``RETRIEVAL_QUERY`` (the queries). Embedding runs at ~18 texts/s on 2 busy cores, so the base is a few
thousand vectors, cached in ``.omniembed/bench-cache/``.

Extension to N records (documented method, :func:`extend`): record ``i`` is a real base vector ``x_a``
(``a = i mod base``) moved towards another real vector ``x_b`` and perturbed::

    v = normalize(x_a + λ·(x_b − x_a) + σ·g),   λ ~ U(0, 0.35),  g ~ N(0, I/d),  σ = 0.25

so every synthetic vector lies near the real data manifold (the e5 vectors' shared direction and their
clusters survive; pairwise cosines stay in the real range), and the neighbourhoods are dense the way
they are in a big archive of similar documents. Random Gaussian vectors would be the worst case for
IVF/PQ and say nothing about real recall.
"""

from __future__ import annotations

import gettext
import random
from pathlib import Path

import numpy as np

CACHE = Path(__file__).resolve().parent.parent / ".omniembed" / "bench-cache"


def catalog_texts(limit: int, seed: int = 16) -> list[str]:
    """Unique catalog strings of 20–300 characters, a seeded sample of ``limit``."""
    seen: set[str] = set()
    for mo in sorted(Path("/usr/share/locale").glob("*/LC_MESSAGES/*.mo")):
        try:
            with open(mo, "rb") as fh:
                cat = gettext.GNUTranslations(fh)._catalog  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 — a broken catalog is skipped
            continue
        for k, v in cat.items():
            for s in (k if isinstance(k, str) else k[0], v):
                s = " ".join(str(s).split())
                if 20 <= len(s) <= 300 and "\x00" not in s:
                    seen.add(s)
    texts = sorted(seen)
    random.Random(seed).shuffle(texts)
    return texts[:limit]


def real_vectors(n_base: int = 4000, n_query: int = 200) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(base vectors, query vectors, base texts), embedded once with the lite profile and cached."""
    path = CACHE / f"real-{n_base}-{n_query}.npz"
    if path.is_file():
        z = np.load(path, allow_pickle=False)
        return z["base"], z["query"], list(z["texts"])
    from rich.progress import track

    from omniembed import Embedder

    texts = catalog_texts(n_base + n_query)
    base_t, query_t = texts[:n_base], texts[n_base:]
    emb = Embedder()
    base = np.concatenate([
        emb.embed(base_t[i : i + 64], task_type="RETRIEVAL_DOCUMENT")
        for i in track(range(0, n_base, 64), description="embedding base texts")
    ])  # fmt: skip
    query = emb.embed(query_t, task_type="RETRIEVAL_QUERY")
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, base=base.astype(np.float32), query=query.astype(np.float32), texts=np.array(base_t))
    return base.astype(np.float32), query.astype(np.float32), base_t


def extend(base: np.ndarray, n: int, seed: int = 16, sigma: float = 0.25, batch: int = 100_000) -> np.ndarray:
    """``n`` vectors near the real ones (see the module docstring); the first ``len(base)`` are the base."""
    rng = np.random.default_rng(seed)
    m, d = base.shape
    out = np.empty((n, d), np.float32)
    k = min(n, m)
    out[:k] = base[:k]
    for s in range(k, n, batch):
        e = min(n, s + batch)
        a = np.arange(s, e) % m
        b = rng.integers(0, m, e - s)
        lam = rng.uniform(0, 0.35, (e - s, 1)).astype(np.float32)
        v = base[a] + lam * (base[b] - base[a]) + (sigma / np.sqrt(d)) * rng.standard_normal((e - s, d), np.float32)
        out[s:e] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description="Embed (or load from the cache) the scale benchmark's real vectors "
                            "and print their shapes; bench/bench_scale.py uses them.").parse_args()
    b, q, t = real_vectors()
    print(b.shape, q.shape, t[:3])

"""Audio queries on non-speech sounds ("find recordings like this one"): lite vs lite + a sound model.

``.venv/bin/python -m bench.bench_sounds [--model DIR]`` (default: the tiny random CLAP fixture).

Five synthetic sound families (mains hum, whistles, white noise, click trains, chirps), three variants
each (other pitch, rate or seed), 6 s at 48 kHz. Every file is the query once; the relevant results are
the other two of its family. Rows, all measured in the same run:

* **lite** (the naive baseline): no sound model, every file gets the same "no speech" description, so
  the ranking is by duration alone;
* **lite + CLAP, tags → e5** (what omniembed ships): the zero-shot tags embedded as text;
* **CLAP audio vectors directly** (a ceiling for the tags path: what the sound model itself separates).

With the tiny random CLAP the numbers only say that the path carries what the audio tower sees into the
space; with a real CLAP export (``--model``) they say how well sounds are found.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RATE = 48_000


def families(seconds: float = 6.0) -> dict[str, list[np.ndarray]]:
    t = np.arange(int(seconds * RATE)) / RATE
    rng = np.random.default_rng(0)

    def hum(f):
        return sum(0.3 / k * np.sin(2 * np.pi * f * k * t) for k in range(1, 6))

    def clicks(rate):
        x = np.zeros_like(t)
        x[(np.arange(0, seconds, 1 / rate) * RATE).astype(int)] = 0.9
        return np.convolve(x, np.exp(-np.arange(200) / 30), mode="same")

    def chirp(f0, f1):
        return 0.4 * np.sin(2 * np.pi * (f0 + (f1 - f0) * t / (2 * seconds)) * t)

    out = {
        "hum": [hum(f) for f in (50, 60, 100)],
        "whistle": [0.4 * np.sin(2 * np.pi * f * t) for f in (2000, 2600, 3300)],
        "noise": [a * rng.standard_normal(t.size) for a in (0.1, 0.2, 0.3)],
        "clicks": [clicks(r) for r in (4, 7, 11)],
        "chirp": [chirp(a, b) for a, b in ((200, 4000), (300, 6000), (500, 3000))],
    }
    return {k: [np.clip(v, -1, 1).astype(np.float32) for v in vs] for k, vs in out.items()}


def scores(vecs: np.ndarray, labels: list[str]) -> tuple[float, float]:
    """R@1 and MRR of each file as a query against the others (relevant: its family)."""
    sims = vecs @ vecs.T
    r1, rr = [], []
    for i in range(len(labels)):
        order = [j for j in np.argsort(-sims[i], kind="stable") if j != i]
        ranks = [k for k, j in enumerate(order, 1) if labels[j] == labels[i]]
        r1.append(float(ranks[0] == 1))
        rr.append(1.0 / ranks[0])
    return float(np.mean(r1)), float(np.mean(rr))


def main() -> None:
    import os

    import soundfile as sf

    from omniembed import Embedder
    from omniembed.encoders.clap import ClapModel

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "tests" / "fixtures" / "tiny_models" / "clap-unfused")
    args = ap.parse_args()
    fam = families()
    labels = [k for k, vs in fam.items() for _ in vs]
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for k, vs in fam.items():
            for i, v in enumerate(vs):
                files.append(Path(tmp) / f"{k}-{i}.wav")
                sf.write(files[-1], v, RATE)
        rows = []
        for name, emb in (("lite (baseline)", Embedder()), ("lite + CLAP, tags -> e5", Embedder(sound_model=args.model))):
            t0 = time.perf_counter()
            vecs = emb.embed(files)
            rows.append((name, *scores(vecs, labels), time.perf_counter() - t0))
        clap = ClapModel(args.model)
        t0 = time.perf_counter()
        vecs = clap.encode_audio([v for vs in fam.values() for v in vs])
        rows.append(("CLAP audio vectors (ceiling)", *scores(vecs, labels), time.perf_counter() - t0))
    print(f"model: {args.model}  ({len(files)} files, 5 families; load average {os.getloadavg()[0]:.1f})")
    print(f"{'variant':32s} {'R@1':>6s} {'MRR':>6s} {'seconds':>8s}")
    for name, r1, mrr, s in rows:
        print(f"{name:32s} {r1:6.3f} {mrr:6.3f} {s:8.1f}")


if __name__ == "__main__":
    main()

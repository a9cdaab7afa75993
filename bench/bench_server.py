"""Server overhead benchmark: the HTTP server vs the library called directly, in one run.

    .venv/bin/python -m bench.bench_server [--per-client 12] [--png-per-client 2] [--no-batching-compare]
    .venv/bin/python -m bench.bench_server --under-load [--rounds 3] [--per-client 8] [--before-tree DIR]

For one sentence (text path) and for a one-page PNG (OCR path) it measures
  * latency on an idle server vs the library's single call            (target ≤ 1.3×)
  * throughput with 16 concurrent clients vs the library's best batch (target ≥ 0.8×)
  * p99 latency at 16 clients vs 16 × the library's single-call time  (target ≤ 1.5×)
and, to show where dynamic batching matters, the 16-client throughput of a server started with
``--max-batch-size 1 --workers 1`` (no batching, no overlap). The server is a real subprocess started from
the CLI on loopback; the library runs in this process. Library and server are measured alternately (call
by call for latency, round by round for throughput) and never at the same time, so both see the same
machine load; every loop is bounded.

``--under-load`` measures instead the 16-client text benchmark (p50, p99, throughput) on an idle machine
and with 2 busy processes (pure-Python spin loops, started and stopped by the benchmark), for two servers
running side by side: today's thread policy and the one before issue 15 (``OMNIEMBED_ADAPTIVE_THREADS=0``,
every e5 call on all cores) — or, with ``--before-tree DIR``, the code of another source tree with its
own defaults (e.g. the commit issue 15 was filed against). Rounds alternate between the two servers, so
both see the same load.
Target (issue 15): p99 with 2 busy processes ≥ 5× better than before.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from server_harness import ServerProcess  # noqa: E402

CLIENTS = 16
EMBED = "/v1beta/models/omniembed-lite:embedContent"
_TOPICS = ["the harbour", "a violin", "the tax office", "glaciers", "a compiler", "saffron rice", "the orbit",
           "a lantern", "the harvest", "granite cliffs", "the tundra", "a river delta"]


def sentences(n: int, offset: int = 0) -> list[str]:
    return [f"Sentence {i + offset}: a short note about {_TOPICS[(i + offset) % len(_TOPICS)]} and its history."
            for i in range(n)]


def page_png(seed: int = 0) -> bytes:
    """A one-page, A4-proportioned PNG with a dozen lines of printed text."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (850, 1100), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=26)
    for k in range(14):
        line = f"{k + 1}. Minutes of meeting {seed}: {_TOPICS[(k + seed) % len(_TOPICS)]} reviewed, actions agreed."
        draw.text((50, 60 + k * 70), line, fill="black", font=font)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


# --- measurements ----------------------------------------------------------------------------------
# The machine is shared, so its load drifts during a run. Library and server are therefore measured
# alternately (call by call for latency, phase by phase for throughput): each ratio compares numbers
# taken under the same conditions.
def idle_latency(emb, url: str, inputs: list, bodies: list[dict]) -> tuple[float, float]:
    """Median single-call latency: library and idle server, alternating call by call."""
    lib, srv = [], []
    with httpx.Client(base_url=url, timeout=600) as c:
        c.post(EMBED, json=bodies[0]).raise_for_status()
        emb.embed(inputs[0])
        for inp, body in zip(inputs, bodies):
            t0 = time.perf_counter()
            emb.embed(inp)
            lib.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            c.post(EMBED, json=body).raise_for_status()
            srv.append(time.perf_counter() - t0)
    return statistics.median(lib), statistics.median(srv)


def library_best_throughput(emb, items: list, batch_sizes: list[int]) -> float:
    best = 0.0
    for bs in batch_sizes:
        batch = items[:bs]
        emb.batch_size = max(bs, 1)
        t0 = time.perf_counter()
        emb.embed(batch)
        best = max(best, len(batch) / (time.perf_counter() - t0))
    emb.batch_size = 32
    return best


def server_concurrent(url: str, bodies: list[dict], clients: int = CLIENTS) -> dict:
    async def run() -> tuple[float, list[float]]:
        lat: list[float] = []
        queue = list(bodies)
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as c:
            async def worker() -> None:
                while queue:
                    b = queue.pop()
                    t0 = time.perf_counter()
                    r = await c.post(EMBED, json=b)
                    r.raise_for_status()
                    lat.append(time.perf_counter() - t0)

            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(clients)))
            return time.perf_counter() - t0, lat

    wall, lat = asyncio.run(run())
    return {"throughput": len(bodies) / wall, "p50_s": pct(lat, 50), "p99_s": pct(lat, 99)}


def under_load(rounds: int, per_client: int, busy: int = 2, before_tree: Path | None = None) -> dict:
    """16-client text rounds, old vs new thread policy, idle then with ``busy`` busy processes.

    ``before_tree``: the "before" server runs that source tree's code (``PYTHONPATH=TREE/src``, e.g. a
    worktree of the commit an issue was filed against) with its own defaults, instead of today's code
    with the old thread policy."""
    import contextlib
    import os

    from bench.bench_core import POLICIES, BusyLoad
    from bench.bench_load import wait_idle

    policies = dict(POLICIES)
    if before_tree is not None:
        policies = {f"before ({before_tree.name})": {"PYTHONPATH": str(before_tree.resolve() / "src")},
                    "now": {}}
    n = CLIENTS * per_client
    out: dict = {"rounds": rounds, "per_client": per_client, "busy": busy, "runs": {}, "load_avg_1min": {},
                 "policies": list(policies)}
    with tempfile.TemporaryDirectory(dir=ROOT) as tmp, contextlib.ExitStack() as stack:
        servers = {}
        for i, (policy, env) in enumerate(policies.items()):
            print(f"server ({policy}): starting", flush=True)
            servers[policy] = stack.enter_context(ServerProcess(Path(tmp) / f"s{i}", "--log-level", "warning", env=env))
        for srv in servers.values():
            server_concurrent(srv.url, [text_body(s) for s in sentences(CLIENTS, 7000)])  # warm
            wait_idle(srv.proc.pid)  # workers spawned and loaded: the rounds see quiet servers
        for mode in ("idle", "loaded"):
            with BusyLoad(busy) if mode == "loaded" else contextlib.nullcontext():
                for k in range(rounds):
                    for policy, srv in servers.items():
                        print(f"{mode} round {k + 1}/{rounds}: {policy}", flush=True)
                        run = server_concurrent(srv.url, [text_body(s) for s in sentences(n, 9000 + n * k)])
                        out["runs"].setdefault(f"{policy}|{mode}", []).append(run)
                    out["load_avg_1min"].setdefault(mode, []).append(os.getloadavg()[0])
    return out


def report_under_load(r: dict) -> None:
    policies = r["policies"]
    old, new = policies
    med = {key: {m: statistics.median(x[m] for x in runs) for m in ("p50_s", "p99_s", "throughput")}
           for key, runs in r["runs"].items()}
    print(f"text, 16 clients x {r['per_client']} sentences, median over {r['rounds']} alternating rounds; load avg "
          f"(1 min) idle {', '.join(f'{x:.2f}' for x in r['load_avg_1min']['idle'])}, {r['busy']} busy "
          f"{', '.join(f'{x:.2f}' for x in r['load_avg_1min']['loaded'])}")
    for p in policies:
        for mode in ("idle", "loaded"):
            m = med[f"{p}|{mode}"]
            print(f"  {p:20s} {mode:6s}  p50 {m['p50_s'] * 1000:8.1f} ms  p99 {m['p99_s'] * 1000:8.1f} ms  "
                  f"{m['throughput']:6.1f} sentences/s")
    for mode in ("idle", "loaded"):
        a, b = med[f"{old}|{mode}"], med[f"{new}|{mode}"]
        print(f"  {mode}: p99 before / now {a['p99_s'] / b['p99_s']:.2f}x"
              + ("  (target >= 5)" if mode == "loaded" else "")
              + f"   throughput now / before {b['throughput'] / a['throughput']:.2f}x")


def text_body(s: str) -> dict:
    return {"content": {"parts": [{"text": s}]}}


def png_body(png: bytes) -> dict:
    return {"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": base64.b64encode(png).decode()}}]}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--single", type=int, default=30, help="one-sentence calls for latency (each side)")
    ap.add_argument("--per-client", type=int, default=8, help="sentences per client in each 16-client round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating library/server throughput rounds (text)")
    ap.add_argument("--png-single", type=int, default=3, help="PNG calls for latency (each side)")
    ap.add_argument("--png-per-client", type=int, default=1, help="PNGs per client in each 16-client round")
    ap.add_argument("--png-rounds", type=int, default=2, help="alternating library/server throughput rounds (png)")
    ap.add_argument("--no-batching-compare", action="store_true", help="skip the --max-batch-size 1 server")
    ap.add_argument("--json", type=Path, help="also write the numbers to this file")
    ap.add_argument("--under-load", action="store_true",
                    help="16-client text p99 idle vs with 2 busy processes, thread policy before vs now")
    ap.add_argument("--before-tree", type=Path,
                    help="with --under-load: the 'before' server runs this source tree (e.g. a worktree of the "
                         "commit an issue was filed against) with its defaults")
    args = ap.parse_args(argv)
    if args.under_load:
        out = under_load(args.rounds, args.per_client, before_tree=args.before_tree)
        report_under_load(out)
        if args.json:
            args.json.write_text(json.dumps(out, indent=2))
        return 0

    from omniembed import Embedder, Part

    n_text = CLIENTS * args.per_client
    n_png = CLIENTS * args.png_per_client
    pngs = [page_png(i) for i in range(max(n_png, args.png_single))]
    png_parts = [[Part.from_bytes(p, "image/png")] for p in pngs]
    emb = Embedder()
    results: dict = {"rounds": args.rounds}
    configs = [("batching", [])]
    if not args.no_batching_compare:
        configs.append(("no_batching", ["--max-batch-size", "1", "--workers", "1"]))
    with tempfile.TemporaryDirectory(dir=ROOT) as tmp:
        for name, extra in configs:
            print(f"server ({name}): starting")
            with ServerProcess(Path(tmp) / name, "--log-level", "warning", *extra) as srv:
                out: dict = {}
                if name == "batching":
                    print("idle latency: text")
                    texts = sentences(args.single, 5000)
                    out["text_lib_single_s"], out["text_idle_s"] = idle_latency(
                        emb, srv.url, texts, [text_body(t) for t in texts])
                    print("idle latency: png")
                    out["png_lib_single_s"], out["png_idle_s"] = idle_latency(
                        emb, srv.url, png_parts[: args.png_single], [png_body(p) for p in pngs[: args.png_single]])
                with_lib = name == "batching"
                out["text_16"], out["text_lib_best"] = throughput_rounds(
                    "text", srv.url, args.rounds if with_lib else 1,
                    (lambda k: library_best_throughput(emb, sentences(64, 1000 + 64 * k), [8, 32, 64]))
                    if with_lib else None,
                    lambda k: [text_body(s) for s in sentences(n_text, 9000 + n_text * k)])
                out["png_16"], out["png_lib_best"] = throughput_rounds(
                    "png", srv.url, args.png_rounds if with_lib else 1,
                    (lambda k: library_best_throughput(emb, png_parts, [4, 16])) if with_lib else None,
                    lambda k: [png_body(pngs[i % len(pngs)]) for i in range(n_png)])
                results[name] = out

    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def throughput_rounds(kind: str, url: str, rounds: int, library, bodies) -> tuple[dict, float | None]:
    """Alternate library (``library(k)`` → items/s, optional) and 16-client server rounds."""
    lib, runs = [], []
    for k in range(rounds):
        print(f"throughput round {k + 1}: {kind}")
        if library is not None:
            lib.append(library(k))
        m0 = _batch_sums(url)
        run = server_concurrent(url, bodies(k))
        m1 = _batch_sums(url)
        run["mean_batch"] = (m1[0] - m0[0]) / max(1.0, m1[1] - m0[1])
        runs.append(run)
    return _median_run(runs), (max(lib) if lib else None)


def _median_run(runs: list[dict]) -> dict:
    """The best throughput round, and the median p99 over rounds."""
    best = max(runs, key=lambda r: r["throughput"])
    return {**best, "p99_s": statistics.median(r["p99_s"] for r in runs),
            "throughputs": [r["throughput"] for r in runs]}


def _batch_sums(url: str) -> tuple[float, float]:
    """(contents, engine calls) so far, from the server's Prometheus metrics."""
    s = c = 0.0
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith("omniembed_batch_contents_sum"):
            s = float(line.split()[-1])
        elif line.startswith("omniembed_batch_contents_count"):
            c = float(line.split()[-1])
    return s, c


def report(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    srv = r["batching"]
    rows = []
    for kind, unit in (("text", "sentences/s"), ("png", "pages/s")):
        single, best, run = srv[f"{kind}_lib_single_s"], srv[f"{kind}_lib_best"], srv[f"{kind}_16"]
        rows.append((f"{kind}: idle latency", f"{single * 1000:.1f} ms", f"{srv[f'{kind}_idle_s'] * 1000:.1f} ms",
                     srv[f"{kind}_idle_s"] / single, "<= 1.30"))
        rows.append((f"{kind}: throughput, 16 clients", f"{best:.2f} {unit}", f"{run['throughput']:.2f} {unit}",
                     run["throughput"] / best, ">= 0.80"))
        bound = CLIENTS * single
        rows.append((f"{kind}: p99, 16 clients", f"16 x single = {bound * 1000:.0f} ms", f"{run['p99_s'] * 1000:.0f} ms",
                     run["p99_s"] / bound, "<= 1.50"))
        nb = r.get("no_batching")
        if nb:
            rows.append((f"{kind}: 16 clients, --max-batch-size 1 --workers 1", "",
                         f"{nb[f'{kind}_16']['throughput']:.2f} {unit}",
                         run["throughput"] / nb[f"{kind}_16"]["throughput"], "batching / none"))
    t = Table(title="omniembed server vs library (same machine, same run, alternating)")
    for col in ("measure", "library", "server", "ratio", "target"):
        t.add_column(col, justify="left" if col == "measure" else "right")
    for m, a, b, ratio, target in rows:
        t.add_row(m, a, b, f"{ratio:.2f}", target)
    Console(width=120).print(t)
    print(f"mean contents per engine call at 16 clients: text {srv['text_16']['mean_batch']:.1f}, "
          f"png {srv['png_16']['mean_batch']:.1f}; server throughput per round: text "
          + ", ".join(f"{x:.1f}" for x in srv["text_16"]["throughputs"]) + "; png "
          + ", ".join(f"{x:.2f}" for x in srv["png_16"]["throughputs"]))


if __name__ == "__main__":
    raise SystemExit(main())

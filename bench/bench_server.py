"""Server overhead benchmark: the HTTP server vs the library called directly, in one run.

    .venv/bin/python -m bench.bench_server [--per-client 12] [--png-per-client 2] [--no-batching-compare]

For one sentence (text path) and for a one-page PNG (OCR path) it measures
  * latency on an idle server vs the library's single call            (target ≤ 1.3×)
  * throughput with 16 concurrent clients vs the library's best batch (target ≥ 0.8×)
  * p99 latency at 16 clients vs 16 × the library's single-call time  (target ≤ 1.5×)
and, to show where dynamic batching matters, the 16-client throughput of a server started with
``--max-batch-size 1 --workers 1`` (no batching, no overlap). The server is a real subprocess started from
the CLI on loopback; the library runs in this process, never at the same time as the server is loaded.
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


# --- library ---------------------------------------------------------------------------------------
def library_numbers(items_single: list, items_batch: list, batch_sizes: list[int], make_input) -> dict:
    from omniembed import Embedder

    emb = Embedder()
    emb.embed(make_input(items_single[0]))  # load models
    lat = []
    for it in items_single:
        t0 = time.perf_counter()
        emb.embed(make_input(it))
        lat.append(time.perf_counter() - t0)
    best = 0.0
    for bs in batch_sizes:
        batch = [make_input(x)[0] for x in items_batch[:bs]]
        emb.batch_size = max(bs, 1)
        t0 = time.perf_counter()
        emb.embed(batch)
        best = max(best, len(batch) / (time.perf_counter() - t0))
    return {"single_s": statistics.median(lat), "best_throughput": best}


# --- server ----------------------------------------------------------------------------------------
def server_idle_latency(url: str, bodies: list[dict]) -> float:
    with httpx.Client(base_url=url, timeout=300) as c:
        c.post(EMBED, json=bodies[0]).raise_for_status()
        lat = []
        for b in bodies:
            t0 = time.perf_counter()
            c.post(EMBED, json=b).raise_for_status()
            lat.append(time.perf_counter() - t0)
    return statistics.median(lat)


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


def text_body(s: str) -> dict:
    return {"content": {"parts": [{"text": s}]}}


def png_body(png: bytes) -> dict:
    return {"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": base64.b64encode(png).decode()}}]}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--single", type=int, default=40, help="sequential one-sentence calls for latency")
    ap.add_argument("--per-client", type=int, default=12, help="sentences per client in the 16-client run")
    ap.add_argument("--png-single", type=int, default=4, help="sequential PNG calls for latency")
    ap.add_argument("--png-per-client", type=int, default=2, help="PNGs per client in the 16-client run")
    ap.add_argument("--no-batching-compare", action="store_true", help="skip the --max-batch-size 1 server")
    ap.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = ap.parse_args(argv)

    from PIL import Image  # noqa: F401  (fail early when Pillow is missing)
    from omniembed import Part

    n_text = CLIENTS * args.per_client
    n_png = CLIENTS * args.png_per_client
    pngs = [page_png(i) for i in range(max(n_png, args.png_single, 16))]
    print(f"library: {args.single} single sentences, batches up to 64; {args.png_single} single PNGs, batches up to 16")
    lib_text = library_numbers(sentences(args.single), sentences(64, 1000), [1, 8, 32, 64], lambda s: [s])
    lib_png = library_numbers(pngs[: args.png_single], pngs, [1, 4, 16],
                              lambda p: [Part.from_bytes(p, "image/png")])

    results: dict = {"library": {"text": lib_text, "png": lib_png}, "server": {}}
    configs = [("batching", [])]
    if not args.no_batching_compare:
        configs.append(("no_batching", ["--max-batch-size", "1", "--workers", "1"]))
    with tempfile.TemporaryDirectory(dir=ROOT) as tmp:
        for name, extra in configs:
            print(f"server ({name}): starting")
            with ServerProcess(Path(tmp) / name, "--log-level", "warning", *extra) as srv:
                out: dict = {}
                if name == "batching":
                    out["text_idle_s"] = server_idle_latency(srv.url, [text_body(s) for s in sentences(args.single,
                                                                                                          5000)])
                    out["png_idle_s"] = server_idle_latency(srv.url, [png_body(p) for p in pngs[: args.png_single]])
                m0 = _batch_sums(srv.url)
                out["text_16"] = server_concurrent(srv.url, [text_body(s) for s in sentences(n_text, 9000)])
                m1 = _batch_sums(srv.url)
                out["png_16"] = server_concurrent(srv.url, [png_body(pngs[i % len(pngs)]) for i in range(n_png)])
                m2 = _batch_sums(srv.url)
                out["text_16"]["mean_batch"] = (m1[0] - m0[0]) / max(1.0, m1[1] - m0[1])
                out["png_16"]["mean_batch"] = (m2[0] - m1[0]) / max(1.0, m2[1] - m1[1])
                results["server"][name] = out

    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


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

    lib, srv = r["library"], r["server"]["batching"]
    rows = []
    for kind, idle_key, unit in (("text", "text_idle_s", "sentences/s"), ("png", "png_idle_s", "pages/s")):
        lt, st = lib[kind], srv[f"{kind}_16"]
        rows.append((f"{kind}: idle latency", f"{lt['single_s'] * 1000:.1f} ms", f"{srv[idle_key] * 1000:.1f} ms",
                     srv[idle_key] / lt["single_s"], "≤ 1.30"))
        rows.append((f"{kind}: throughput, 16 clients", f"{lt['best_throughput']:.1f} {unit}",
                     f"{st['throughput']:.1f} {unit}", st["throughput"] / lt["best_throughput"], "≥ 0.80"))
        bound = CLIENTS * lt["single_s"]
        rows.append((f"{kind}: p99 latency, 16 clients", f"16×single = {bound * 1000:.0f} ms",
                     f"{st['p99_s'] * 1000:.0f} ms", st["p99_s"] / bound, "≤ 1.50"))
        nb = r["server"].get("no_batching")
        if nb:
            rows.append((f"{kind}: throughput without batching", "", f"{nb[f'{kind}_16']['throughput']:.1f} {unit}",
                         st["throughput"] / nb[f"{kind}_16"]["throughput"], "(batching ÷ none)"))
    t = Table(title="omniembed server vs library (same machine, same run)")
    for col in ("measure", "library", "server", "ratio", "target"):
        t.add_column(col, justify="right" if col != "measure" else "left")
    for m, a, b, ratio, target in rows:
        t.add_row(m, a, b, f"{ratio:.2f}", target)
    Console().print(t)
    print(f"mean contents per engine call at 16 clients (batching server): text "
          f"{srv['text_16']['mean_batch']:.1f}, png {srv['png_16']['mean_batch']:.1f}")


if __name__ == "__main__":
    raise SystemExit(main())

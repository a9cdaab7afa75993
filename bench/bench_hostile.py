"""Peak memory of the largest inputs the default limits allow, in the library, the server and the indexer.

``.venv/bin/python -m bench.bench_hostile [--quick]``

Each surface runs in a fresh process: models are loaded and warmed on a small picture, the kernel's
peak-RSS counter is reset (``/proc/PID/clear_refs``), then one near-limit input is embedded and VmHWM is
read. The same is done for a 640×480 picture in the same run (the baseline); the table prints both, the
ratio, and whether the peak stays under the 1.5 GiB target of issue 11.

Inputs: an 8900×8900 one-colour PNG (79.2 MP, under the 80 MP ``Limits.max_image_pixels``; 250 KB on
disk), an 8900×8900 JPEG with detail (47 MB), and a PDF page of 200×200 inches (rendered at the
``max_pdf_render_pixels`` cap of 40 MP for OCR). ``--quick``: the PNG only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

TARGET_MIB = 1.5 * 1024

_LIB = r"""
import json, sys
from pathlib import Path
from omniembed import Embedder
from omniembed.indexer import Indexer
from omniembed.store import open_store

def kib(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])

surface, warm, path, tmp = sys.argv[1:5]
e = Embedder()
if surface == "library":
    e.embed([Path(warm)])
    open("/proc/self/clear_refs", "w").write("5")
    base = kib("VmRSS:")
    e.embed([Path(path)])
else:  # indexer: a folder holding the file, into a LanceDB store
    store = open_store(str(Path(tmp) / "store"))
    w, d = Path(tmp) / "warm", Path(tmp) / "docs"
    w.mkdir(); d.mkdir()
    (w / Path(warm).name).write_bytes(Path(warm).read_bytes())
    (d / Path(path).name).write_bytes(Path(path).read_bytes())
    Indexer(store, e).run(w, progress=False)
    open("/proc/self/clear_refs", "w").write("5")
    base = kib("VmRSS:")
    report = Indexer(store, e).run(d, progress=False)
    assert report.new == 1, [(o.path, o.status, o.reason) for o in report.outcomes]
print(json.dumps({"base": base / 1024, "peak": kib("VmHWM:") / 1024}))
"""


def make_inputs(d: Path, quick: bool) -> dict[str, Path]:
    from PIL import Image, ImageDraw

    out = {}
    small = d / "small.png"
    img = Image.new("RGB", (640, 480), "white")
    ImageDraw.Draw(img).text((20, 20), "a small picture with a few words", fill="black")
    img.save(small)
    out["baseline 640x480 png"] = small
    Image.new("RGB", (8900, 8900), (40, 80, 200)).save(d / "big.png")
    out["8900x8900 one-colour png"] = d / "big.png"
    if not quick:
        img = Image.new("RGB", (8900, 8900), "white")
        draw = ImageDraw.Draw(img)
        for i in range(0, 8900, 37):
            draw.line([(i, 0), (8900 - i, 8900)], fill=(i % 255, 90, 160), width=5)
        img.save(d / "big.jpg", quality=90)
        out["8900x8900 detailed jpeg"] = d / "big.jpg"
        from reportlab.pdfgen import canvas

        c = canvas.Canvas(str(d / "poster.pdf"), pagesize=(14400, 14400))  # 200 × 200 inches
        c.setFont("Helvetica", 400)
        c.drawString(600, 7000, "A giant poster page")
        c.showPage()
        c.save()
        out["200x200 inch pdf page"] = d / "poster.pdf"
    return out


def run_inprocess(surface: str, warm: Path, path: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", _LIB, surface, str(warm), str(path), tmp], capture_output=True,
                             text=True, timeout=3600)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_server(inputs: dict[str, Path]) -> dict[str, dict]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from server_harness import ServerProcess

    def kib(pid: int, key: str) -> int:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(key):
                return int(line.split()[1])
        raise KeyError(key)

    results = {}
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(Path(tmp), "--workers", "1") as srv, \
            httpx.Client(base_url=srv.url, timeout=3600) as http:
        pid = srv.proc.pid
        warm = next(iter(inputs.values()))
        for label, path in [("(warm-up)", warm), *inputs.items()]:
            up = http.post("/upload/v1beta/files", content=path.read_bytes())
            up.raise_for_status()
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            base = kib(pid, "VmRSS:") / 1024
            r = http.post("/v1beta/models/omniembed-lite:embedContent", json={"content": {"parts": [
                {"fileData": {"fileUri": up.json()["file"]["name"]}}]}})
            r.raise_for_status()
            results[label] = {"base": base, "peak": kib(pid, "VmHWM:") / 1024}
    results.pop("(warm-up)")
    return results


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the 79-MP PNG only (and the baseline picture)")
    quick = ap.parse_args(argv).quick
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        inputs = make_inputs(Path(d), quick)
        warm = inputs["baseline 640x480 png"]
        t0 = time.perf_counter()
        table: dict[str, dict[str, dict]] = {"library": {}, "indexer": {}, "server": run_server(inputs)}
        for surface in ("library", "indexer"):
            for label, path in inputs.items():
                table[surface][label] = run_inprocess(surface, warm, path)
        elapsed = time.perf_counter() - t0
    ok = True
    print(f"{'surface':9} {'input':28} {'before MiB':>10} {'peak MiB':>9} {'vs baseline':>12}  < 1.5 GiB")
    for surface, res in table.items():
        base_peak = res["baseline 640x480 png"]["peak"]
        for label, r in res.items():
            under = r["peak"] < TARGET_MIB
            ok &= under
            rows.append((surface, label, r["base"], r["peak"], r["peak"] / base_peak, under))
            print(f"{surface:9} {label:28} {r['base']:10.0f} {r['peak']:9.0f} {r['peak'] / base_peak:11.2f}x  "
                  f"{'yes' if under else 'NO'}")
    load = os.getloadavg()
    print(f"({elapsed:.0f} s; load average now {load[0]:.2f})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

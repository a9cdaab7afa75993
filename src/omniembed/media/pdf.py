"""PDFs: the text layer page by page (pypdfium2); pages with little or no text are rendered and OCR'd
(and, in a profile with an image tower, embedded as page images fused with that OCR text).

Every page becomes one segment located by its 1-based page number, so search hits point at pages.
There is no page cap beyond ``Limits.max_pdf_pages`` (a guard against hostile files, 5,000 by default).
"""

from __future__ import annotations

import threading

from ..errors import DecodeError, EncryptedDocument, MediaTooLarge
from ..evidence import Evidence, MediaContext, Segment
from ..encoders.ocr import OCR_MAX_SIDE
from .image import native_vector, ocr_segments
from .source import MediaSource

__all__ = ["extract", "open_pdf", "render_page", "render_for_ocr", "PDFIUM_LOCK", "MIN_TEXT_CHARS", "OCR_DPI"]

#: pdfium is not thread-safe: every call into it (open, read, render, close) holds this lock, so the
#: server's worker threads can embed PDFs concurrently. OCR runs outside it.
PDFIUM_LOCK = threading.RLock()

MIN_TEXT_CHARS = 40  # a page whose text layer has fewer letters/digits is treated as scanned
#: In an image-text profile such a page is embedded as a picture (``image.native_vector``). Fusion weighs a
#: textless piece as 8 tokens × its weight; 32 makes a page image count like 256 tokens of text, half a
#: full text chunk, so a scanned page neither vanishes beside text pages nor outweighs a page of prose.
PAGE_IMAGE_WEIGHT = 32.0
OCR_DPI = 200
#: Triage's first look at a page without a text layer is a render at this resolution (~15 ms an A4 page).
PROBE_DPI = 72


def open_pdf(src: MediaSource):
    """Open a PDF with pypdfium2 (hold :data:`PDFIUM_LOCK` while using it); typed errors for bad files."""
    import pypdfium2 as pdfium

    try:
        with PDFIUM_LOCK:
            return pdfium.PdfDocument(src.data if src.data is not None else str(src.path))
    except pdfium.PdfiumError as exc:
        msg = str(exc)
        if "password" in msg.lower():
            raise EncryptedDocument(
                f"{src.name} is password-protected; decrypt it first (e.g. qpdf --decrypt)"
            ) from None
        raise DecodeError(f"{src.name}: not a readable PDF ({msg})") from None


def extract(src: MediaSource, ctx: MediaContext) -> Evidence:
    pdf = open_pdf(src)
    try:
        with PDFIUM_LOCK:
            n = len(pdf)
        if n == 0:
            raise DecodeError(f"{src.name}: the PDF has no pages")
        if n > ctx.limits.max_pdf_pages:
            raise MediaTooLarge(f"{src.name} has {n:,} pages; the limit is {ctx.limits.max_pdf_pages:,}")
        segments: list[Segment] = []
        ocr_pages = 0
        for i in range(n):
            ctx.check()  # a work unit is one page: stop here if the request was cancelled
            with PDFIUM_LOCK:
                try:
                    page = pdf[i]
                    textpage = page.get_textpage()
                    text = textpage.get_text_range() or ""
                    textpage.close()
                except Exception as exc:  # pdfium raises plain errors on broken content streams
                    raise DecodeError(f"{src.name}: page {i + 1} cannot be read ({exc})") from None
            text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x02", "").replace("\ufffe", "")
            if sum(c.isalnum() for c in text) < MIN_TEXT_CHARS:
                img = render_for_ocr(page, ctx.limits.max_pdf_render_pixels, src.name, i + 1,
                                     triage=getattr(ctx.ocr(), "triage", True))
                if img is not None and ctx.encoders is not None and ctx.encoders.image is not None:
                    # an image-text profile sees the page (figures, photos, scans), fused with its OCR text
                    seg = native_vector(img, ctx, "pdf", page=i + 1)
                    seg.weight = PAGE_IMAGE_WEIGHT
                    segments.append(seg)
                    ocr_pages += bool(seg.text)
                    if len(seg.text.strip()) > len(text.strip()):
                        text = ""
                    img = None
                segs = ocr_segments(img, ctx, "pdf", page=i + 1) if img is not None else []
                ocr_text = segs[0].text if segs else ""
                if len(ocr_text.strip()) > len(text.strip()):
                    segments.append(Segment(ocr_text, "pdf", "ocr", page=i + 1))
                    ocr_pages += 1
                    text = ""
            if text.strip():
                segments.append(Segment(text, "pdf", "text-layer", page=i + 1))
            with PDFIUM_LOCK:
                page.close()
            if ctx.progress:
                ctx.progress(f"{src.name}: page {i + 1}/{n}")
    finally:
        with PDFIUM_LOCK:
            pdf.close()
    ev = Evidence("pdf", segments)
    if ocr_pages:
        ev.notes.append(f"{src.name}: {ocr_pages} of {n} pages had no text layer and were read by OCR")
    if not segments:
        ev.flags.add("no_text")
        ev.notes.append(f"{src.name}: no text found on any of its {n} pages (text layer or OCR)")
        ev.segments.append(Segment(f"A PDF document of {n} pages without readable text.", "pdf", "description", weight=0.5))
    return ev


def render_for_ocr(page, max_pixels: int, name: str, number: int, triage: bool = True):
    """Render a page without a usable text layer for OCR (an RGB PIL image, or None: nothing to read).

    With ``triage`` (``encoders.ocr_triage``), a :data:`PROBE_DPI` render is looked at first: a blank
    page is not rendered again (and not OCR'd), and a page of large print is rendered only as sharp as
    its lines need (``render_dpi``: lines ~30 px tall, never above :data:`OCR_DPI`). Without it, every
    such page is rendered at :data:`OCR_DPI`.
    """
    import numpy as np

    from ..encoders.ocr_triage import analyse, render_dpi

    dpi = float(OCR_DPI)
    if triage:
        probe = render_page(page, PROBE_DPI / 72.0, max_pixels, name, number, max_side=OCR_MAX_SIDE)
        if probe is None:
            return None
        layout = analyse(np.asarray(probe))
        if layout.blank:
            return None
        dpi = render_dpi(layout, PROBE_DPI, OCR_DPI)
    return render_page(page, dpi / 72.0, max_pixels, name, number, max_side=OCR_MAX_SIDE)


def render_page(page, scale: float, max_pixels: int, name: str, number: int, max_side: int | None = None):
    """Render one page to an RGB PIL image at ``scale`` (points → pixels), capped at ``max_pixels`` and,
    for OCR, at ``max_side`` pixels on the longest side: OCR shrinks larger renders to that size anyway
    (a 200-inch poster page rendered at the 40 MP cap took the indexer to 1,449 MiB peak RSS)."""
    with PDFIUM_LOCK:
        w, h = page.get_size()  # points
        pixels = w * h * scale * scale
        if pixels > max_pixels:
            scale *= (max_pixels / pixels) ** 0.5
        if max_side and max(w, h) * scale > max_side:
            scale = max_side / max(w, h)
        if w * scale < 1 or h * scale < 1:
            return None
        try:
            return page.render(scale=scale, grayscale=False).to_pil().convert("RGB")
        except Exception as exc:
            raise DecodeError(f"{name}: page {number} cannot be rendered ({exc})") from None

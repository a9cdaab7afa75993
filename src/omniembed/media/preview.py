"""Small PNG previews of indexed media for result pages: a rendered PDF page or an image thumbnail.

Decoding goes through the same guarded paths as embedding (sniffed type, decompression-bomb guard,
EXIF orientation, the pdfium lock), so a preview can never do what an embedding call would refuse.
"""

from __future__ import annotations

import io
from pathlib import Path

from ..errors import UnsupportedMediaType
from .image import load_image
from .pdf import PDFIUM_LOCK, open_pdf, render_page
from .source import Limits, MediaSource

__all__ = ["thumbnail_png"]


def thumbnail_png(path: str | Path, page: int = 1, width: int = 360, limits: Limits | None = None) -> bytes:
    """PNG bytes ``width`` pixels wide: page ``page`` of a PDF (clamped to its range) or an image."""
    limits = limits or Limits()
    src = MediaSource.from_path(Path(path), None, limits)
    if src.modality == "pdf":
        pdf = open_pdf(src)
        try:
            with PDFIUM_LOCK:
                n = len(pdf)
                pg = pdf[min(max(page, 1), n) - 1]
                scale = width / max(pg.get_width(), 1.0)
            try:
                img = render_page(pg, scale, limits.max_pdf_render_pixels, src.name, page)
            finally:
                with PDFIUM_LOCK:
                    pg.close()
        finally:
            with PDFIUM_LOCK:
                pdf.close()
        if img is None:
            raise UnsupportedMediaType(f"{src.name}: page {page} has no area to render")
    elif src.modality == "image":
        img = load_image(src, limits, max_side=width * 2)
        img.thumbnail((width, width * 2))
    else:
        raise UnsupportedMediaType(f"no preview for {src.modality} files")
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()

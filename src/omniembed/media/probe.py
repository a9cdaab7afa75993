"""What a media part will cost, read from its header before it is decoded (for :class:`~omniembed.budget.Budget`).

Cheap by construction: a PDF's page count (pypdfium2 reads the page tree, not the pages), an image's
size (Pillow reads the header only), an audio/video duration (the container header). A header that says
nothing, or something implausible for the file's size (a 3-hour claim on 2 KB), is replaced by an
upper bound from the byte size (1 kbit/s, lower than any real codec), so a lying header cannot make
hostile input cheap. Errors are left to the pipeline that decodes the part, which reports them
properly; a part that cannot be probed is charged by its byte size.
"""

from __future__ import annotations

from ..budget import Cost
from .source import Limits, MediaSource

__all__ = ["probe_cost"]

_MIN_BYTES_PER_S = 125  # 1 kbit/s: a duration above size/125 is not believable


def probe_cost(src: MediaSource, limits: Limits) -> Cost:
    """The estimated cost of one media part (never raises for unreadable media: decoding will)."""
    try:
        if src.modality == "pdf":
            return _pdf(src)
        if src.modality == "image":
            return _image(src)
        if src.modality in ("audio", "video"):
            return _media(src, limits)
    except Exception:  # noqa: BLE001 - a broken header is the decoder's to report
        pass
    if src.modality in ("audio", "video"):
        return Cost(media_seconds=min(limits.max_media_seconds, src.size / _MIN_BYTES_PER_S))
    return Cost(images=1) if src.modality == "image" else Cost(pages=1)


def _pdf(src: MediaSource) -> Cost:
    from .pdf import PDFIUM_LOCK, open_pdf

    pdf = open_pdf(src)
    try:
        with PDFIUM_LOCK:
            return Cost(pages=len(pdf))
    finally:
        with PDFIUM_LOCK:
            pdf.close()


def _image(src: MediaSource) -> Cost:
    from PIL import Image

    with src.open() as fh, Image.open(fh) as img:
        w, h = img.size
    return Cost(pixels=w * h, images=1)


def _media(src: MediaSource, limits: Limits) -> Cost:
    from .av import open_container

    c = open_container(src)
    try:
        dur = c.duration / 1_000_000 if c.duration else None
    finally:
        c.close()
    bound = src.size / _MIN_BYTES_PER_S
    if dur is None or dur <= 0 or dur > bound:
        dur = bound
    return Cost(media_seconds=min(float(dur), limits.max_media_seconds))

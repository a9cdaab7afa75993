"""OCR triage: cheap looks at a picture that decide how much OCR it gets (issue 15).

OCR is the largest cost in the document and video pipelines (RapidOCR ~1–2 s a page), so before it
runs, a page or frame gets a look that costs a few milliseconds on a ≤ 600 px grey thumbnail:

* **Blank?** A picture with no ink (a single colour, a smooth gradient, a few specks) has nothing to read
  and is not OCR'd at all (:func:`analyse` → ``blank``).
* **How big is the text?** Rows holding ink form bands, one per line of text; the median band height
  (≈ the capital height) is the line height in pixels (:func:`analyse` → ``line_px``). Detection (the DB network, whose cost
  grows with the pixel count) then runs at the size where a line is :data:`DET_LINE_PX` pixels tall
  rather than at the full size; recognition still crops every line from the full-resolution picture,
  so what it reads is unchanged. PDF pages without a text layer are *rendered* at the resolution where
  their text is legible (:func:`render_dpi`), never above today's 200 dpi.

* **Clean print?** Dark ink on a light page in regular line bands (:func:`clean_print`): ``Ocr`` gives
  it to Tesseract first, which reads such print as well as RapidOCR in about half the time.

Each rule falls back to today's behaviour when the look is not conclusive (photos, no clear bands).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Layout", "analyse", "det_scale", "render_dpi", "clean_print", "DET_LINE_PX", "REC_LINE_PX"]

#: Height of a line's ink band (≈ the capital height; what :func:`analyse` measures) detection works
#: at. PaddleOCR's own default (a page's longest side at 960 px) puts 10-pt print at ~8 px; 10 keeps
#: a margin (the dev set's 150-dpi man pages measure 14 px and are detected at 0.71×).
DET_LINE_PX = 10.0
#: Line height recognition crops should have: the recogniser reads 48-px-high line images, and
#: crops from lines of ≥ 24 px lose nothing when scaled to it (the dev set's 150-dpi pages: ~22 px).
REC_LINE_PX = 30.0
#: Never shrink detection's input by more than this: lines the band estimate missed (small print in a
#: footer beside large body text) must stay detectable.
MIN_DET_SCALE = 0.5
_THUMB_SIDE = 600  # the longest side of the thumbnail the look is taken on
_INK_DELTA = 60  # grey levels between ink and the page's background (line bands)
_BLANK_DELTA = 32  # ... for the blank test: faint pencil or a pale scan is not blank
_BLANK_INK = 0.00005  # below this share of ink pixels a picture is blank (one page number: 0.00002)
_MIN_BANDS = 3  # fewer bands than this: no estimate (a photo, a logo)
_LIGHT_BACKGROUND = 170  # clean print: the page's median grey level at least this light
_MAX_PRINT_INK = 0.25  # ... and at most this share of ink (the dev set's man pages: 0.01–0.05)


@dataclass(frozen=True)
class Layout:
    """What the cheap look found: ``blank`` (nothing to read), ``line_px`` (median line height in the
    picture's own pixels, ``None`` when there is no clear estimate), the ink share and the background's
    grey level."""

    blank: bool
    line_px: float | None
    ink: float
    background: int = 255  # the median grey level (0 black … 255 white)


def _grey(a: np.ndarray) -> np.ndarray:
    """The green channel as int16 (close enough to luminance for telling ink from paper, and free)."""
    if a.ndim == 3:
        a = a[..., 1] if a.shape[2] >= 3 else a[..., 0]
    return a.astype(np.int16)


def analyse(image: np.ndarray) -> Layout:
    """The cheap look at an HxW or HxWx3 uint8 picture (≈ 5 ms for a 1240×1755 page)."""
    a = np.asarray(image)
    h, w = a.shape[:2]
    if h < 2 or w < 2:
        return Layout(True, None, 0.0)
    step = max(1, int(np.ceil(max(h, w) / _THUMB_SIDE)))
    # Row bands need vertical detail: keep every row of the thumbnail's height band at full vertical
    # resolution up to 2× the thumbnail, sample columns more sparsely.
    vstep = max(1, step // 2)
    g = _grey(a[::vstep, ::step])
    counts = np.bincount(np.clip(g, 0, 255).ravel(), minlength=256)
    background = int(np.searchsorted(np.cumsum(counts), g.size / 2))  # the median grey level
    dev = np.abs(g - background)
    if float((dev > _BLANK_DELTA).mean()) < _BLANK_INK:  # faint marks count here: only paper is blank
        return Layout(True, None, float((dev > _INK_DELTA).mean()), background)
    ink = dev > _INK_DELTA
    share = float(ink.mean())
    line = _line_height(ink) if share < 0.5 else None
    return Layout(False, None if line is None else line * vstep, share, background)


def _line_height(ink: np.ndarray) -> float | None:
    """Median height of the runs of rows that hold ink, over a few vertical strips (columns of text
    that do not line up would merge into one tall band if the whole width were projected)."""
    h, w = ink.shape
    strips = max(1, min(4, w // 100))
    heights: list[int] = []
    for s in range(strips):
        part = ink[:, s * w // strips:(s + 1) * w // strips]
        rows = part.mean(axis=1) > 0.01
        if rows.sum() == 0:
            continue
        edges = np.flatnonzero(np.diff(np.concatenate([[0], rows.astype(np.int8), [0]])))
        starts, ends = edges[0::2], edges[1::2]
        heights.extend(int(e - s0) for s0, e in zip(starts, ends) if e - s0 >= 2)
    if len(heights) < _MIN_BANDS:
        return None
    return float(np.median(heights))


def clean_print(layout: Layout) -> bool:
    """Dark print on a light page in regular lines (a document page, a man page, a light slide): what
    Tesseract reads as well as RapidOCR in a fraction of the time (``Ocr`` tries it first). Photos, dark
    screenshots and pages without a line estimate are not."""
    return (not layout.blank and layout.line_px is not None and layout.background >= _LIGHT_BACKGROUND
            and layout.ink <= _MAX_PRINT_INK)


def det_scale(layout: Layout, resized: float = 1.0) -> float:
    """The factor detection's input is scaled by (≤ 1): lines come out :data:`DET_LINE_PX` tall.
    ``resized``: how much the picture was shrunk after ``layout`` was measured on it (its lines are
    that much shorter now)."""
    if layout.line_px is None:
        return 1.0
    return float(min(1.0, max(MIN_DET_SCALE, DET_LINE_PX / (layout.line_px * resized))))


def render_dpi(layout: Layout, probe_dpi: float, max_dpi: float) -> float:
    """The dpi a page should be rendered at for OCR, from a look at a render at ``probe_dpi``: lines
    :data:`REC_LINE_PX` pixels tall, between ``probe_dpi`` and ``max_dpi`` (today's 200)."""
    if layout.line_px is None:
        return max_dpi
    return float(min(max_dpi, max(probe_dpi, probe_dpi * REC_LINE_PX / layout.line_px)))

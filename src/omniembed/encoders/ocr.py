"""OCR: the text in images, scanned PDF pages and video frames.

Two engines, both offline:

* **RapidOCR** (default): PP-OCR detection + recognition ONNX models that ship inside the ``rapidocr``
  wheel. Reads Latin-script text and Chinese; fast and accurate on screenshots, slides and scans.
* **Tesseract** (Debian ``tesseract-ocr`` + ``tesseract-ocr-<lang>`` packs), for scripts RapidOCR's
  bundled models lack (Cyrillic, Japanese, Arabic, Devanagari…).

How the language is chosen (``ocr`` / ``ocr_languages`` on :class:`omniembed.Embedder`, or the
``OMNIEMBED_OCR`` / ``OMNIEMBED_OCR_LANGUAGES`` environment variables):

* ``ocr="rapidocr"`` — RapidOCR only.
* ``ocr="tesseract"`` — Tesseract only, with ``ocr_languages`` (e.g. ``"rus+eng"``).
* ``ocr="auto"`` (default) — RapidOCR first; when it finds no text or reads it with low confidence
  (a sign of a script it does not know) and Tesseract is installed, Tesseract runs with
  ``ocr_languages`` (default: every installed pack among eng, deu, fra, spa, ita, por, rus, jpn, chi_sim)
  and the more confident reading wins.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["OcrResult", "Ocr", "get_ocr", "tesseract_languages", "OCR_MAX_SIDE"]

#: The longest side OCR reads. RapidOCR shrinks every input to this size before detection (its
#: ``Global.max_side_len``), so images are decoded no larger (``media.image.load_image(max_side=)``):
#: decoding an 8900×8900 picture in full and handing it over cost ~1.2 GiB more for the same text.
OCR_MAX_SIDE = 2000

_DEFAULT_TESS = ("eng", "deu", "fra", "spa", "ita", "por", "rus", "jpn", "chi_sim")


@dataclass
class OcrResult:
    text: str
    confidence: float  # mean line confidence in [0, 1]; 0 when nothing was read
    lines: int
    engine: str


@lru_cache(maxsize=1)
def tesseract_languages() -> tuple[str, ...]:
    """Installed Tesseract language packs (empty when Tesseract is not installed)."""
    exe = shutil.which("tesseract")
    if not exe:
        return ()
    try:
        out = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return tuple(line.strip() for line in out.splitlines()[1:] if line.strip() and line.strip() != "osd")


class Ocr:
    """Reads the text in an RGB image (numpy array HxWx3, uint8)."""

    def __init__(self, engine: str | None = None, languages: str | None = None):
        self.engine = (engine or os.environ.get("OMNIEMBED_OCR") or "auto").lower()
        if self.engine not in ("auto", "rapidocr", "tesseract"):
            raise ValueError(f"ocr engine must be auto, rapidocr or tesseract, not {self.engine!r}")
        langs = languages or os.environ.get("OMNIEMBED_OCR_LANGUAGES")
        if not langs:
            installed = tesseract_languages()
            langs = "+".join(lang for lang in _DEFAULT_TESS if lang in installed) or "eng"
        self.languages = langs
        self._rapid = None
        self._lock = threading.Lock()
        self.min_confidence = 0.80

    def _rapidocr(self):
        if self._rapid is None:
            from rapidocr import RapidOCR

            self._rapid = RapidOCR(params={"Global.log_level": "error", "Global.max_side_len": OCR_MAX_SIDE})
        return self._rapid

    def read(self, image: np.ndarray) -> OcrResult:
        if self.engine == "tesseract":
            return self._tesseract(image)
        result = self._rapid_read(image)
        if self.engine == "auto" and result.confidence < self.min_confidence and tesseract_languages():
            alt = self._tesseract(image)
            if alt.text and alt.confidence > result.confidence:
                return alt
        return result

    def _rapid_read(self, image: np.ndarray) -> OcrResult:
        with self._lock:
            out = self._rapidocr()(image)
        if out is None or out.txts is None or len(out.txts) == 0:
            return OcrResult("", 0.0, 0, "rapidocr")
        lines = _reading_order(list(out.boxes), list(out.txts), list(out.scores))
        texts = [t for t, _ in lines if t.strip()]
        conf = float(np.mean([s for _, s in lines])) if lines else 0.0
        return OcrResult("\n".join(texts), conf, len(texts), "rapidocr")

    def _tesseract(self, image: np.ndarray) -> OcrResult:
        if not tesseract_languages():
            return OcrResult("", 0.0, 0, "tesseract")
        import pytesseract
        from PIL import Image

        try:
            data = pytesseract.image_to_data(
                Image.fromarray(image), lang=self.languages, output_type=pytesseract.Output.DICT, timeout=120
            )
        except (RuntimeError, pytesseract.TesseractError):
            return OcrResult("", 0.0, 0, "tesseract")
        lines: dict[tuple[int, int, int], list[str]] = {}
        confs = []
        for word, conf, b, p, ln in zip(
            data["text"], data["conf"], data["block_num"], data["par_num"], data["line_num"]
        ):
            if word.strip() and float(conf) >= 0:
                lines.setdefault((b, p, ln), []).append(word)
                confs.append(float(conf) / 100.0)
        text = "\n".join(" ".join(ws) for ws in lines.values())
        return OcrResult(text, float(np.mean(confs)) if confs else 0.0, len(lines), "tesseract")


def _reading_order(boxes, txts, scores) -> list[tuple[str, float]]:
    """Sort detected lines top-to-bottom, then left-to-right within a row of similar height."""
    items = []
    for box, txt, score in zip(boxes, txts, scores):
        b = np.asarray(box, dtype=np.float32)
        items.append((float(b[:, 1].min()), float(b[:, 1].max()), float(b[:, 0].min()), txt, float(score)))
    items.sort(key=lambda t: (t[0], t[2]))
    rows: list[list[tuple]] = []
    for it in items:
        if rows:
            last = rows[-1][0]
            height = max(1.0, last[1] - last[0])
            if abs(it[0] - last[0]) < 0.5 * height:
                rows[-1].append(it)
                continue
        rows.append([it])
    out = []
    for row in rows:
        row.sort(key=lambda t: t[2])
        out.append((" ".join(t[3] for t in row), float(np.mean([t[4] for t in row]))))
    return out


@lru_cache(maxsize=4)
def get_ocr(engine: str | None = None, languages: str | None = None) -> Ocr:
    """A shared OCR instance per (engine, languages)."""
    return Ocr(engine, languages)

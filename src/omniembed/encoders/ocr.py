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

Triage (``encoders.ocr_triage``, on by default; ``triage=False`` or ``OMNIEMBED_OCR_TRIAGE=0`` for the
plain RapidOCR call): a blank picture is not read at all; detection runs at the size where a line of
text is ~16 px tall, recognition reads crops from the full-resolution picture; the angle classifier
runs on a sample of lines and only goes over every line when the sample says the page is upside
down; lines are recognised in larger batches, squeezed horizontally (:data:`REC_SQUEEZE`). With
``ocr="auto"``, clean print (dark text on a light page in regular lines) is read by Tesseract first
(English, or ``ocr_languages`` when given) and that reading is kept when it is confident throughout
(:data:`PRINT_MIN_CONF`); else RapidOCR reads the page as above (``OMNIEMBED_OCR_PRINT=0`` turns this
off). Profiled on the dev set's man pages, RapidOCR's recognition network was 85 % of a page's time
(its convolutions 70 % of that), detection 11 %, everything in Python < 3 %; Tesseract reads the same
words in 0.4–0.6 of the time. Measured in ``bench/bench_ocr.py`` (docs/engine.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .._env import flag
from .ocr_triage import Layout, analyse, clean_print, det_scale

__all__ = ["OcrResult", "Ocr", "get_ocr", "tesseract_languages", "OCR_MAX_SIDE", "REC_SQUEEZE", "REC_BATCH"]

#: The longest side OCR reads. RapidOCR shrinks every input to this size before detection (its
#: ``Global.max_side_len``), so images are decoded no larger (``media.image.load_image(max_side=)``):
#: decoding an 8900×8900 picture in full and handing it over cost ~1.2 GiB more for the same text.
OCR_MAX_SIDE = 2000

#: Recognition reads each line crop scaled to 48 px high and squeezed to this share of its width: its
#: cost grows with the width. Measured on 22 dev-set pages (bench/bench_ocr.py): 0.75 keeps 97.5 % of
#: the words and every page's query line; 0.6 was faster (1.58× vs 1.28× the plain call) but kept
#: only 89.5 % of the words and lost the query line on 5 of 19 pages.
REC_SQUEEZE = 0.75
#: Lines recognised per network call (RapidOCR's default is 6); lines are sorted by width first, so a
#: larger batch pads little and pays the per-call overhead less often.
REC_BATCH = 16
#: The angle classifier looks at this many lines first; only if most of them are upside down does it
#: run on every line (RapidOCR runs it on every line of every page).
CLS_SAMPLE = 6
#: Clean print (:func:`~.ocr_triage.clean_print`) is read by Tesseract first; its reading is kept when
#: the mean word confidence is at least this and at most :data:`PRINT_MAX_LOW` of the words are below
#: :data:`PRINT_LOW_WORD`, else RapidOCR reads the page as before. Measured on 20 of the dev set's man
#: pages (page images and PDF pages rendered as scans): Tesseract ``eng`` reads the same words as
#: RapidOCR (98–100 % overlap) in 0.4–0.6 of its time, mean confidence 0.886–0.941 with 0–8.7 % low
#: words. German and French print read with ``eng`` (umlauts and accents lost) came out at 0.77 / 0.88
#: with 20 % / 11 % low words, so they go to RapidOCR.
PRINT_MIN_CONF = 0.88
PRINT_LOW_WORD = 0.60
PRINT_MAX_LOW = 0.10

_DEFAULT_TESS = ("eng", "deu", "fra", "spa", "ita", "por", "rus", "jpn", "chi_sim")


@dataclass
class OcrResult:
    text: str
    confidence: float  # mean line confidence in [0, 1]; 0 when nothing was read
    lines: int
    engine: str


@lru_cache(maxsize=1)
def _tesseract_exe() -> str | None:
    return shutil.which("tesseract")


@lru_cache(maxsize=1)
def tesseract_languages() -> tuple[str, ...]:
    """Installed Tesseract language packs (empty when Tesseract is not installed)."""
    exe = _tesseract_exe()
    if not exe:
        return ()
    try:
        out = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return tuple(line.strip() for line in out.splitlines()[1:] if line.strip() and line.strip() != "osd")


#: Seconds one Tesseract run may take on one picture.
TESSERACT_TIMEOUT_S = 120


def tesseract_tsv(image: np.ndarray, languages: str) -> dict[str, list[str]] | None:
    """Tesseract's word table (``tsv`` output: ``text``, ``conf``, ``block_num``, ``line_num``… as
    columns) for one picture; None when Tesseract is missing, fails or times out.

    Run with ONE OpenMP thread (``OMP_THREAD_LIMIT=1`` unless the environment sets it): Tesseract links
    libgomp and by default uses a thread per core, which made it slower, not faster — on 6 eval-dev page
    images, 3.59 s a page against 1.85 s with one thread on an idle 2-core machine, and 8.91 s against
    2.87 s with 2 busy processes beside it (2026-12-01, quiet window, alternating; the thread pool waits
    spinning). pytesseract hands the subprocess the process's own environment, so Tesseract is called
    directly here; setting ``OMP_THREAD_LIMIT`` process-wide would also cap the server's worker processes."""
    exe = _tesseract_exe()  # looked up once, not on every page
    if not exe:
        return None
    from PIL import Image

    pic = Image.fromarray(np.ascontiguousarray(image))
    if pic.mode not in ("L", "RGB"):
        pic = pic.convert("RGB")
    env = dict(os.environ)
    env.setdefault("OMP_THREAD_LIMIT", "1")
    with tempfile.TemporaryDirectory(prefix="omniembed-ocr-") as tmp:
        src = os.path.join(tmp, "page.pnm")  # uncompressed: no PNG encode and decode around the OCR
        pic.save(src, format="PPM")
        try:
            proc = subprocess.run([exe, src, "stdout", "-l", languages, "tsv"], env=env, capture_output=True,
                                  timeout=TESSERACT_TIMEOUT_S)  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            return None
    if proc.returncode != 0:
        return None
    lines = proc.stdout.decode("utf-8", "replace").splitlines()
    if not lines:
        return None
    header = lines[0].split("\t")
    table: dict[str, list[str]] = {name: [] for name in header}
    for line in lines[1:]:
        cells = line.split("\t")
        if len(cells) == len(header) - 1:  # an empty text cell at the end of the row
            cells.append("")
        if len(cells) != len(header):
            continue
        for name, cell in zip(header, cells):
            table[name].append(cell)
    return table


class Ocr:
    """Reads the text in an RGB image (numpy array HxWx3, uint8)."""

    def __init__(self, engine: str | None = None, languages: str | None = None, triage: bool | None = None):
        self.engine = (engine or os.environ.get("OMNIEMBED_OCR") or "auto").lower()
        if self.engine not in ("auto", "rapidocr", "tesseract"):
            raise ValueError(f"ocr engine must be auto, rapidocr or tesseract, not {self.engine!r}")
        langs = languages or os.environ.get("OMNIEMBED_OCR_LANGUAGES")
        # clean print is read first in the languages asked for, or else in English alone: every extra
        # pack makes Tesseract slower (eng+deu+fra: 1.3–2×), and non-English print falls through to
        # RapidOCR by its confidence
        self.print_languages = langs or ("eng" if "eng" in tesseract_languages() else "")
        if not langs:
            installed = tesseract_languages()
            langs = "+".join(lang for lang in _DEFAULT_TESS if lang in installed) or "eng"
        self.languages = langs
        self._rapid = None
        self._lock = threading.Lock()
        self.min_confidence = 0.80
        if triage is None:
            triage = flag("OMNIEMBED_OCR_TRIAGE", True)
        self.triage = triage
        self.rec_squeeze = REC_SQUEEZE
        # Tesseract first on clean print (with triage, engine "auto"); OMNIEMBED_OCR_PRINT=0 turns it off
        self.print_first = flag("OMNIEMBED_OCR_PRINT", True)

    def _rapidocr(self):
        if self._rapid is None:
            from rapidocr import RapidOCR

            params: dict = {"Global.log_level": "error", "Global.max_side_len": OCR_MAX_SIDE}
            # one CPU budget for the process (omniembed.cpu, OMNIEMBED_THREADS): the same as onnxruntime's
            # own default (every core) unless the process was given fewer
            from ..cpu import cores

            params["EngineConfig.onnxruntime.intra_op_num_threads"] = cores()
            self._rapid = RapidOCR(params=params)
        return self._rapid

    def read(self, image: np.ndarray) -> OcrResult:
        layout = None
        if self.triage:
            layout = analyse(image)
            if layout.blank:  # nothing to read: neither RapidOCR nor Tesseract runs
                return OcrResult("", 0.0, 0, "triage")
        if self.engine == "tesseract":
            return self._tesseract(image)
        if layout is not None and self.engine == "auto" and self.print_first and clean_print(layout):
            first = self._read_print(image)
            if first is not None:
                return first
        result = self._rapid_read(image, layout)
        if self.engine == "auto" and result.confidence < self.min_confidence and tesseract_languages():
            alt = self._tesseract(image)
            if alt.text and alt.confidence > result.confidence:
                return alt
        return result

    def _rapid_read(self, image: np.ndarray, layout: Layout | None = None) -> OcrResult:
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        with self._lock:
            if layout is not None and image.shape[2] == 3 and min(image.shape[:2]) >= _MIN_TRIAGE_SIDE:
                boxes, txts, scores = self._triaged(image, layout)
            else:
                out = self._rapidocr()(image)
                if out is None or out.txts is None:
                    boxes, txts, scores = [], [], []
                else:
                    boxes, txts, scores = list(out.boxes), list(out.txts), list(out.scores)
        if len(txts) == 0:
            return OcrResult("", 0.0, 0, "rapidocr")
        lines = _reading_order(boxes, txts, scores)
        texts = [t for t, _ in lines if t.strip()]
        conf = float(np.mean([s for _, s in lines])) if lines else 0.0
        return OcrResult("\n".join(texts), conf, len(texts), "rapidocr")

    def _triaged(self, image: np.ndarray, layout: Layout) -> tuple[list, list, list]:
        """RapidOCR's three stages, called directly: detection at :func:`det_scale`, crops from the
        full picture, a sampled angle check, squeezed and batched recognition."""
        import cv2
        from rapidocr.ch_ppocr_rec import TextRecInput
        from rapidocr.utils.process_img import get_rotate_crop_image

        eng = self._rapidocr()
        h, w = image.shape[:2]
        f = min(1.0, OCR_MAX_SIDE / max(h, w))
        if f < 1.0:  # what RapidOCR's own preprocessing does with larger inputs
            image = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
            h, w = image.shape[:2]
        scale = det_scale(layout, f)  # layout was measured before the resize: its lines are f times shorter now
        small = image if scale >= 1.0 else cv2.resize(
            image, (max(32, round(w * scale)), max(32, round(h * scale))), interpolation=cv2.INTER_AREA)
        det = eng._load_det_model()(small)
        if det.boxes is None or len(det.boxes) == 0:
            return [], [], []
        sx, sy = w / small.shape[1], h / small.shape[0]
        boxes = np.asarray(det.boxes, dtype=np.float32) * np.asarray([sx, sy], dtype=np.float32)
        boxes[..., 0] = boxes[..., 0].clip(0, w - 1)
        boxes[..., 1] = boxes[..., 1].clip(0, h - 1)
        crops = [get_rotate_crop_image(image, b.copy()) for b in boxes]
        keep = [i for i, c in enumerate(crops) if c.shape[0] >= 2 and c.shape[1] >= 2]
        boxes, crops = boxes[keep], [crops[i] for i in keep]
        if not crops:
            return [], [], []
        if eng.use_cls:
            crops = self._orient(eng, crops)
        squeezed = [_squeeze(c, self.rec_squeeze) for c in crops]
        rec = eng._load_rec_model()
        rec.rec_batch_num = REC_BATCH
        out = rec(TextRecInput(img=squeezed))
        min_score = float(eng.text_score)
        kept = [(b, t, s) for b, t, s in zip(boxes, out.txts, out.scores) if t.strip() and s >= min_score]
        return [k[0] for k in kept], [k[1] for k in kept], [k[2] for k in kept]

    @staticmethod
    def _orient(eng, crops: list[np.ndarray]) -> list[np.ndarray]:
        """Turn upside-down lines: a sample of the widest lines decides whether the classifier is needed."""
        cls = eng._load_cls_model()
        order = sorted(range(len(crops)), key=lambda i: -crops[i].shape[1])[:CLS_SAMPLE]
        sample = cls([crops[i] for i in order])
        flipped = sum(1 for label, _ in (sample.cls_res or []) if label == "180")
        if flipped * 2 <= len(order):
            return crops
        return list(cls(crops).img_list)

    def _read_print(self, image: np.ndarray) -> OcrResult | None:
        """Tesseract's reading of clean print when it is confident throughout (:data:`PRINT_MIN_CONF`,
        :data:`PRINT_MAX_LOW`), else ``None`` (RapidOCR reads the page)."""
        if not self.print_languages:
            return None
        result, confs = self._tesseract_words(image, self.print_languages)
        if not confs or result.confidence < PRINT_MIN_CONF:
            return None
        if sum(1 for c in confs if c < PRINT_LOW_WORD) > PRINT_MAX_LOW * len(confs):
            return None
        return result

    def _tesseract(self, image: np.ndarray) -> OcrResult:
        return self._tesseract_words(image, self.languages)[0]

    def _tesseract_words(self, image: np.ndarray, languages: str) -> tuple[OcrResult, list[float]]:
        """Tesseract's reading (lines in its reading order) and each word's confidence in [0, 1]."""
        data = tesseract_tsv(image, languages) if tesseract_languages() else None
        if data is None or "text" not in data:
            return OcrResult("", 0.0, 0, "tesseract"), []
        lines: dict[tuple[int, int, int], list[str]] = {}
        confs = []
        for word, conf, b, p, ln in zip(
            data["text"], data["conf"], data["block_num"], data["par_num"], data["line_num"]
        ):
            # whole percent, as pytesseract gave them (PRINT_MIN_CONF and the gate were measured so)
            if word.strip() and int(float(conf)) >= 0:
                lines.setdefault((b, p, ln), []).append(word)
                confs.append(int(float(conf)) / 100.0)
        text = "\n".join(" ".join(ws) for ws in lines.values())
        return OcrResult(text, float(np.mean(confs)) if confs else 0.0, len(lines), "tesseract"), confs


_MIN_TRIAGE_SIDE = 64  # smaller pictures (a single word, a line strip) go through RapidOCR unchanged


def _squeeze(crop: np.ndarray, squeeze: float) -> np.ndarray:
    """A line crop scaled to the recogniser's 48-px height and ``squeeze`` of its width."""
    import cv2

    h, w = crop.shape[:2]
    if squeeze >= 1.0:
        return crop
    new_w = max(16, int(round(w * 48.0 / h * squeeze)))
    return cv2.resize(crop, (new_w, 48), interpolation=cv2.INTER_AREA if h > 48 else cv2.INTER_LINEAR)


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

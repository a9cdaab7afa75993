"""OCR triage (issue 15) on real rendered pages and pictures: what is skipped, at what size it is read,
and that the words still come out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from media_factory import text_image
from omniembed.encoders.ocr import PRINT_MIN_CONF, Ocr
from omniembed.encoders.ocr_triage import DET_LINE_PX, MIN_DET_SCALE, Layout, analyse, clean_print, det_scale
from omniembed.media.pdf import OCR_DPI, open_pdf, render_for_ocr
from omniembed.media.source import Limits, MediaSource


def _picture_pdf(path: Path, img: Image.Image | None) -> Path:
    """An A4 PDF whose one page is ``img`` across the page width (no text layer), or a blank page."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    w, h = A4
    if img is not None:
        dh = (w - 60) * img.height / img.width
        c.drawImage(ImageReader(img), 30, h - 30 - dh, width=w - 60, height=dh)
    c.showPage()
    c.save()
    return path


def _render(path: Path, triage: bool):
    limits = Limits()
    pdf = open_pdf(MediaSource.from_path(path, None, limits))
    try:
        page = pdf[0]
        return render_for_ocr(page, limits.max_pdf_render_pixels, path.name, 1, triage=triage)
    finally:
        pdf.close()


@pytest.fixture(scope="module")
def readers():
    return Ocr(engine="rapidocr", triage=False), Ocr(engine="rapidocr", triage=True)


def test_blank_page_is_not_rendered_for_ocr(tmp_path):
    path = _picture_pdf(tmp_path / "blank.pdf", None)
    assert _render(path, triage=True) is None
    assert _render(path, triage=False) is not None  # the old path rendered it at 200 dpi and OCR'd it


def test_blank_pdf_page_goes_through_the_library_without_ocr(embedder, tmp_path):
    path = _picture_pdf(tmp_path / "blank.pdf", None)
    [res] = embedder.embed_detailed(path)
    assert "no_text" in res.flags
    assert not any(p.source == "ocr" for p in res.pieces)


def test_blank_and_near_blank_pictures(readers):
    _, fast = readers
    white = np.full((1000, 800, 3), 255, np.uint8)
    assert analyse(white).blank
    assert fast.read(white).engine == "triage"  # neither RapidOCR nor Tesseract ran
    speck = white.copy()
    speck[500:503, 400:403] = 0  # a speck of dust
    assert analyse(speck).blank
    gradient = np.repeat(np.linspace(30, 220, 800, dtype=np.uint8)[None, :, None], 1000, 0).repeat(3, 2)
    assert fast.read(gradient).text == ""  # not blank by the ink rule, but OCR finds nothing in it
    word = np.asarray(text_image(["Exit"], size=(1000, 800), font_size=40))  # one short word is not blank
    assert not analyse(word).blank
    assert "Exit" in fast.read(word).text


def test_big_text_page_is_rendered_at_low_resolution_and_read(tmp_path, readers):
    lines = ["Quarterly Report", "Revenue grew", "Asia and Europe"]
    path = _picture_pdf(tmp_path / "big.pdf", text_image(lines, size=(1240, 900), font_size=110))
    low = _render(path, triage=True)
    full = _render(path, triage=False)
    assert low.width < 0.6 * full.width  # 200 dpi was far more than these lines need
    _, fast = readers
    text = fast.read(np.asarray(low)).text
    for line in lines:
        assert line in text, text


def test_small_print_keeps_full_resolution(tmp_path, readers):
    lines = ["The filter must be rinsed under warm water every month.",
             "Error code E4 means that the water inlet is blocked."]
    path = _picture_pdf(tmp_path / "small.pdf", text_image(lines, size=(2400, 300), font_size=34))
    img = _render(path, triage=True)
    full = _render(path, triage=False)
    assert img.size == full.size  # small print: rendered at OCR_DPI as before
    _, fast = readers
    text = fast.read(np.asarray(img)).text.lower()
    assert "warm water" in text and "inlet is blocked" in text, text
    assert OCR_DPI == 200


def test_detection_scale_follows_the_text_size():
    big = analyse(np.asarray(text_image(["Large headline text", "Second line here", "Third"], size=(1600, 900),
                                        font_size=90)))
    small = analyse(np.asarray(text_image(["small print"] * 12, size=(1600, 900), font_size=11)))
    assert big.line_px and small.line_px and big.line_px > 3 * small.line_px
    assert det_scale(big) == max(MIN_DET_SCALE, DET_LINE_PX / big.line_px) < 1.0
    assert det_scale(small) == 1.0
    # a picture shrunk to OCR_MAX_SIDE after the look: its lines are shorter by that factor, so detection
    # shrinks it less (a 4,000-px scan at half size: 28-px lines are 14 px, not 28)
    scan = Layout(False, 28.0, 0.1)
    assert det_scale(scan) == max(MIN_DET_SCALE, DET_LINE_PX / 28.0)
    assert det_scale(scan, 0.5) == DET_LINE_PX / 14.0 > det_scale(scan)


def test_triaged_reading_matches_the_plain_one_on_a_slide(readers):
    plain, fast = readers
    img = np.asarray(text_image(["Quarterly Results 2026", "Revenue grew 12 percent", "Strong sales in Asia"],
                                size=(1600, 900), font_size=70))
    a, b = plain.read(img), fast.read(img)
    assert b.engine == "rapidocr"
    assert a.text.split() == b.text.split()


def test_upside_down_page_is_turned(readers):
    _, fast = readers
    img = text_image(["Invoice number 4711", "Total due 250 euros", "Pay by March",
                      "Thank you for your order"], size=(1200, 700), font_size=48)
    text = fast.read(np.asarray(img.rotate(180))).text
    assert "4711" in text and "Invoice" in text, text


_MANUAL = ["The filter must be rinsed under warm water every month.",
           "Error code E4 means that the water inlet is blocked.",
           "Unplug the machine before you open the front panel.",
           "Use only the cleaning tablets named in this manual.",
           "The warranty does not cover damage from hard water."]


def test_clean_print_is_read_by_tesseract_first():
    img = np.asarray(text_image(_MANUAL, size=(1240, 700), font_size=30))
    layout = analyse(img)
    assert clean_print(layout) and layout.background == 255
    fast = Ocr(engine="auto", triage=True)
    if not fast.print_languages:
        pytest.skip("Tesseract eng is not installed")
    res = fast.read(img)
    assert res.engine == "tesseract" and res.confidence >= PRINT_MIN_CONF
    text = res.text.lower()
    assert "warm water" in text and "inlet is blocked" in text and "hard water" in text, text
    rapid = Ocr(engine="auto", triage=True)
    rapid.print_first = False  # OMNIEMBED_OCR_PRINT=0: the triaged RapidOCR reading, as before
    other = rapid.read(img)
    assert other.engine == "rapidocr"
    assert set(res.text.lower().split()) >= {"filter", "rinsed", "warranty", "tablets", "unplug"}
    assert set(other.text.lower().split()) >= {"filter", "rinsed", "warranty", "tablets", "unplug"}


def test_german_print_is_not_kept_from_the_english_pass():
    """Tesseract eng loses umlauts with lower confidence: the page goes on to RapidOCR / the auto fallback."""
    lines = ["Größere Änderungen für die Übersetzung müssen",
             "zuerst geprüft werden, daß später keine Fehler",
             "übrig bleiben. Die Straße führt über Brücken."] * 3
    img = np.asarray(text_image(lines, size=(1240, 900), font_size=28))
    fast = Ocr(engine="auto", triage=True)
    if not fast.print_languages:
        pytest.skip("Tesseract eng is not installed")
    assert clean_print(analyse(img))
    assert fast._read_print(img) is None
    assert "Änderungen" in fast.read(img).text


def test_dark_screens_and_photos_are_not_clean_print():
    dark = np.asarray(text_image(_MANUAL, size=(1240, 700), fg="white", bg="black", font_size=30))
    layout = analyse(dark)
    assert not layout.blank and layout.background < 50 and not clean_print(layout)
    noise = np.random.default_rng(0).integers(0, 256, (600, 800, 3), dtype=np.uint8)
    assert not clean_print(analyse(noise))
    assert not clean_print(Layout(True, None, 0.0))


def test_tesseract_runs_with_one_openmp_thread_and_reads_the_words(monkeypatch):
    """Tesseract is called directly (``ocr.tesseract_tsv``) so that it gets ``OMP_THREAD_LIMIT=1``: its
    default thread per core made it 2-3x slower (docstring). The live process is inspected for its thread
    count while it reads a large page; a picture of any mode is read; a missing language is None."""
    import subprocess as sp
    import threading
    import time

    from omniembed.encoders import ocr as ocr_mod

    if "eng" not in ocr_mod.tesseract_languages():
        pytest.skip("Tesseract eng is not installed")
    monkeypatch.delenv("OMP_THREAD_LIMIT", raising=False)
    seen: list[int] = []
    real_run = sp.run

    def watched(cmd, **kw):  # the real subprocess, started by hand so its threads can be counted
        assert kw["env"]["OMP_THREAD_LIMIT"] == "1"
        proc = sp.Popen(cmd, env=kw["env"], stdout=sp.PIPE, stderr=sp.PIPE)

        def count():
            while proc.poll() is None:
                try:
                    seen.append(len(list(Path(f"/proc/{proc.pid}/task").iterdir())))
                except OSError:
                    pass
                time.sleep(0.01)

        t = threading.Thread(target=count)
        t.start()
        out, err = proc.communicate(timeout=kw.get("timeout"))
        t.join()
        return sp.CompletedProcess(cmd, proc.returncode, out, err)

    monkeypatch.setattr(ocr_mod.subprocess, "run", watched)
    page = np.asarray(text_image(_MANUAL * 3, size=(1240, 2000), font_size=30))
    table = ocr_mod.tesseract_tsv(page, "eng")
    monkeypatch.setattr(ocr_mod.subprocess, "run", real_run)
    assert table is not None and seen and max(seen) == 1, seen
    words = {w.lower() for w in table["text"] if w.strip()}
    assert {"filter", "warranty", "tablets"} <= words
    assert all(-1 <= float(c) <= 100 for c in table["conf"])
    rgba = np.dstack([np.asarray(text_image(["Descale the boiler"], size=(600, 120)).convert("RGB")),
                      np.full((120, 600), 255, np.uint8)])
    assert "boiler" in {w.lower() for w in ocr_mod.tesseract_tsv(rgba, "eng")["text"]}
    assert ocr_mod.tesseract_tsv(page, "xx_not_a_language") is None

"""Real test media, made on the spot with real libraries (Pillow, reportlab)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_CANDIDATES = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
]


def font(size: int):
    for f in FONT_CANDIDATES:
        if Path(f).exists():
            return ImageFont.truetype(f, size)
    return ImageFont.load_default(size=size)


def text_image(lines: list[str], size=(1000, 400), fg="black", bg="white", font_size=40) -> Image.Image:
    """A screenshot-like picture with large, readable text lines."""
    img = Image.new("RGB", size, bg)
    d = ImageDraw.Draw(img)
    f = font(font_size)
    y = 30
    for line in lines:
        d.text((30, y), line, fill=fg, font=f)
        y += int(font_size * 1.6)
    return img


def image_bytes(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def text_pdf(path: Path, pages: list[list[str]], encrypt: str | None = None) -> Path:
    """A PDF with a real text layer, one list of lines per page (reportlab)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4, encrypt=encrypt)
    for lines in pages:
        y = 800
        for line in lines:
            c.setFont("Helvetica", 12)
            c.drawString(60, y, line)
            y -= 18
        c.showPage()
    c.save()
    return path


def scanned_pdf(path: Path, lines: list[str]) -> Path:
    """A PDF whose only page is a picture of text: no text layer, so OCR must read it."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    img = text_image(lines, size=(1240, 900), font_size=44)
    c = canvas.Canvas(str(path), pagesize=A4)
    w, h = A4
    c.drawImage(ImageReader(img), 30, h - 30 - (w - 60) * 900 / 1240, width=w - 60, height=(w - 60) * 900 / 1240)
    c.showPage()
    c.save()
    return path

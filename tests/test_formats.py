"""Formats the Gemini API accepts that people have on disk: HEIC/HEIF (phones), AVIF, AIFF — made with the
real encoders (pillow-heif's x265, Pillow's libavif, ffmpeg), sniffed from their bytes, and embedded like
their PNG / WAV twins."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

from omniembed import Part
from omniembed.media.source import sniff

from media_gen import ffmpeg, speak


def _invoice() -> Image.Image:
    img = Image.new("RGB", (900, 220), "white")
    ImageDraw.Draw(img).text((30, 70), "Quarterly invoice total", fill="black", font=ImageFont.load_default(size=56))
    return img


def _encoded(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, quality=90)
    return buf.getvalue()


def test_heic_and_avif_photos_read_like_png(embedder, tmp_path):
    import pillow_heif

    pillow_heif.register_heif_opener()  # for *writing* the fixture; omniembed registers it itself to read
    img = _invoice()
    png = embedder.embed([Part.from_bytes(_encoded(img, "PNG"))])[0]
    for fmt, mime in (("HEIF", "image/heic"), ("AVIF", "image/avif")):
        data = _encoded(img, fmt)
        assert sniff(data[:64]) == mime
        path = tmp_path / f"invoice.{fmt.lower()}"
        path.write_bytes(data)
        [res] = embedder.embed_detailed(path)
        assert res.modalities == ["image"] and "invoice" in res.pieces[0].text.lower(), fmt
        assert float(res.vector @ png) > 0.97, fmt  # lossy, but the same words were read


def test_aiff_audio_like_wav(embedder, tmp_path):
    wav = speak(tmp_path / "talk.wav", "the quarterly budget meeting starts at nine")
    aiff = tmp_path / "talk.aiff"
    ffmpeg("-i", str(wav), str(aiff))
    assert sniff(aiff.read_bytes()[:64]) == "audio/aiff"
    [a] = embedder.embed_detailed(aiff)
    [w] = embedder.embed_detailed(wav)
    assert a.modalities == ["audio"] and "budget" in " ".join(p.text for p in a.pieces).lower()
    assert float(a.vector @ w.vector) > 0.99

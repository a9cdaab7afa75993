"""A generated corpus of hostile and broken inputs, for every type omniembed accepts (issue 11).

Every case is made on the spot with real tools (Pillow, reportlab, ffmpeg) and then damaged: zero bytes,
the first 64 bytes, the first half, the middle overwritten with noise, mislabeled as another modality;
plus hand-built decompression bombs, huge declared sizes, a PDF whose page tree loops, an encrypted PDF
and text that is not text. ``expect`` names what must happen: ``"any"`` (embed, or a typed 4xx error),
``"error"`` (a typed 4xx error) or one error class name (e.g. ``"MediaTooLarge"``). Never a crash,
a 5xx, a hang, or an untyped exception.
"""

from __future__ import annotations

import io
import os
import random
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from media_factory import text_image, text_pdf
from media_gen import ffmpeg


@dataclass
class Case:
    name: str  # also the file name in the indexer's folder
    data: bytes
    mime: str | None  # what the caller declares
    expect: str = "any"


_AUDIO = {  # extension → (MIME, ffmpeg codec arguments)
    "wav": ("audio/wav", ("-c:a", "pcm_s16le")),
    "mp3": ("audio/mpeg", ("-c:a", "libmp3lame", "-b:a", "32k")),
    "flac": ("audio/flac", ("-c:a", "flac")),
    "ogg": ("audio/ogg", ("-c:a", "libopus", "-b:a", "16k")),
    "m4a": ("audio/mp4", ("-c:a", "aac", "-b:a", "32k")),
    "aac": ("audio/aac", ("-c:a", "aac", "-b:a", "32k", "-f", "adts")),
}
_VIDEO = {
    "mp4": ("video/mp4", ("-c:v", "mpeg4")),
    "mov": ("video/quicktime", ("-c:v", "mpeg4")),
    "mkv": ("video/x-matroska", ("-c:v", "mpeg4")),
    "webm": ("video/webm", ("-c:v", "libvpx", "-deadline", "realtime", "-b:v", "100k")),
    "avi": ("video/x-msvideo", ("-c:v", "mpeg4")),
    "mpg": ("video/mpeg", ("-c:v", "mpeg1video", "-r", "25")),
}
_IMAGES = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP", "gif": "GIF", "bmp": "BMP", "tif": "TIFF"}
_IMAGE_MIME = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "gif": "image/gif",
               "bmp": "image/bmp", "tif": "image/tiff"}


def valid_samples(tmp: Path) -> dict[str, tuple[bytes, str]]:
    """One small, valid file per supported container: extension → (bytes, MIME)."""
    out: dict[str, tuple[bytes, str]] = {
        "txt": ("Glaciers retreat when summers grow warmer and the snow line climbs.\n".encode(), "text/plain"),
        "md": (b"# Orchard\n\nApples, pears and plums.\n", "text/markdown"),
    }
    out["pdf"] = (text_pdf(tmp / "s.pdf", [["A manual for the espresso machine."]]).read_bytes(), "application/pdf")
    img = text_image(["Hostile corpus"], size=(320, 120), font_size=32)
    for ext, fmt in _IMAGES.items():
        buf = io.BytesIO()
        img.save(buf, fmt)
        out[ext] = (buf.getvalue(), _IMAGE_MIME[ext])
    for ext, (mime, codec) in _AUDIO.items():
        p = tmp / f"s.{ext}"
        ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1:sample_rate=16000", "-ac", "1", *codec, str(p))
        out[ext] = (p.read_bytes(), mime)
    for ext, (mime, codec) in _VIDEO.items():
        p = tmp / f"s.{ext}"
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x64:rate=5:duration=1", "-pix_fmt", "yuv420p", *codec, "-an",
               str(p))
        out[ext] = (p.read_bytes(), mime)
    return out


def _other_modality(mime: str) -> str:
    return {"text": "image/png", "image": "audio/wav", "audio": "application/pdf", "video": "image/jpeg",
            "application": "video/mp4"}[mime.split("/")[0]]


#: Audio and video cases that decode run speech recognition and OCR (seconds each on a loaded machine):
#: the library runs them all; the server and the indexer run them when this variable is set.
FULL = bool(os.environ.get("OMNIEMBED_HOSTILE_FULL"))


def slow(case: Case) -> bool:
    """An audio/video case that may decode (and so transcribe): run by the library, or everywhere in FULL."""
    return case.expect == "any" and (case.mime or "").split("/")[0] in ("audio", "video")


def damaged(samples: dict[str, tuple[bytes, str]]) -> list[Case]:
    rng = random.Random(11)
    cases: list[Case] = []
    for ext, (data, mime) in samples.items():
        av = mime.split("/")[0] in ("audio", "video")
        if not av or FULL:  # valid audio and video are the subject of test_audio.py and test_video.py
            cases.append(Case(f"valid.{ext}", data, mime))
        cases.append(Case(f"zero.{ext}", b"", mime, "DecodeError"))
        cases.append(Case(f"head64.{ext}", data[:64], mime))
        cases.append(Case(f"half.{ext}", data[: len(data) // 2], mime))
        mid = bytearray(data)
        a, b = len(mid) // 3, 2 * len(mid) // 3
        mid[a:b] = bytes(rng.randrange(256) for _ in range(b - a))
        cases.append(Case(f"noise.{ext}", bytes(mid), mime))
        cases.append(Case(f"mislabeled.{ext}", data, _other_modality(mime), "error"))
        if not av or FULL:  # the same bytes as valid.EXT, only undeclared
            cases.append(Case(f"undeclared.{ext}", data, None))
    return cases


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def bombs() -> list[Case]:
    png = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 60_000, 60_000, 8, 2, 0, 0, 0))
           + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + _png_chunk(b"IEND", b""))
    # a real 1-bit PNG of 12,000 × 12,000 (144 MP): a few KiB that decode to hundreds of MB
    buf = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(buf, "PNG")
    gif = (b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0xF0, 0, 0) + b"\0\0\0\xff\xff\xff"
           + b"," + struct.pack("<HHHHB", 0, 0, 65535, 65535, 0) + b"\x02\x02\x44\x01\x00;")
    tiff = _tiff(100_000, 100_000)
    jpeg = bytearray(_jpeg_small())
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5:sof + 9] = struct.pack(">HH", 65_500, 65_500)  # SOF0 height, width
    bmp = b"BM" + struct.pack("<IHHI", 0, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, 50_000, 50_000, 1, 24, 0, 0,
                                                                      0, 0, 0, 0) + b"\0" * 64
    return [
        Case("bomb-header.png", png, "image/png", "MediaTooLarge"),
        Case("bomb-real.png", buf.getvalue(), "image/png", "MediaTooLarge"),
        Case("bomb.gif", gif, "image/gif", "MediaTooLarge"),
        Case("bomb.tif", tiff, "image/tiff", "MediaTooLarge"),
        Case("bomb.jpg", bytes(jpeg), "image/jpeg", "MediaTooLarge"),
        Case("bomb.bmp", bmp, "image/bmp", "MediaTooLarge"),
    ]


def _jpeg_small() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), "white").save(buf, "JPEG")
    return buf.getvalue()


def _tiff(w: int, h: int) -> bytes:
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1), (273, 4, 1, 8),
               (277, 3, 1, 1), (278, 4, 1, h), (279, 4, 1, 0xFFFFFFFF)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\0\0\0\0"
    return b"II*\x00" + struct.pack("<I", 8 + 16) + b"\0" * 16 + ifd


def huge_declared(samples: dict[str, tuple[bytes, str]]) -> list[Case]:
    wav = bytearray(samples["wav"][0])
    data_at = wav.index(b"data")
    wav[4:8] = struct.pack("<I", 0xFFFFFFF0)
    wav[data_at + 4:data_at + 8] = struct.pack("<I", 0xFFFFFFF0)  # 4 GiB of samples claimed, 32 KB present
    mp4 = bytearray(samples["mp4"][0])
    moov = mp4.find(b"moov")
    if moov > 4:
        mp4[moov - 4:moov] = struct.pack(">I", 0xFFFFFFF0)  # an atom claiming 4 GiB
    return [Case("huge-declared.wav", bytes(wav), "audio/wav"), Case("huge-atom.mp4", bytes(mp4), "video/mp4")]


def _pdf(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def pdfs(tmp: Path) -> list[Case]:
    looping = _pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                    b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",  # the tree contains itself
                    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"])
    huge_count = _pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                       b"<< /Type /Pages /Kids [3 0 R] /Count 1000000000 >>",
                       b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"])
    giant_page = _pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                       b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 14400 14400] /UserUnit 75000 >>"])
    encrypted = text_pdf(tmp / "enc.pdf", [["secret minutes"]], encrypt="hunter2").read_bytes()
    return [
        Case("looping-tree.pdf", looping, "application/pdf"),
        Case("huge-count.pdf", huge_count, "application/pdf"),
        Case("giant-page.pdf", giant_page, "application/pdf"),
        Case("encrypted.pdf", encrypted, "application/pdf", "EncryptedDocument"),
        Case("header-only.pdf", b"%PDF-1.7\n", "application/pdf", "DecodeError"),
    ]


def texts() -> list[Case]:
    return [
        # not UTF-8: a legacy encoding charset-normalizer can read (Latin-1 here) is decoded, as users'
        # cp1252/Shift-JIS files are (docs/engine.md); bytes nothing explains are a typed DecodeError
        Case("invalid-utf8.txt", b"caf\xe9 \xff\xfe\xfd broken", "text/plain", "any"),
        Case("nul-bytes.txt", "Glaciers\x00 retreat\x00 in summer.".encode(), "text/plain"),
        Case("all-nul.txt", b"\x00" * 4096, "text/plain", "error"),
        Case("bom-only.txt", b"\xef\xbb\xbf", "text/plain", "DecodeError"),
        Case("surrogate-bytes.txt", b"a\xed\xa0\x80b", "text/plain", "any"),  # CESU-8 lone surrogate: never a lone surrogate in a str
        Case("controls.md", bytes(range(1, 32)) * 10, "text/markdown"),
    ]


def corpus(tmp: Path) -> list[Case]:
    samples = valid_samples(tmp)
    return damaged(samples) + bombs() + huge_declared(samples) + pdfs(tmp) + texts()

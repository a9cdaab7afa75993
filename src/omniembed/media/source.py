"""Where a part's bytes come from (memory or a file), what they really are, and the limits that apply.

The real type is sniffed from the first bytes, never taken from a file name: a PNG called ``.pdf`` is
embedded as an image. A declared MIME type that contradicts the bytes is an error, because it usually
means the caller sent the wrong file.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from ..errors import DecodeError, InvalidInput, MediaTooLarge, UnsupportedMediaType
from ..modalities import modalities

__all__ = ["Limits", "MediaSource", "sniff", "modality_of", "format_mime", "SUPPORTED"]


@dataclass(frozen=True)
class Limits:
    """Guards against huge and hostile inputs. Every transport applies the same limits."""

    max_file_bytes: int = 4 * 1024**3  # a file on disk (streamed): 4 GiB
    max_inline_bytes: int = 256 * 1024**2  # bytes held in memory for one part
    max_text_chars: int = 20_000_000  # ~ 5M tokens of text in one part
    max_image_pixels: int = 80_000_000  # decompression-bomb guard (80 MP)
    max_pdf_pages: int = 5_000
    max_pdf_render_pixels: int = 40_000_000  # one rendered page, for OCR
    max_media_seconds: float = 12 * 3600  # audio/video duration
    decode_timeout_s: float = 600.0  # wall-clock limit for an external decoder (ffmpeg) per part
    max_parts: int = 10_000  # parts in one request


class _Supported(Mapping[str, str]):
    """MIME type → modality for everything omniembed embeds: a live view of the modality table."""

    def _map(self) -> dict[str, str]:
        return {mime: m.name for m in modalities() for mime in m.mime_types}

    def __getitem__(self, mime: str) -> str:
        return self._map()[mime]

    def __iter__(self) -> Iterator[str]:
        return iter(self._map())

    def __len__(self) -> int:
        return len(self._map())

    def __contains__(self, mime: object) -> bool:
        return any(mime in m.mime_types for m in modalities())


#: MIME type → modality (``omniembed.modalities`` is the table; this is the view sniffing reads).
SUPPORTED: Mapping[str, str] = _Supported()

_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/x-ms-bmp": "image/bmp",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/mp3": "audio/mpeg",
    "audio/x-flac": "audio/flac",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "application/ogg": "audio/ogg",
    "audio/opus": "audio/ogg",
    "video/mov": "video/quicktime",
    "video/x-mkv": "video/x-matroska",
    "video/avi": "video/x-msvideo",
    "text/x-markdown": "text/markdown",
    "text/md": "text/markdown",
    "image/heic-sequence": "image/heic",
    "image/heif-sequence": "image/heif",
    "image/avif-sequence": "image/avif",
    "audio/x-aiff": "audio/aiff",
    "audio/aif": "audio/aiff",
}


def canonical_mime(mime: str | None) -> str | None:
    if not mime:
        return None
    m = mime.split(";", 1)[0].strip().lower()
    return _ALIASES.get(m, m)


def modality_of(mime: str) -> str:
    try:
        return SUPPORTED[mime]
    except KeyError:
        labels = [m.label for m in modalities()]
        raise UnsupportedMediaType(
            f"{mime} is not supported; omniembed embeds {', '.join(labels[:-1])} and {labels[-1]}"
        ) from None


def format_mime(modality: str, fmt: str) -> str | None:
    """The MIME type a bare format name means for a modality (``audio``, ``mp3`` → ``audio/mpeg``), or None."""
    mime = canonical_mime(f"{modality}/{fmt.strip().lower()}") if fmt and fmt.strip() else None
    return mime if mime is not None and SUPPORTED.get(mime) == modality else None


#: ISO-BMFF major brands of still images (HEIF/HEIC from phones, AVIF), told apart from MP4 video.
_AVIF_BRANDS = (b"avif", b"avis")
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")


def sniff(head: bytes) -> str | None:
    """The MIME type the first bytes (≥ 64 of them) show, or None when they show no known binary type."""
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return None  # a text byte-order mark (0xFFFE would otherwise pass for an MPEG audio frame sync)
    if head.startswith(b"%PDF-") or b"%PDF-" in head[:1024]:
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head.startswith(b"BM") and len(head) >= 26 and head[6:10] == b"\0\0\0\0":
        return "image/bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"ID3") or (len(head) > 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06):
        return "audio/mpeg"
    if head[:2] == b"\xff\xf1" or head[:2] == b"\xff\xf9":
        return "audio/aac"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "audio/aiff"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _AVIF_BRANDS:
            return "image/avif"
        if brand in _HEIF_BRANDS:
            return "image/heic" if brand.startswith(b"he") else "image/heif"
        if brand in (b"M4A ", b"M4B ", b"M4P ", b"F4A "):
            return "audio/mp4"
        if brand == b"qt  ":
            return "video/quicktime"
        return "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head[:4] == b"\x00\x00\x01\xba" or head[:4] == b"\x00\x00\x01\xb3":
        return "video/mpeg"
    for m in modalities():  # modalities registered with their own byte check
        found = m.sniff(head) if m.sniff is not None else None
        if found:
            return found
    return None


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return False
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return True
    # NUL bytes: a few (padding, a stray byte in a log) leave UTF-8 text text, as the same str is text;
    # many mean UTF-16/32 without a byte-order mark or a binary format
    if head.count(b"\x00") > len(head) // 16:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:  # a multi-byte character cut at the end of the sniffed head is fine
        if exc.start >= len(head) - 3:
            return True
    if b"\x00" in head:
        return False
    # not UTF-8 but printable (e.g. Latin-1): call it text, so decoding reports the bad byte clearly
    printable = sum(b >= 0x20 or b in (9, 10, 13) for b in head)
    return printable >= 0.95 * len(head)


_FAMILY_COMPATIBLE = {
    # declared → sniffed types that are the same thing seen from another angle
    "audio/mp4": {"video/mp4"},
    "video/mp4": {"audio/mp4", "video/quicktime"},
    "video/quicktime": {"video/mp4"},
    "audio/webm": {"video/webm", "video/x-matroska"},
    "video/webm": {"video/x-matroska"},
    "video/x-matroska": {"video/webm"},
    "text/markdown": {"text/plain"},
    "text/plain": {"text/markdown"},
}


class MediaSource:
    """The bytes of one part: in memory (``data``) or on disk (``path``), with their sniffed type."""

    def __init__(self, *, data: bytes | None = None, path: Path | None = None, name: str | None = None):
        if (data is None) == (path is None):
            raise ValueError("MediaSource needs data or path")
        self.data = data
        self.path = path
        self.name = name or (path.name if path else "<bytes>")
        self.mime: str = ""
        self.modality: str = ""

    # --- constructors -------------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, data: bytes, declared: str | None, limits: Limits, name: str | None = None) -> "MediaSource":
        if len(data) > limits.max_inline_bytes:
            raise MediaTooLarge(
                f"{name or 'inline data'} is {len(data):,} bytes; the limit for inline data is "
                f"{limits.max_inline_bytes:,} (send a file reference for larger media)"
            )
        src = cls(data=data, name=name)
        src._identify(declared)
        return src

    @classmethod
    def from_path(cls, path: Path, declared: str | None, limits: Limits) -> "MediaSource":
        try:
            st = path.stat()
        except FileNotFoundError:
            raise InvalidInput(f"no such file: {path}") from None
        except OSError as exc:
            raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
        if not path.is_file():
            raise InvalidInput(f"{path} is not a regular file")
        if st.st_size > limits.max_file_bytes:
            raise MediaTooLarge(f"{path.name} is {st.st_size:,} bytes; the limit is {limits.max_file_bytes:,}")
        src = cls(path=path)
        src._identify(declared)
        return src

    # --- access -------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else os.path.getsize(self.path)  # type: ignore[arg-type]

    def head(self, n: int = 4096) -> bytes:
        if self.data is not None:
            return self.data[:n]
        with open(self.path, "rb") as fh:  # type: ignore[arg-type]
            return fh.read(n)

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        return Path(self.path).read_bytes()  # type: ignore[arg-type]

    def open(self) -> BinaryIO:
        """A binary file object (a BytesIO for in-memory data); the caller closes it."""
        if self.data is not None:
            return io.BytesIO(self.data)
        return open(self.path, "rb")  # type: ignore[arg-type]

    def describe(self) -> str:
        return f"{self.name} ({self.mime})" if self.mime else self.name

    # --- identification -----------------------------------------------------------------------
    def _identify(self, declared: str | None) -> None:
        head = self.head(4096)
        if not head:
            raise DecodeError(f"{self.name} is empty (0 bytes)")
        declared = canonical_mime(declared)
        sniffed = sniff(head)
        if sniffed is None and _looks_like_text(head):
            sniffed = "text/markdown" if declared == "text/markdown" or self.name.lower().endswith(
                (".md", ".markdown")
            ) else "text/plain"
        if declared and declared not in SUPPORTED and not declared.startswith(("application/octet-stream",)):
            modality_of(declared)  # raises UnsupportedMediaType with the list of what is accepted
        if sniffed is None:
            if declared and declared in SUPPORTED:
                raise DecodeError(
                    f"{self.name} was declared {declared} but its bytes are not {declared} "
                    "(unknown or corrupt header)"
                )
            raise UnsupportedMediaType(
                f"cannot tell what {self.name} is from its bytes (starts with {head[:8]!r}); "
                "omniembed embeds text, PDF, images, audio and video"
            )
        if declared and declared in SUPPORTED and declared != sniffed:
            if sniffed not in _FAMILY_COMPATIBLE.get(declared, set()) and SUPPORTED[declared] != SUPPORTED[sniffed]:
                raise UnsupportedMediaType(
                    f"{self.name} was declared {declared} but its bytes are {sniffed}; "
                    "fix the MIME type or send the right file"
                )
            if sniffed in _FAMILY_COMPATIBLE.get(declared, set()):
                sniffed = declared  # the same container seen from another angle: the caller knows which
        self.mime = sniffed
        self.modality = SUPPORTED[sniffed]

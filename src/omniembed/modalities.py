"""The one modality table: what each modality is called, which MIME types and file names it covers, which
pipeline reads it, and how fusion and the wire dialects treat it.

Everything that used to keep its own list reads this table: MIME sniffing (``media/source.py``), the
pipeline dispatcher (``media/__init__.py``), the indexer's file suffixes, search's type filter, fusion's
defaults (``FusionConfig``), and the OpenAI dialect's item types. Adding a modality is one
:func:`register_modality` call with a pipeline (``extract(source, ctx) -> Evidence``) — see
``tests/test_modalities.py``, which embeds, indexes and searches a toy modality that way.

Pipelines are named as ``"module:function"`` strings (imported on first use, so a text-only call never
loads image, PDF, audio or video libraries) or given as functions.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Modality", "register_modality", "unregister_modality", "get_modality", "modalities",
           "modality_names", "modality_of_suffix", "url_items"]

#: how fusion counts a multi-piece part's first piece (``fusion.piece_weights``)
LEADS = ("share", "bonus", "none")


@dataclass(frozen=True)
class Modality:
    """One row of the table."""

    name: str
    #: canonical MIME types whose bytes are this modality (spelling aliases live in ``media/source.py``)
    mime_types: tuple[str, ...]
    #: what error messages call it, e.g. ``images (PNG, JPEG, …)``
    label: str
    #: ``"module:function"`` or ``function(MediaSource, MediaContext) -> Evidence``
    pipeline: str | Callable[..., Any]
    #: file name suffixes (lower case, with the dot) the indexer picks up; the bytes still decide
    suffixes: tuple[str, ...] = ()
    #: ``function(list[MediaSource], ctx) -> list[Evidence | OmniEmbedError]`` for sources that gain from
    #: being read together (short audio clips share Whisper windows)
    batched: str | Callable[..., Any] | None = None
    #: ``function(MediaSource) -> modality name``: re-decides from the content which pipeline reads a
    #: source (an MP4's bytes cannot say whether it holds pictures: ``media/av.route``)
    route: str | Callable[..., Any] | None = None
    #: ``function(head bytes) -> MIME type | None`` for a registered modality; the built-in types are
    #: recognised by ``media.source.sniff`` itself
    sniff: Callable[[bytes], str | None] | None = None
    #: fusion's first-piece rule: ``share`` (lead bonus and a share floor: documents, transcripts),
    #: ``bonus`` (lead bonus only), ``none`` (the plain token mean: a video's first window is no title)
    lead: str = "bonus"
    #: default weight of a part of this modality in an interleaved content
    weight: float = 1.0
    #: the OpenAI dialect's item type that carries it as a ``data:`` URL (``image_url``), if any
    url_item: str | None = None

    def __post_init__(self) -> None:
        if self.lead not in LEADS:
            raise ValueError(f"Modality.lead must be one of {LEADS}, not {self.lead!r}")


_IMAGE_MIMES = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff",
                "image/heic", "image/heif", "image/avif")  # fmt: skip

_TABLE: dict[str, Modality] = {}
_LOCK = threading.Lock()


def register_modality(modality: Modality) -> Modality:
    """Add (or replace) a modality; its MIME types and suffixes must not belong to another one."""
    with _LOCK:
        for other in _TABLE.values():
            if other.name == modality.name:
                continue
            clash = set(other.mime_types) & set(modality.mime_types) or set(other.suffixes) & set(modality.suffixes)
            if clash:
                raise ValueError(f"{sorted(clash)[0]} already belongs to the {other.name} modality")
        _TABLE[modality.name] = modality
    return modality


def unregister_modality(name: str) -> None:
    with _LOCK:
        _TABLE.pop(name, None)


def get_modality(name: str) -> Modality:
    return _TABLE[name]


def modalities() -> list[Modality]:
    """Every modality, in registration order."""
    return list(_TABLE.values())


def modality_names() -> tuple[str, ...]:
    return tuple(_TABLE)


def modality_of_suffix(suffix: str) -> str | None:
    """The modality whose files end in ``suffix`` (``.MP3`` → ``audio``), or None."""
    s = suffix.lower()
    return next((m.name for m in _TABLE.values() if s in m.suffixes), None)


def url_items() -> frozenset[str]:
    """OpenAI dialect item types that carry a ``data:`` URL: one per modality that names one, plus the
    generic ``media_url``."""
    return frozenset({"media_url"} | {m.url_item for m in _TABLE.values() if m.url_item})


for _m in (
    Modality("text", ("text/plain", "text/markdown"), "text", "omniembed.media.text:extract",
             suffixes=(".txt", ".md", ".markdown", ".rst"), lead="share"),
    Modality("pdf", ("application/pdf",), "PDF", "omniembed.media.pdf:extract",
             suffixes=(".pdf",), lead="share", url_item="document_url"),
    Modality("image", _IMAGE_MIMES, "images (PNG, JPEG, WebP, GIF, BMP, TIFF, HEIC/HEIF, AVIF)",
             "omniembed.media.image:extract",
             suffixes=(".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif"),
             url_item="image_url"),
    Modality("audio", ("audio/wav", "audio/aiff", "audio/mpeg", "audio/flac", "audio/ogg", "audio/mp4", "audio/aac",
                       "audio/webm"),
             "audio (WAV, AIFF, MP3, FLAC, OGG/Opus, M4A/AAC, WebM)", "omniembed.media.audio:extract",
             suffixes=(".aif", ".aiff", ".aifc", ".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac"),
             batched="omniembed.media.audio:extract_many", route="omniembed.media.av:route", lead="share",
             url_item="audio_url"),
    Modality("video", ("video/mp4", "video/quicktime", "video/x-matroska", "video/webm", "video/x-msvideo",
                       "video/mpeg"),
             "video (MP4, MOV, MKV, WebM, AVI)", "omniembed.media.video:extract",
             suffixes=(".mp4", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".m4v"),
             route="omniembed.media.av:route", lead="none", url_item="video_url"),
):  # fmt: skip
    register_modality(_m)

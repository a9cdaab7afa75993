"""What a modality pipeline hands the engine: evidence, before any vector exists.

A pipeline (``media/<modality>.py``) turns one part into segments — a page's text, an image's OCR
text, a transcript window — each located in the media (page, seconds). The engine embeds the
segments' text with the profile's text encoder (or takes a native encoder's vector as is) and pools
them (``fusion.py``). Keeping this boundary means a new modality never touches the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .encoders.base import Encoders
    from .media.source import Limits

__all__ = ["Segment", "Evidence", "MediaContext"]


@dataclass
class Segment:
    text: str
    modality: str
    source: str  # text | text-layer | ocr | asr | description | native
    page: int | None = None
    start_s: float | None = None
    end_s: float | None = None
    weight: float = 1.0  # relative weight when the part's segments are pooled
    vector: np.ndarray | None = None  # set by native encoders; text is then only the snippet
    language: str | None = None
    encoding: str | None = None  # text files: the encoding the bytes were decoded from (utf-8, cp1252…)


@dataclass
class Evidence:
    modality: str
    segments: list[Segment]
    flags: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


@dataclass
class MediaContext:
    """Shared tools a pipeline may use; encoders are loaded lazily on first use."""

    limits: "Limits"
    ocr_engine: str | None = None
    ocr_languages: str | None = None
    asr_options: dict[str, Any] = field(default_factory=dict)
    progress: Any = None  # optional callable(str) for long media
    cancel: Any = None  # a budget.CancelToken for this request (checked between pages, blocks, frames)
    budget: Any = None  # a budget.Budget for this request (None: no ceiling)
    #: the profile's encoders, set by the engine: a pipeline uses ``encoders.image`` / ``.sound`` when the
    #: profile has them (a native vector on the segment) and reads or hears the media otherwise
    encoders: "Encoders | None" = None

    def check(self) -> None:
        """Stop here if the request was cancelled or ran past its deadline (call between work units)."""
        if self.cancel is not None:
            self.cancel.check()

    def ocr(self):
        """The profile's OCR reader (``Encoders.reader``), else the shared RapidOCR/Tesseract reader."""
        own = getattr(self.encoders, "reader", None)
        if own is not None:
            return own
        from .encoders.ocr import get_ocr

        return get_ocr(self.ocr_engine, self.ocr_languages)

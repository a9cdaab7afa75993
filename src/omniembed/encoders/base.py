"""What a profile's encoders must offer: the interfaces the engine and the pipelines code against.

A profile (``profiles.py``) names one :class:`Encoders` set: a text encoder (always; every piece of
evidence that is text — chunks, OCR, transcripts — is embedded by it) and optional native towers for
images and sound whose vectors live in the same space. The lite profile fills only ``text``
(multilingual-e5); a CLIP/SigLIP or CLAP profile adds ``image`` / ``sound``, and the pipelines then use
``ctx.encoders.image`` / ``.sound`` (``evidence.MediaContext``) instead of reading pictures through OCR.
Keeping these as structural protocols means a second profile plugs in without touching the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    import PIL.Image

__all__ = ["TextEncoder", "ImageEncoder", "SoundEncoder", "SoundTagger", "SpeechRecognizer", "TextReader", "Encoders"]


@runtime_checkable
class TextEncoder(Protocol):
    """Texts → unit vectors. ``mode`` is ``"query"`` or ``"passage"`` (``space.encoder_mode``)."""

    dim: int
    max_tokens: int  # the model's window, specials and prefix included

    def encode(self, texts: list[str], mode: str) -> np.ndarray:
        """(n, dim) float32 rows of unit norm."""
        ...

    def token_count(self, text: str, mode: str = "passage") -> int:
        """Tokens the text adds to an input (prefix and specials excluded)."""
        ...

    def overhead(self, mode: str) -> int:
        """Tokens taken by the prefix and the special tokens."""
        ...


@runtime_checkable
class ImageEncoder(Protocol):
    """Pictures → unit vectors in the profile's space."""

    dim: int

    def encode_images(self, images: list["PIL.Image.Image"]) -> np.ndarray:
        """(n, dim) float32 rows of unit norm."""
        ...


@runtime_checkable
class SoundEncoder(Protocol):
    """Sound clips → unit vectors in the profile's space."""

    dim: int
    sample_rate: int

    def encode_audio(self, clips: list[np.ndarray]) -> np.ndarray:
        """Clips are mono float32 at :attr:`sample_rate`; returns (n, dim) float32 rows of unit norm."""
        ...


@runtime_checkable
class SoundTagger(Protocol):
    """Sound clips → named sound events with scores (zero-shot CLAP over a label vocabulary,
    ``encoders/clap.py``). Its vectors are not in the profile's space: the tags enter it as text, through
    the profile's text encoder (``media/sounds.py``)."""

    sample_rate: int

    def tag(self, clips: list[np.ndarray]) -> list[list]:
        """Per clip (mono float32 at :attr:`sample_rate`), its tags (``.label``, ``.score``), best first."""
        ...


@runtime_checkable
class SpeechRecognizer(Protocol):
    """Speech → timestamped transcript segments (``encoders.asr.AsrSegment``). Whisper (``encoders.asr.Asr``)
    is the one every real profile uses; a profile names another only to replace it (the dummy profile's
    fake, ``encoders/dummy.py``)."""

    def transcribe_block(self, audio: np.ndarray, offset_s: float, opts) -> list:
        """Segments of one block of 16 kHz mono float32 samples starting at ``offset_s`` (absolute seconds)."""
        ...

    def transcribe_clips(self, clips, opts) -> list[list]:
        """One transcript per short clip, seconds from the clip's start (``AsrOptions.pack_clips``)."""
        ...


@runtime_checkable
class TextReader(Protocol):
    """An image (HxWx3 uint8 array) → the text in it (``encoders.ocr.OcrResult``: ``.text``, ``.confidence``)."""

    def read(self, image: np.ndarray): ...


@dataclass
class Encoders:
    """A profile's encoder set (built once per profile, on first use: ``Profile.load_encoders``)."""

    text: TextEncoder
    image: ImageEncoder | None = None
    sound: SoundEncoder | None = None
    speech_model: str | None = None  # a faster-whisper model name or directory; None = the profile default
    sound_tagger: SoundTagger | None = None  # names what non-speech audio sounds like (tags → text encoder)
    #: a speech recogniser object used instead of Whisper (None: Whisper, ``speech_model`` or base)
    speech: SpeechRecognizer | None = None
    #: an OCR reader used instead of ``encoders.ocr`` (None: RapidOCR / Tesseract as configured)
    reader: TextReader | None = None

"""Public data types: what goes into an embedding call and what comes out.

The input names mirror ``google.genai.types`` (``Part``, ``Blob``, ``FileData``, ``Content``,
``EmbedContentConfig``, ``ContentEmbedding``, ``EmbedContentResponse``) so code written for Gemini
Embedding 2 runs with only its import line changed. The same ``Part`` and ``Content`` classes are the
engine's internal request type (:class:`EmbedRequest`): every dialect — Python API, CLI, the Gemini and
OpenAI wire formats, framework adapters — translates into them, and the engine never sees JSON.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np

from .errors import InvalidInput

__all__ = [
    "TaskType",
    "Blob",
    "FileData",
    "Part",
    "Content",
    "EmbedContentConfig",
    "EmbedRequest",
    "Piece",
    "EmbeddingResult",
    "ContentEmbedding",
    "EmbedContentResponse",
    "ContentLike",
    "clock",
    "to_part",
]


class TaskType(str, enum.Enum):
    """What the vectors will be used for; Gemini's eight task types.

    Each maps to the prefix the profile's text encoder was trained with (see ``space.py``).
    """

    SEMANTIC_SIMILARITY = "SEMANTIC_SIMILARITY"
    CLASSIFICATION = "CLASSIFICATION"
    CLUSTERING = "CLUSTERING"
    RETRIEVAL_DOCUMENT = "RETRIEVAL_DOCUMENT"
    RETRIEVAL_QUERY = "RETRIEVAL_QUERY"
    CODE_RETRIEVAL_QUERY = "CODE_RETRIEVAL_QUERY"
    QUESTION_ANSWERING = "QUESTION_ANSWERING"
    FACT_VERIFICATION = "FACT_VERIFICATION"

    @classmethod
    def parse(cls, value: "str | TaskType | None", default: "TaskType | None" = None) -> "TaskType":
        """Accept ``RETRIEVAL_QUERY``, ``retrieval_query``, ``TaskType.RETRIEVAL_QUERY``; reject the rest."""
        if value is None or value == "" or value == "TASK_TYPE_UNSPECIFIED":
            return default or cls.RETRIEVAL_DOCUMENT
        if isinstance(value, TaskType):
            return value
        if isinstance(value, enum.Enum):  # e.g. google.genai's own enum
            value = value.value
        key = str(value).strip().upper().replace("-", "_").replace(" ", "_")
        try:
            return cls(key)
        except ValueError:
            raise InvalidInput(
                f"unknown task type {value!r}; accepted: {', '.join(t.value for t in cls)}"
            ) from None


@dataclass
class Blob:
    """Inline bytes with an optional declared MIME type (the real type is sniffed from the bytes)."""

    data: bytes
    mime_type: str | None = None


@dataclass
class FileData:
    """A reference to a file: a local path or ``file://`` URI in the library, an uploaded ``files/ID``
    on the server. Large media are read from disk as streams instead of being held in memory."""

    file_uri: str
    mime_type: str | None = None


@dataclass
class Part:
    """One piece of a content: text, inline bytes, or a file reference (exactly one of them).

    >>> Part(text="a dog on a beach")
    >>> Part.from_bytes(data=png_bytes, mime_type="image/png")
    >>> Part.from_file("talk.mp3")
    """

    text: str | None = None
    inline_data: Blob | None = None
    file_data: FileData | None = None

    def __post_init__(self) -> None:
        set_fields = [f for f in ("text", "inline_data", "file_data") if getattr(self, f) is not None]
        if len(set_fields) != 1:
            raise InvalidInput(
                "a Part holds exactly one of text, inline_data or file_data"
                + (f" (got {', '.join(set_fields)})" if set_fields else " (got none)")
            )
        if self.text is not None and not isinstance(self.text, str):
            raise InvalidInput(f"Part.text must be a str, not {type(self.text).__name__}")

    @classmethod
    def from_text(cls, text: str) -> "Part":
        return cls(text=text)

    @classmethod
    def from_bytes(cls, data: bytes, mime_type: str | None = None) -> "Part":
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidInput(f"Part.from_bytes needs bytes, not {type(data).__name__}")
        return cls(inline_data=Blob(data=bytes(data), mime_type=mime_type))

    @classmethod
    def from_file(cls, path: "str | os.PathLike[str]", mime_type: str | None = None) -> "Part":
        """A local file, read lazily (and streamed, for audio and video) when the content is embedded."""
        return cls(file_data=FileData(file_uri=str(Path(path)), mime_type=mime_type))

    @classmethod
    def from_uri(cls, file_uri: str, mime_type: str | None = None) -> "Part":
        return cls(file_data=FileData(file_uri=file_uri, mime_type=mime_type))


def to_part(item: object, where: str = "input") -> Part:
    """The Python dialect's rule for one item: a :class:`Part` as is, ``str`` → text, a path
    (``os.PathLike``) → a file, ``bytes`` → inline media (type sniffed); anything else is InvalidInput.
    (A bare ``str`` is text, never a path: frameworks that pass paths as strings convert them first.)"""
    if isinstance(item, Part):
        return item
    if isinstance(item, str):
        return Part(text=item)
    if isinstance(item, os.PathLike):
        return Part.from_file(Path(item))
    if isinstance(item, (bytes, bytearray, memoryview)):
        return Part.from_bytes(bytes(item))
    raise InvalidInput(
        f"{where}: cannot embed a {type(item).__name__}; pass str (text), pathlib.Path (a file), bytes, "
        "omniembed.Part, omniembed.types.Content, or a list of these for one interleaved content"
    )


@dataclass
class Content:
    """An ordered list of parts that together yield ONE vector (Gemini's interleaved input)."""

    parts: list[Part] = field(default_factory=list)
    role: str | None = None


#: Anything the Python API accepts as one content: text, a path, a Part, a Content, or a list of
#: these (a list is interleaved: all its parts become one vector).
ContentLike = Union[str, os.PathLike, Part, Content, Sequence[Union[str, os.PathLike, Part]]]


@dataclass
class EmbedContentConfig:
    """Options of one embedding call (google-genai's ``EmbedContentConfig`` names)."""

    task_type: str | TaskType | None = None
    output_dimensionality: int | None = None
    title: str | None = None
    mime_type: str | None = None
    auto_truncate: bool | None = None  # accepted for compatibility; omniembed never truncates


@dataclass
class EmbedRequest:
    """The one internal request every dialect translates into: contents plus call options."""

    contents: list[Content]
    task_type: TaskType = TaskType.RETRIEVAL_DOCUMENT
    output_dimensionality: int | None = None
    title: str | None = None
    #: also return each multi-sentence piece's line/sentence windows as extra pieces (``level="fine"``,
    #: embedded in the same encoder calls, never pooled into the vector): the indexer's small-to-big hits
    fine: bool = False


@dataclass
class Piece:
    """A located part of a content's evidence, with its own vector: a text chunk, a PDF page, an
    image's OCR text, an audio or video window. Search hits point into media through these."""

    vector: np.ndarray
    modality: str  # text | image | pdf | audio | video
    text: str  # what was embedded (text, text layer, OCR, transcript), for snippets
    part_index: int = 0
    source: str = "text"  # text | text-layer | ocr | asr | description | native
    page: int | None = None  # 1-based, PDFs
    start_s: float | None = None  # seconds, audio and video
    end_s: float | None = None
    weight: float = 1.0
    token_count: int = 0
    language: str | None = None  # spoken language found by ASR, where known
    encoding: str | None = None  # text files: the encoding decoded from (``cp1252`` when not UTF-8: detected)
    #: ``chunk``: a piece the content vector pools; ``fine``: a line/sentence window of one (``EmbedRequest.fine``)
    level: str = "chunk"

    def locator(self) -> str:
        """A short human label: ``p.3``, ``1:02–1:30`` or ``''``."""
        if self.page is not None:
            return f"p.{self.page}"
        if self.start_s is not None:
            return f"{clock(self.start_s)}–{clock(self.end_s or self.start_s)}"
        return ""


def clock(seconds: float) -> str:
    """Seconds as ``M:SS`` (``H:MM:SS`` from an hour on): locators, notes, and the description text a
    recording without speech is embedded from (so its format is part of those vectors)."""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


@dataclass
class EmbeddingResult:
    """One content's vector and the pieces behind it (the detailed call's result)."""

    vector: np.ndarray
    pieces: list[Piece]
    modalities: list[str]
    profile: str
    dimensions: int
    token_count: int = 0
    flags: set[str] = field(default_factory=set)  # e.g. {"no_text"}, {"no_speech"}
    notes: list[str] = field(default_factory=list)  # human-readable, e.g. what lite could not see


@dataclass
class ContentEmbedding:
    """google-genai shaped: ``response.embeddings[i].values``."""

    values: list[float]
    statistics: dict[str, Any] | None = None


@dataclass
class EmbedContentResponse:
    embeddings: list[ContentEmbedding]
    metadata: dict[str, Any] | None = None

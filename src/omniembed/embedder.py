"""``Embedder``: the one obvious entry point of the library.

>>> from pathlib import Path
>>> from omniembed import Embedder
>>> emb = Embedder()                                   # the offline "lite" profile
>>> docs = emb.embed([Path("manual.pdf"), Path("slide.png"), "plain text"])
>>> q = emb.embed("how do I reset it?", task_type="RETRIEVAL_QUERY")
>>> scores = docs @ q[0]                               # rows are unit vectors: dot = cosine
"""

from __future__ import annotations

import os
from typing import Iterable, Sequence

import numpy as np

from .engine import Engine, FileResolver, local_file_resolver
from .errors import InvalidInput, OmniEmbedError
from .fusion import FusionConfig
from .media.source import Limits
from .space import Profile
from .types import Content, ContentLike, EmbeddingResult, EmbedRequest, Part, TaskType, to_part

__all__ = ["Embedder", "to_content", "to_contents"]


def to_content(item: object, where: str = "input") -> Content:
    """One content-like object → :class:`Content`. A list or tuple is ONE interleaved content."""
    if isinstance(item, Content):
        if not item.parts:
            raise InvalidInput(f"{where}: a Content needs at least one part")
        return item
    if isinstance(item, (list, tuple)):
        if not item:
            raise InvalidInput(f"{where}: an interleaved content needs at least one part")
        return Content(parts=[to_part(x, f"{where}[{i}]") for i, x in enumerate(item)])
    return Content(parts=[to_part(item, where)])


def to_contents(contents: ContentLike | Sequence[ContentLike]) -> list[Content]:
    """The Python API's rule: a single item is one content; a list holds one content per element."""
    if isinstance(contents, (str, os.PathLike, Part, Content, bytes, bytearray)):
        return [to_content(contents)]
    if not isinstance(contents, Iterable):
        raise InvalidInput(f"cannot embed a {type(contents).__name__}")
    out = [to_content(c, f"contents[{i}]") for i, c in enumerate(contents)]
    if not out:
        raise InvalidInput("nothing to embed: the list of contents is empty")
    return out


class Embedder:
    """Turns text, images, PDFs, audio and video — alone or interleaved — into unit vectors in one space.

    Args:
        profile: ``"lite"`` (default, offline, CPU) or a profile id such as ``"omniembed-lite-1"``.
        ocr: ``"auto"`` (RapidOCR, Tesseract for scripts it cannot read), ``"rapidocr"`` or ``"tesseract"``.
        ocr_languages: Tesseract languages, e.g. ``"rus+eng"``; default: every installed common pack.
        fusion: how pieces and parts are pooled (:class:`omniembed.FusionConfig`).
        limits: size and time guards (:class:`omniembed.Limits`).
        asr_options: options for speech recognition (e.g. ``{"language": "de"}``).
        speech_model: a faster-whisper (CTranslate2) Whisper directory to use instead of Whisper base
            (large-v3, distil-whisper, a fine-tune…); same profile id (docs/profiles.md).
        sound_model: a CLAP ONNX export directory: non-speech audio and sound tracks get zero-shot sound
            tags ("sounds like: dog, bark") embedded as text; the profile gets its own id.
        batch_size: contents embedded per engine call (memory bound for long lists).
    """

    def __init__(
        self,
        profile: str | Profile = "lite",
        *,
        ocr: str | None = None,
        ocr_languages: str | None = None,
        fusion: FusionConfig | None = None,
        limits: Limits | None = None,
        asr_options: dict | None = None,
        file_resolver: FileResolver = local_file_resolver,
        batch_size: int = 32,
        speech_model: str | os.PathLike[str] | None = None,
        sound_model: str | os.PathLike[str] | None = None,
    ):
        self.engine = Engine(
            profile,
            limits=limits,
            fusion=fusion,
            file_resolver=file_resolver,
            ocr=ocr,
            ocr_languages=ocr_languages,
            asr_options=asr_options,
            speech_model=speech_model,
            sound_model=sound_model,
        )
        self.batch_size = max(1, int(batch_size))

    @property
    def profile(self) -> Profile:
        return self.engine.profile

    @property
    def dimensions(self) -> int:
        """The native output size (384 for lite)."""
        return self.engine.profile.native_dim

    def embed(
        self,
        contents: ContentLike | Sequence[ContentLike],
        *,
        task_type: str | TaskType = TaskType.RETRIEVAL_DOCUMENT,
        output_dimensionality: int | None = None,
        title: str | None = None,
        show_progress: bool = False,
    ) -> np.ndarray:
        """Embed contents; returns a float32 array of shape (n, d) with unit-norm rows, one per content.

        A ``str`` is text, a ``pathlib.Path`` a file (its type sniffed from its bytes), ``bytes`` inline
        media, a :class:`Part` one part; a list *inside* the list is one interleaved content (→ one vector).
        """
        results = self.embed_detailed(
            contents,
            task_type=task_type,
            output_dimensionality=output_dimensionality,
            title=title,
            show_progress=show_progress,
        )
        return np.stack([r.vector for r in results]).astype(np.float32)

    def embed_detailed(
        self,
        contents: ContentLike | Sequence[ContentLike],
        *,
        task_type: str | TaskType = TaskType.RETRIEVAL_DOCUMENT,
        output_dimensionality: int | None = None,
        title: str | None = None,
        show_progress: bool = False,
        fine: bool = False,
    ) -> list[EmbeddingResult]:
        """Like :meth:`embed`, but each result also carries its pieces — text chunks, PDF pages, OCR
        text, transcript windows — with their own vectors, page numbers and start/end seconds, plus
        flags and notes on what the profile could not read. ``fine`` adds each multi-sentence piece's
        line/sentence windows as extra pieces (``level="fine"``, after the others; not in the vector)."""
        items = to_contents(contents)
        task = TaskType.parse(task_type)
        self.engine.space.check_dimensionality(output_dimensionality)
        out: list[EmbeddingResult] = []
        batches = [items[i : i + self.batch_size] for i in range(0, len(items), self.batch_size)]
        progress = None
        if show_progress and len(batches) > 1:
            from rich.progress import Progress

            progress = Progress(transient=True)
            progress.start()
            bar = progress.add_task("embedding", total=len(items))
        try:
            for batch in batches:
                out.extend(
                    self.engine.embed(
                        EmbedRequest(batch, task_type=task, output_dimensionality=output_dimensionality, title=title,
                                     fine=fine)
                    )
                )
                if progress is not None:
                    progress.advance(bar, len(batch))
        finally:
            if progress is not None:
                progress.stop()
        return out

    def embed_each(
        self,
        contents: Sequence[ContentLike],
        *,
        task_type: str | TaskType = TaskType.RETRIEVAL_DOCUMENT,
        output_dimensionality: int | None = None,
        fine: bool = False,
    ) -> list[EmbeddingResult | OmniEmbedError]:
        """Like :meth:`embed_detailed` on a list, but a content that cannot be embedded (a missing,
        corrupt or empty file…) gets its typed error in its place instead of failing the whole call.
        The indexer embeds a batch of files this way: the files share encoder calls (and audio clips
        Whisper windows), and a bad file is still reported on its own."""
        items = to_contents(contents)
        task = TaskType.parse(task_type)
        self.engine.space.check_dimensionality(output_dimensionality)
        out: list[EmbeddingResult | OmniEmbedError] = []
        for i in range(0, len(items), self.batch_size):
            out.extend(self.engine.embed_each(EmbedRequest(items[i : i + self.batch_size], task_type=task,
                                                           output_dimensionality=output_dimensionality, fine=fine)))
        return out

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Cosine similarity matrix of two sets of omniembed vectors (they are unit-norm)."""
        return np.atleast_2d(a) @ np.atleast_2d(b).T

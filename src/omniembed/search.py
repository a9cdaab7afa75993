"""Search an indexed folder by text, image, audio or any file, and point into the media.

A query is embedded in the store's own profile and size, then compared with both the *file* vectors
(each file's pooled content) and the *chunk* vectors (pages, OCR'd images, transcript windows, text
chunks). A file's score is the better of its file score and its best chunk score — a query that
matches one page of a long PDF is not drowned by the other pages — and the best chunk gives the hit its
page, start/end seconds and snippet.

>>> from omniembed.search import Searcher
>>> s = Searcher(".omniembed/store")
>>> for hit in s.search("where did we discuss the compressor noise?", k=5):
...     print(hit.path, hit.locator, round(hit.score, 3), hit.snippet)
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .errors import InvalidInput
from .store.base import Record, Store, StoreHit
from .types import Part, Piece

__all__ = ["Searcher", "SearchHit", "MODALITIES", "make_snippet"]

MODALITIES = ("text", "pdf", "image", "audio", "video")


@dataclass
class SearchHit:
    """One ranked result: a file, and where in it the best match is."""

    path: str  # absolute path of the file
    rel_path: str  # relative to the indexed folder
    root: str
    file_id: str
    modality: str
    score: float
    page: int | None = None
    start_s: float | None = None
    end_s: float | None = None
    snippet: str = ""
    source: str = ""  # what the snippet is: text, text-layer, ocr, asr
    chunk: int = -1  # the best chunk's index (-1: the file vector matched best)
    file_score: float = 0.0
    chunk_score: float = 0.0

    @property
    def locator(self) -> str:
        """``p.3``, ``00:12–00:20`` or ``''`` (the same labels as :meth:`omniembed.Piece.locator`)."""
        return Piece(np.zeros(0), self.modality, "", page=self.page, start_s=self.start_s, end_s=self.end_s).locator()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["locator"] = self.locator
        d["score"] = round(float(self.score), 6)
        d["file_score"] = round(float(self.file_score), 6)
        d["chunk_score"] = round(float(self.chunk_score), 6)
        return d


_WORD = re.compile(r"\w{3,}", re.UNICODE)


def make_snippet(text: str, query: str | None, width: int = 220) -> str:
    """A window of ``text`` around the first query word it contains (or its start), on one line."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    start = 0
    if query:
        low = flat.lower()
        positions = [low.find(w.lower()) for w in _WORD.findall(query)]
        positions = [p for p in positions if p >= 0]
        if positions:
            start = max(0, min(positions) - width // 4)
    cut = flat[start : start + width]
    return ("…" if start else "") + cut + ("…" if start + width < len(flat) else "")


def _as_query_part(query) -> Part:
    if isinstance(query, Part):
        return query
    if isinstance(query, (bytes, bytearray)):
        return Part.from_bytes(bytes(query))
    if isinstance(query, os.PathLike):
        return Part.from_file(Path(query))
    if isinstance(query, str):
        if not query.strip():
            raise InvalidInput("empty query")
        return Part(text=query)
    raise InvalidInput(f"cannot search with a {type(query).__name__}: pass text, a Path, bytes or a Part")


class Searcher:
    """Ranked search over a store built by :class:`omniembed.indexer.Indexer`.

    Args:
        store: a :class:`~omniembed.store.Store` or a store spec (see :func:`omniembed.store.open_store`).
        embedder: an :class:`omniembed.Embedder` of the store's profile (default: a new one).
    """

    def __init__(self, store: Store | str | os.PathLike[str] | None = None, embedder=None):
        from .store import open_store

        self.store = store if isinstance(store, Store) else open_store(store)
        self.info = self.store.require_info()
        if embedder is None:
            from .embedder import Embedder

            embedder = Embedder(self.info.profile)
        if embedder.profile.id != self.info.profile:
            from .errors import ProfileMismatch

            raise ProfileMismatch(
                f"the store at {self.info.location} holds {self.info.profile} vectors; queries embedded with "
                f"{embedder.profile.id} cannot be compared with them (use --profile {self.info.profile}, or re-index)"
            )
        self.embedder = embedder

    def embed_query(self, query) -> np.ndarray:
        """Text → a ``query:`` vector; a file or bytes (image, audio, PDF…) → its content vector."""
        part = _as_query_part(query)
        task = "RETRIEVAL_QUERY" if part.text is not None else "SEMANTIC_SIMILARITY"
        dims = None if self.info.dims == self.embedder.dimensions else self.info.dims
        return self.embedder.embed([[part]], task_type=task, output_dimensionality=dims)[0]

    def search(
        self,
        query,
        k: int = 10,
        *,
        modalities: Iterable[str] | None = None,
        chunks: bool = False,
        vector: np.ndarray | None = None,
    ) -> list[SearchHit]:
        """The ``k`` best files for ``query`` (text, a ``Path``, bytes or a ``Part``).

        ``modalities`` keeps only files of those types (``pdf``, ``image``, ``audio``, ``video``,
        ``text``); ``chunks=True`` returns the best chunks instead (several per file possible)."""
        if k < 1:
            raise InvalidInput("k must be at least 1")
        mods = list(modalities or [])
        bad = [m for m in mods if m not in MODALITIES]
        if bad:
            raise InvalidInput(f"unknown type {bad[0]!r}; choose from {', '.join(MODALITIES)}")
        qv = self.embed_query(query) if vector is None else np.asarray(vector, np.float32)
        text = query if isinstance(query, str) else None
        chunk_hits = self.store.search(qv, max(k * 10, 50), level="chunk", modalities=mods)
        if chunks:
            return [self._hit(h.record, h, None, text) for h in chunk_hits[:k]]
        file_hits = self.store.search(qv, max(k * 3, 30), level="file", modalities=mods)
        best_chunk: dict[str, StoreHit] = {}
        for h in chunk_hits:
            if h.record.file_id not in best_chunk:
                best_chunk[h.record.file_id] = h
        files: dict[str, StoreHit] = {h.record.file_id: h for h in file_hits}
        ranked = []
        for fid in set(files) | set(best_chunk):
            f, c = files.get(fid), best_chunk.get(fid)
            score = max(f.score if f else -1.0, c.score if c else -1.0)
            ranked.append((score, fid))
        ranked.sort(key=lambda t: (-t[0], t[1]))
        out = []
        for score, fid in ranked[:k]:
            f, c = files.get(fid), best_chunk.get(fid)
            rec = (c or f).record  # type: ignore[union-attr]
            out.append(self._hit(rec, c, f, text, score))
        return out

    def _hit(self, rec: Record, chunk: StoreHit | None, file: StoreHit | None, query: str | None,
             score: float | None = None) -> SearchHit:
        is_chunk = rec.level == "chunk"
        return SearchHit(
            path=str(Path(rec.root) / rec.path),
            rel_path=rec.path,
            root=rec.root,
            file_id=rec.file_id,
            modality=rec.modality,
            score=float(score if score is not None else (chunk.score if chunk else file.score if file else 0.0)),
            page=rec.page if is_chunk else None,
            start_s=rec.start_s if is_chunk else None,
            end_s=rec.end_s if is_chunk else None,
            snippet=make_snippet(rec.text, query),
            source=rec.source,
            chunk=rec.chunk,
            file_score=float(file.score) if file else 0.0,
            chunk_score=float(chunk.score) if chunk else 0.0,
        )

    def close(self) -> None:
        self.store.close()


def hits_to_json(hits: Sequence[SearchHit]) -> list[dict]:
    return [h.to_dict() for h in hits]

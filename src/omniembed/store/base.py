"""The store interface: what the indexer writes and search reads, whatever the backend.

A store holds *records*: one ``file`` record per indexed file (its pooled vector, content hash, size,
mtime) and one ``chunk`` record per piece of it (a text chunk, a PDF page, an OCR'd image, an audio or
video window, with page or start/end seconds and the snippet that was embedded). The file record is
written last and doubles as the manifest entry, so a file whose file record is missing is simply indexed
again — that is what makes an interrupted run safe to resume.

Every store is bound to one profile and one vector size. Binding a store to another profile or size
raises :class:`~omniembed.errors.ProfileMismatch`: vectors of two profiles are not comparable, and the
only fix is to re-index into a new store.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from typing import Iterable, Sequence

import numpy as np

from ..errors import ProfileMismatch

__all__ = ["Record", "FileEntry", "StoreHit", "StoreInfo", "Store", "file_id_for", "record_id_for", "LEVELS"]

LEVELS = ("file", "chunk")


def file_id_for(root: str, path: str) -> str:
    """A stable id for the file ``path`` (relative, POSIX) under the indexed folder ``root``."""
    return hashlib.sha1(f"{root}\0{path}".encode("utf-8")).hexdigest()[:32]


def record_id_for(file_id: str, chunk: int) -> str:
    """Deterministic record ids make re-writes idempotent: the file record is ``<file_id>:f``."""
    return f"{file_id}:{'f' if chunk < 0 else chunk}"


@dataclass
class Record:
    """One stored vector with the metadata that locates it in the media."""

    file_id: str
    root: str  # absolute path of the indexed folder
    path: str  # path relative to root, POSIX separators
    level: str  # "file" | "chunk"
    modality: str  # the file's modality: text | pdf | image | audio | video
    vector: np.ndarray
    chunk: int = -1  # -1 for the file record, else the piece's index
    mime: str = ""
    page: int | None = None
    start_s: float | None = None
    end_s: float | None = None
    source: str = ""  # text | text-layer | ocr | asr | ...
    text: str = ""  # the snippet that was embedded (chunk) or the start of the content (file)
    sha256: str = ""
    size: int = 0
    mtime_ns: int = 0
    n_chunks: int = 0
    indexed_at: float = 0.0

    @property
    def id(self) -> str:
        return record_id_for(self.file_id, self.chunk)

    def payload(self) -> dict:
        """Every field but the vector, as plain JSON-able values."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "vector"}

    @classmethod
    def from_payload(cls, payload: dict, vector: np.ndarray | None = None) -> "Record":
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in payload.items() if k in names and k != "vector"}
        return cls(vector=vector if vector is not None else np.zeros(0, np.float32), **kw)


@dataclass
class FileEntry:
    """The manifest entry of one indexed file (read from its file record)."""

    file_id: str
    root: str
    path: str
    modality: str
    sha256: str
    size: int
    mtime_ns: int
    n_chunks: int


@dataclass
class StoreHit:
    """A record returned by a vector search, with its cosine similarity to the query."""

    record: Record
    score: float


@dataclass
class StoreInfo:
    """What a store is bound to."""

    profile: str
    dims: int
    backend: str
    location: str
    extra: dict = field(default_factory=dict)


class Store(ABC):
    """A vector store for indexed media. Backends: LanceDB (default) and Qdrant."""

    backend: str = ""
    #: Whether :meth:`search_text` works (a full-text index); hybrid search falls back to dense without it.
    keyword_search: bool = False
    #: Whether :meth:`search` and :meth:`search_text` may run at the same time from two threads (hybrid
    #: search then reads the keyword list while it reads the dense one).
    concurrent_reads: bool = False

    # --- binding --------------------------------------------------------------------------------
    @abstractmethod
    def _read_binding(self) -> tuple[str, int] | None:
        """(profile id, dims) this store was created for, or None for a new, empty store."""

    @abstractmethod
    def _create(self, profile: str, dims: int) -> None:
        """Create the tables/collection for vectors of this profile and size."""

    @property
    @abstractmethod
    def location(self) -> str: ...

    def prefetch(self) -> None:
        """Start loading, in the background, what the first read will need (e.g. the client library),
        so it overlaps with work the caller does meanwhile, such as embedding the query. Optional."""

    def info(self) -> StoreInfo | None:
        """The profile and size this store holds, or None when nothing was indexed yet."""
        b = self._read_binding()
        return None if b is None else StoreInfo(b[0], b[1], self.backend, self.location)

    def bind(self, profile: str, dims: int) -> StoreInfo:
        """Make sure the store holds vectors of ``profile`` at ``dims`` (creating it if new).

        Raises :class:`ProfileMismatch` when it already holds vectors of another profile or size."""
        b = self._read_binding()
        if b is None:
            self._create(profile, dims)
        elif (b[0], int(b[1])) != (profile, int(dims)):
            raise ProfileMismatch(
                f"the store at {self.location} holds vectors of profile {b[0]} at {b[1]} dimensions, "
                f"but this run uses {profile} at {dims} dimensions; vectors of different profiles or "
                "sizes cannot be mixed. Re-index into a new store (--store NEW_PATH), or delete this store "
                "and run `omniembed index` again"
            )
        return StoreInfo(profile, int(dims), self.backend, self.location)

    def require_info(self) -> StoreInfo:
        from ..errors import InvalidInput

        info = self.info()
        if info is None:
            raise InvalidInput(f"the store at {self.location} is empty; run `omniembed index DIR` first")
        return info

    # --- writes ---------------------------------------------------------------------------------
    @abstractmethod
    def replace_file(self, file_id: str, records: Sequence[Record]) -> None:
        """Drop every record of ``file_id`` and write ``records`` (chunk records first, the file
        record last), so that a crash at any point leaves either no file record (the file is indexed
        again on the next run) or a complete file."""

    def replace_files(self, files: Sequence[tuple[str, Sequence[Record]]]) -> None:
        """:meth:`replace_file` for several files, in as few store round trips as the backend allows
        (the indexer writes a batch of files at once). The default: one file after another."""
        for file_id, records in files:
            self.replace_file(file_id, records)

    @abstractmethod
    def delete_file(self, file_id: str) -> None: ...

    @abstractmethod
    def touch_file(self, file_id: str, size: int, mtime_ns: int) -> None:
        """Record a new size/mtime for a file whose content hash did not change."""

    @abstractmethod
    def _chunk_file_ids(self) -> set[str]:
        """The file ids that have chunk records."""

    def prune_orphans(self) -> int:
        """Delete chunk records whose file record is missing (left by a crash); returns how many files."""
        orphans = self._chunk_file_ids() - set(self.files())
        for fid in orphans:
            self.delete_file(fid)
        return len(orphans)

    def optimize(self, *, reindex_ann: bool = False) -> None:
        """Compact storage after many small writes and keep the indexes current (a no-op where the
        backend does that itself). ``reindex_ann`` rebuilds the vector index from scratch."""

    def index_status(self) -> dict:
        """Record counts and, per index, its type and coverage (``omniembed status``)."""
        return {"records": self.count(), "files": self.count("file"), "chunks": self.count("chunk"), "indexes": []}

    # --- reads ----------------------------------------------------------------------------------
    @abstractmethod
    def files(self, root: str | None = None) -> dict[str, FileEntry]:
        """The manifest: file id → entry, optionally only files under ``root``."""

    @abstractmethod
    def search(
        self,
        vector: np.ndarray,
        k: int,
        *,
        level: str | None = None,
        modalities: Iterable[str] | None = None,
    ) -> list[StoreHit]:
        """The ``k`` records nearest to ``vector`` (cosine), best first. A hit's record carries what a
        search result shows (ids, level, modality, location, snippet, source); a store may leave the
        manifest's fields (mime, sha256, size, mtime_ns, n_chunks, indexed_at) at their defaults."""

    def search_text(
        self,
        query: str,
        k: int,
        *,
        level: str | None = None,
        modalities: Iterable[str] | None = None,
    ) -> list[StoreHit]:
        """The ``k`` records whose text best matches ``query`` (keyword / BM25 ranking), best first.

        Scores are comparable within one result list only."""
        from ..errors import InvalidInput

        raise InvalidInput(f"the {self.backend} store has no keyword index; search with --mode dense")

    @abstractmethod
    def records(self, level: str = "file", with_vectors: bool = True) -> list[Record]:
        """Every record of a level (for clustering and exports)."""

    def count(self, level: str | None = None) -> int:
        return len(self.records(level or "file", with_vectors=False)) if level else (
            len(self.records("file", False)) + len(self.records("chunk", False))
        )

    def roots(self) -> list[str]:
        return sorted({e.root for e in self.files().values()})

    def close(self) -> None:
        """Release files and connections."""

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def entry_from_record(r: Record) -> FileEntry:
    return FileEntry(r.file_id, r.root, r.path, r.modality, r.sha256, int(r.size), int(r.mtime_ns), int(r.n_chunks))

"""Qdrant backend, through qdrant-client: local mode (a directory, no server) or a server URL.

The profile id and vector size live in the collection's own metadata, so a Qdrant server shared by
several tools still refuses vectors of another profile. Point ids are UUIDv5 of the record id, so
writing the same file twice overwrites instead of duplicating.

Keyword search (the BM25 half of hybrid search) uses Qdrant's sparse vectors: each record carries a
sparse vector ``text`` of its words (hashed to 32-bit ids, each weighted by BM25's saturated term
frequency ``tf·(k1+1)/(tf+k1)``, k1 = 1.2, no length normalisation), and the collection declares the
IDF modifier, so Qdrant itself weighs rare words up at query time: BM25 computed by the engine.
Collections created before this have no sparse vectors; hybrid search then falls back to dense.
Vector search is Qdrant's HNSW on a server (built by Qdrant per segment past its indexing threshold);
local mode scans exhaustively.
"""

from __future__ import annotations

import re
import uuid
import zlib
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import InvalidInput, MissingDependency
from .base import FileEntry, Record, Store, StoreHit, entry_from_record

__all__ = ["QdrantStore"]

_NS = uuid.UUID("0b5a3f0e-6d1c-5e4f-9a77-6f6d6e69656d")
_BATCH = 256
_SPARSE = "text"  # the sparse (keyword) vector's name
_WORDS = re.compile(r"\w+", re.UNICODE)
_K1 = 1.2


def _terms(text: str) -> Counter:
    """Lower-cased word tokens (``AC-200`` → ``ac``, ``200``; the same split as LanceDB's simple tokenizer)."""
    return Counter(w for w in _WORDS.findall(text.lower()) if len(w) <= 40)


def sparse_text(text: str, query: bool = False):
    """A BM25 sparse vector of ``text``: term id = CRC-32 of the word, value = saturated tf (1 in a query)."""
    from qdrant_client import models

    tf = _terms(text)
    ids: dict[int, float] = {}
    for word, n in tf.items():
        tid = zlib.crc32(word.encode("utf-8"))
        ids[tid] = ids.get(tid, 0.0) + (1.0 if query else n * (_K1 + 1) / (n + _K1))
    return models.SparseVector(indices=list(ids), values=list(ids.values()))


def _point_id(record_id: str) -> str:
    return str(uuid.uuid5(_NS, record_id))


def _dense(vector) -> np.ndarray:
    """The dense vector of a point (a plain list, or the unnamed entry of a named-vectors dict)."""
    if isinstance(vector, dict):
        vector = vector.get("")
    return np.asarray(vector, np.float32)


class QdrantStore(Store):
    """Records in a Qdrant collection.

    Args:
        path: a directory for qdrant-client's local mode (embedded, one process at a time), or
        url: a Qdrant server, e.g. ``http://localhost:6333``.
        collection: the collection name (default ``omniembed``).
    """

    backend = "qdrant"

    def __init__(self, path: str | None = None, *, url: str | None = None, collection: str = "omniembed",
                 api_key: str | None = None):
        try:
            from qdrant_client import QdrantClient
        except ImportError:
            raise MissingDependency("the Qdrant store needs: pip install 'omniembed[store]'") from None
        if (path is None) == (url is None):
            raise InvalidInput("a Qdrant store needs either a local path or a server url")
        self.collection = collection
        self.url = url
        self.path = str(Path(path).expanduser().resolve()) if path else None
        if self.path:
            Path(self.path).mkdir(parents=True, exist_ok=True)
            self.client = QdrantClient(path=self.path)
        else:
            self.client = QdrantClient(url=url, api_key=api_key)

    @property
    def keyword_search(self) -> bool:  # type: ignore[override]
        """True when the collection has the sparse ``text`` vectors (created by this version or later)."""
        if getattr(self, "_sparse", None) is None:
            try:
                params = self.client.get_collection(self.collection).config.params
                self._sparse = bool(params.sparse_vectors and _SPARSE in params.sparse_vectors)
            except Exception:  # noqa: BLE001 — no collection yet
                return False
        return bool(self._sparse)

    @property
    def location(self) -> str:
        return f"qdrant:{self.path}" if self.path else f"{self.url}#{self.collection}"

    @property
    def _models(self):
        from qdrant_client import models

        return models

    # --- binding --------------------------------------------------------------------------------
    def _read_binding(self) -> tuple[str, int] | None:
        if not self.client.collection_exists(self.collection):
            return None
        cfg = self.client.get_collection(self.collection).config
        meta = cfg.metadata or {}
        if "omniembed_profile" not in meta:
            raise InvalidInput(
                f"the Qdrant collection {self.collection!r} at {self.location} was not created by omniembed "
                "(no profile recorded); use another collection"
            )
        return str(meta["omniembed_profile"]), int(meta["omniembed_dims"])

    def _create(self, profile: str, dims: int) -> None:
        m = self._models
        self.client.create_collection(
            self.collection,
            vectors_config=m.VectorParams(size=int(dims), distance=m.Distance.COSINE),
            sparse_vectors_config={_SPARSE: m.SparseVectorParams(modifier=m.Modifier.IDF)},
            metadata={"omniembed_profile": profile, "omniembed_dims": int(dims)},
        )
        self._sparse = None
        if self.url:  # payload indexes matter on a server; local mode scans anyway
            for key in ("file_id", "level", "modality", "root"):
                self.client.create_payload_index(self.collection, key, m.PayloadSchemaType.KEYWORD)

    # --- helpers --------------------------------------------------------------------------------
    def _filter(self, level: str | None = None, modalities: Iterable[str] | None = None, file_id: str | None = None):
        m = self._models
        must = []
        if level:
            must.append(m.FieldCondition(key="level", match=m.MatchValue(value=level)))
        mods = list(modalities or [])
        if mods:
            must.append(m.FieldCondition(key="modality", match=m.MatchAny(any=mods)))
        if file_id:
            must.append(m.FieldCondition(key="file_id", match=m.MatchValue(value=file_id)))
        return m.Filter(must=must) if must else None

    def _scroll(self, flt, with_vectors: bool, fields: list[str] | None = None):
        offset = None
        while True:
            points, offset = self.client.scroll(
                self.collection,
                scroll_filter=flt,
                limit=1024,
                offset=offset,
                with_payload=fields if fields else True,
                with_vectors=with_vectors,
            )
            yield from points
            if offset is None:
                return

    # --- writes ---------------------------------------------------------------------------------
    def replace_file(self, file_id: str, records: Sequence[Record]) -> None:
        m = self._models
        self.delete_file(file_id)
        ordered = sorted(records, key=lambda r: r.level == "file")  # the file record (manifest) last
        sparse = self.keyword_search
        points = [
            m.PointStruct(
                id=_point_id(r.id),
                vector={"": np.asarray(r.vector, np.float32).tolist(), _SPARSE: sparse_text(r.text)} if sparse
                else np.asarray(r.vector, np.float32).tolist(),
                payload=r.payload(),
            )
            for r in ordered
        ]  # fmt: skip
        chunks, last = points[:-1], points[-1:]
        for i in range(0, len(chunks), _BATCH):
            self.client.upsert(self.collection, points=chunks[i : i + _BATCH], wait=True)
        self.client.upsert(self.collection, points=last, wait=True)

    def delete_file(self, file_id: str) -> None:
        m = self._models
        self.client.delete(
            self.collection, points_selector=m.FilterSelector(filter=self._filter(file_id=file_id)), wait=True
        )

    def touch_file(self, file_id: str, size: int, mtime_ns: int) -> None:
        from .base import record_id_for

        self.client.set_payload(
            self.collection,
            payload={"size": int(size), "mtime_ns": int(mtime_ns)},
            points=[_point_id(record_id_for(file_id, -1))],
            wait=True,
        )

    # --- reads ----------------------------------------------------------------------------------
    def files(self, root: str | None = None) -> dict[str, FileEntry]:
        if self._read_binding() is None:
            return {}
        out = {}
        for p in self._scroll(self._filter(level="file"), with_vectors=False):
            rec = Record.from_payload(p.payload or {})
            if root is None or rec.root == root:
                out[rec.file_id] = entry_from_record(rec)
        return out

    def _chunk_file_ids(self) -> set[str]:
        if self._read_binding() is None:
            return set()
        return {p.payload["file_id"] for p in self._scroll(self._filter(level="chunk"), False, ["file_id"])}

    def search(
        self,
        vector: np.ndarray,
        k: int,
        *,
        level: str | None = None,
        modalities: Iterable[str] | None = None,
    ) -> list[StoreHit]:
        res = self.client.query_points(
            self.collection,
            query=np.asarray(vector, np.float32).tolist(),
            limit=int(k),
            query_filter=self._filter(level, modalities),
            with_payload=True,
            with_vectors=False,  # hits need the payload only; vectors would multiply the response size
        )
        return [StoreHit(Record.from_payload(p.payload or {}), float(p.score)) for p in res.points]

    def search_text(
        self,
        query: str,
        k: int,
        *,
        level: str | None = None,
        modalities: Iterable[str] | None = None,
    ) -> list[StoreHit]:
        """BM25 through the sparse ``text`` vectors (IDF applied by Qdrant)."""
        if not self.keyword_search:
            return super().search_text(query, k, level=level, modalities=modalities)
        q = sparse_text(query, query=True)
        if not q.indices:
            return []
        res = self.client.query_points(self.collection, query=q, using=_SPARSE, limit=int(k),
                                       query_filter=self._filter(level, modalities), with_payload=True)
        return [StoreHit(Record.from_payload(p.payload or {}), float(p.score)) for p in res.points]

    def records(self, level: str = "file", with_vectors: bool = True) -> list[Record]:
        if self._read_binding() is None:
            return []
        return [
            Record.from_payload(p.payload or {}, _dense(p.vector) if with_vectors else None)
            for p in self._scroll(self._filter(level=level), with_vectors)
        ]

    def index_status(self) -> dict:
        """Counts plus Qdrant's own view: collection status, vectors in the HNSW graph, payload indexes.

        A Qdrant server builds the HNSW graph itself once a segment passes its indexing threshold
        (20k vectors by default); local mode (``qdrant:DIR``) always scans exhaustively."""
        out = super().index_status()
        if self._read_binding() is None:
            return out
        info = self.client.get_collection(self.collection)
        hnsw = info.config.hnsw_config
        out["indexes"].append({
            "name": "vector", "column": "vector", "type": "HNSW" if self.url else "none (local mode scans)",
            "indexed_rows": info.indexed_vectors_count, "unindexed_rows": None,
            "distance": "cosine", "m": getattr(hnsw, "m", None), "ef_construct": getattr(hnsw, "ef_construct", None),
        })  # fmt: skip
        if self.keyword_search:
            out["indexes"].append({"name": _SPARSE, "column": "text", "type": "sparse BM25 (IDF by Qdrant)",
                                   "indexed_rows": info.points_count, "unindexed_rows": None})
        for key, schema in (info.payload_schema or {}).items():
            out["indexes"].append({"name": key, "column": key, "type": str(getattr(schema, "data_type", schema)),
                                   "indexed_rows": getattr(schema, "points", None), "unindexed_rows": None})
        return out

    def count(self, level: str | None = None) -> int:
        if self._read_binding() is None:
            return 0
        return int(self.client.count(self.collection, count_filter=self._filter(level=level), exact=True).count)

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:
            pass

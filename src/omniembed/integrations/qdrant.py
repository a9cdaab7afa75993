"""Qdrant: your own collections of omniembed vectors, sized for the profile, with the profile recorded.

``omniembed index`` already keeps its records in Qdrant (:mod:`omniembed.store`); this helper is for
applications that manage their own collections and payloads with qdrant-client:

>>> from qdrant_client import QdrantClient
>>> from omniembed.integrations.qdrant import OmniEmbedQdrant
>>> qd = OmniEmbedQdrant(QdrantClient(path="qdrant"), "docs", vectors={"full": None, "fast": 128})
>>> qd.add(["The Eiffel Tower is in Paris.", Path("scan.png")], payloads=[{"lang": "en"}, {}])
>>> qd.query("where is the eiffel tower?", using="full", prefetch_using="fast")   # Matryoshka two-stage

* **Sizes**: each named vector has a size (``None`` = the profile's native size). Items are embedded
  once at native size; smaller named vectors are Matryoshka prefixes of the same vector, so a
  ``fast`` 128-d vector can shortlist and the ``full`` one re-rank in one Qdrant query.
* **Profile guard**: the collection's metadata records ``omniembed_profile`` and the vector sizes (the
  same keys as :mod:`omniembed.store`); opening it with another profile or other sizes raises
  :class:`~omniembed.errors.ProfileMismatch` instead of mixing incomparable vectors.
* **Modalities**: items are anything omniembed embeds — text, paths, bytes, interleaved lists — all in
  one space, so one vector serves text, images, PDFs, audio and video alike.
"""

from __future__ import annotations

import uuid
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InvalidInput, ProfileMismatch
from ..types import ContentLike, TaskType
from ._backend import Backend, make_backend, matryoshka, require

require("qdrant_client", "store", "omniembed.integrations.qdrant")

from qdrant_client import QdrantClient, models  # noqa: E402

__all__ = ["OmniEmbedQdrant"]

#: The key of an unnamed (default) vector in ``vectors`` and in the recorded metadata.
DEFAULT = ""


class OmniEmbedQdrant:
    """A Qdrant collection whose vectors come from omniembed (in-process engine or server).

    Args:
        client: a ``QdrantClient`` (local mode ``QdrantClient(path=...)``, ``":memory:"`` or a server).
        collection: the collection name; created on first use.
        embedder / base_url / model / api_key / profile: where vectors come from (as in every adapter).
        vectors: named vectors ``{name: size or None}``; ``None`` (default) = one unnamed vector of
            the profile's native size.
        distance: Qdrant distance; omniembed vectors are unit-norm, so cosine and dot agree.
    """

    def __init__(
        self,
        client: QdrantClient,
        collection: str,
        embedder: Any = None,
        *,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        profile: str = "lite",
        vectors: Mapping[str, int | None] | None = None,
        distance: str = "Cosine",
    ):
        self.client = client
        self.collection = collection
        self.backend: Backend = make_backend(embedder, base_url=base_url, model=model, api_key=api_key, profile=profile)
        self.profile, self.native_dim = self.backend.profile_info()
        spec = dict(vectors) if vectors else {DEFAULT: None}
        if DEFAULT in spec and len(spec) > 1:
            raise InvalidInput("use either one unnamed vector or named vectors, not both")
        self.vectors: dict[str, int] = {name: int(size or self.native_dim) for name, size in spec.items()}
        for name, size in self.vectors.items():
            if not 1 <= size <= self.native_dim:
                raise InvalidInput(f"vector {name or '(default)'!r}: size {size} is not in 1…{self.native_dim}")
        self.distance = models.Distance(distance.capitalize() if distance.islower() else distance)
        self._ready = False

    # --- the collection -----------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """What the collection records about its vectors."""
        meta: dict[str, Any] = {"omniembed_profile": self.profile, "omniembed_vectors": dict(self.vectors)}
        if DEFAULT in self.vectors:
            meta["omniembed_dims"] = self.vectors[DEFAULT]
        return meta

    def ensure_collection(self) -> None:
        """Create the collection, or check that an existing one holds this profile's vectors."""
        if self._ready:
            return
        if not self.client.collection_exists(self.collection):
            params = {n: models.VectorParams(size=s, distance=self.distance) for n, s in self.vectors.items()}
            self.client.create_collection(
                self.collection,
                vectors_config=params[DEFAULT] if DEFAULT in params else params,
                metadata=self.metadata(),
            )
        else:
            meta = self.client.get_collection(self.collection).config.metadata or {}
            have = (meta.get("omniembed_profile"), meta.get("omniembed_vectors"))
            if have[0] is None:
                raise InvalidInput(
                    f"the Qdrant collection {self.collection!r} records no omniembed profile; it was not "
                    "created by omniembed. Use another collection name"
                )
            want = (self.profile, dict(self.vectors))
            if (have[0], {k: int(v) for k, v in (have[1] or {}).items()}) != want:
                raise ProfileMismatch(
                    f"the Qdrant collection {self.collection!r} holds vectors of profile {have[0]} with sizes "
                    f"{have[1]}, but this client embeds with {want[0]} and sizes {want[1]}; vectors of "
                    "different profiles or sizes cannot be mixed. Re-embed into a new collection"
                )
        self._ready = True

    def _named(self, full: np.ndarray) -> list[Any]:
        """Per point: the vector (unnamed) or ``{name: vector}``, each at its Matryoshka size."""
        per_name = {n: (full if s == self.native_dim else matryoshka(full, s)) for n, s in self.vectors.items()}
        if DEFAULT in per_name:
            return [v.tolist() for v in per_name[DEFAULT]]
        return [{n: per_name[n][i].tolist() for n in per_name} for i in range(len(full))]

    # --- writes and queries ---------------------------------------------------------------------
    def add(
        self,
        items: Sequence[ContentLike],
        *,
        ids: Sequence[str | int] | None = None,
        payloads: Sequence[dict] | None = None,
        task_type: str | TaskType = TaskType.RETRIEVAL_DOCUMENT,
        batch_size: int = 32,
    ) -> list[str | int]:
        """Embed ``items`` and upsert them; returns the point ids (random UUIDs unless given).

        A text item's payload gets ``text`` unless the payload already has it."""
        items = list(items)
        if ids is not None and len(ids) != len(items):
            raise InvalidInput(f"{len(ids)} ids for {len(items)} items")
        if payloads is not None and len(payloads) != len(items):
            raise InvalidInput(f"{len(payloads)} payloads for {len(items)} items")
        self.ensure_collection()
        out_ids = list(ids) if ids is not None else [str(uuid.uuid4()) for _ in items]
        for start in range(0, len(items), max(1, batch_size)):
            chunk = items[start : start + batch_size]
            full = self.backend.embed(chunk, task_type=task_type)
            points = []
            for j, vec in enumerate(self._named(full)):
                i = start + j
                payload = dict(payloads[i]) if payloads is not None else {}
                if isinstance(items[i], str):
                    payload.setdefault("text", items[i])
                points.append(models.PointStruct(id=out_ids[i], vector=vec, payload=payload))
            self.client.upsert(self.collection, points=points)
        return out_ids

    def query(
        self,
        query: ContentLike,
        *,
        limit: int = 5,
        using: str | None = None,
        prefetch_using: str | None = None,
        prefetch_limit: int = 50,
        query_filter: models.Filter | None = None,
        task_type: str | TaskType = TaskType.RETRIEVAL_QUERY,
    ) -> list[models.ScoredPoint]:
        """The ``limit`` nearest points to ``query`` (text, a path, bytes …), best first.

        ``using`` names the vector to rank with (default: the largest); ``prefetch_using`` first
        shortlists ``prefetch_limit`` points with a smaller vector (Matryoshka two-stage search)."""
        self.ensure_collection()
        if DEFAULT in self.vectors:
            if using or prefetch_using:
                raise InvalidInput("this collection has one unnamed vector: leave using/prefetch_using unset")
            using_name = None
        else:
            using_name = using or max(self.vectors, key=self.vectors.__getitem__)
            for name in filter(None, (using_name, prefetch_using)):
                if name not in self.vectors:
                    raise InvalidInput(f"no vector named {name!r}; this collection has {sorted(self.vectors)}")
        full = self.backend.embed([query], task_type=task_type)
        size = self.vectors[using_name if using_name is not None else DEFAULT]
        qvec = matryoshka(full, size)[0].tolist()
        prefetch = None
        if prefetch_using:
            small = matryoshka(full, self.vectors[prefetch_using])[0].tolist()
            prefetch = models.Prefetch(query=small, using=prefetch_using, limit=prefetch_limit, filter=query_filter)
        return self.client.query_points(
            self.collection,
            query=qvec,
            using=using_name,
            prefetch=prefetch,
            query_filter=query_filter,
            limit=limit,
            with_payload=True,
        ).points

"""Vector stores for indexed media: LanceDB (default, embedded) and Qdrant (local mode or a server).

>>> from omniembed.store import open_store
>>> store = open_store(".omniembed/store")              # LanceDB directory
>>> store = open_store("qdrant:.omniembed/qdrant")      # Qdrant local mode
>>> store = open_store("http://localhost:6333#media")   # Qdrant server, collection "media"
>>> store = open_store("s3://bucket/omniembed")         # LanceDB on object storage (S3, GCS, Azure)

Every store records the profile id and vector size it was created for and raises
:class:`omniembed.errors.ProfileMismatch` rather than mix vectors of another profile or size.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InvalidInput
from .base import FileEntry, Record, Store, StoreHit, StoreInfo, file_id_for

__all__ = [
    "open_store",
    "default_store_path",
    "Store",
    "Record",
    "FileEntry",
    "StoreHit",
    "StoreInfo",
    "file_id_for",
    "BACKENDS",
]

BACKENDS = ("lancedb", "qdrant")


def default_store_path() -> str:
    """``$OMNIEMBED_STORE``, else ``.omniembed/store`` in the current directory."""
    return os.environ.get("OMNIEMBED_STORE") or str(Path(".omniembed") / "store")


def _looks_like_qdrant_dir(path: Path) -> bool:
    return (path / "meta.json").is_file() and (path / "collection").is_dir()


def open_store(spec: str | os.PathLike[str] | None = None, *, backend: str | None = None,
               collection: str = "omniembed") -> Store:
    """Open (or prepare to create) a store.

    ``spec`` is a directory (LanceDB unless it already holds a Qdrant local store, or ``backend``
    says ``qdrant``), ``lancedb:DIR``, ``qdrant:DIR`` (Qdrant local mode) or a Qdrant server URL
    ``http(s)://host:port[#collection]``, or an object-storage URI for LanceDB (``s3://bucket/prefix``,
    ``gs://``, ``az://``; credentials and endpoint from the environment LanceDB reads: ``AWS_*``,
    ``GOOGLE_*``, ``AZURE_*``). ``None`` means :func:`default_store_path`.
    """
    spec = str(spec) if spec is not None else default_store_path()
    if backend is not None and backend not in BACKENDS:
        raise InvalidInput(f"unknown store backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if spec.startswith(("http://", "https://")):
        from .qdrant import QdrantStore

        url, _, frag = spec.partition("#")
        return QdrantStore(url=url, collection=frag or collection, api_key=os.environ.get("QDRANT_API_KEY"))
    for prefix in BACKENDS:
        if spec.startswith(prefix + ":"):
            backend, spec = prefix, spec[len(prefix) + 1 :]
            break
    from .lance import is_object_uri

    if is_object_uri(spec):
        if backend == "qdrant":
            raise InvalidInput(f"a Qdrant store is a directory or an http(s):// server URL, not {spec}")
        from .lance import LanceStore

        return LanceStore(spec)
    path = Path(spec).expanduser()
    if backend is None:
        backend = "qdrant" if _looks_like_qdrant_dir(path) else "lancedb"
    if backend == "qdrant":
        from .qdrant import QdrantStore

        return QdrantStore(str(path), collection=collection)
    from .lance import LanceStore

    return LanceStore(path)

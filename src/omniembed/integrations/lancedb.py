"""LanceDB: omniembed as a registered LanceDB embedding function (``"omniembed"``).

``omniembed index`` already keeps its records in LanceDB (:mod:`omniembed.store`); this is for
applications with their own LanceDB tables, using LanceDB's embedding API so rows are embedded on
``add`` and queries on ``search``:

>>> import lancedb
>>> from lancedb.pydantic import LanceModel, Vector
>>> from omniembed.integrations.lancedb import OmniEmbedLanceEmbeddings
>>> ef = OmniEmbedLanceEmbeddings.create()                      # or .create(base_url="http://…")
>>> class Doc(LanceModel):
...     text: str = ef.SourceField()
...     vector: Vector(ef.ndims()) = ef.VectorField()
>>> table = lancedb.connect("lance").create_table("docs", schema=Doc)
>>> table.add([{"text": "The Eiffel Tower is in Paris."}])
>>> table.search("where is the eiffel tower?").limit(3).to_pydantic(Doc)

* **Profile stored**: LanceDB saves the function's settings in the table's schema metadata; ``create``
  always records the resolved profile id (``omniembed-lite-1``) and size, so a table reopened later, by
  another process, embeds its queries with the same profile and size, never a newer default.
* **Media**: with ``source="media"`` the source column holds bytes (``pa.binary()``) or file paths of
  images, PDFs, audio or video; text queries find them because all share one space.
* **Several vector sizes** (a 128-d Matryoshka column beside the full one): give each vector column its
  own function (``create(output_dimensionality=128)``) over its own source column.
* The server key is a sensitive setting: pass ``api_key="$var:omniembed_key"`` after
  ``lancedb.embeddings.get_registry().set_var("omniembed_key", KEY)``; it is never written to the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import numpy as np

from ..errors import InvalidInput
from ..space import get_profile
from ..types import Part, TaskType
from ._backend import Backend, image_part, make_backend, require

require("lancedb", "store", "omniembed.integrations.lancedb")

from lancedb.embeddings import EmbeddingFunction, register  # noqa: E402
from pydantic import PrivateAttr  # noqa: E402

__all__ = ["OmniEmbedLanceEmbeddings"]


@register("omniembed")
class OmniEmbedLanceEmbeddings(EmbeddingFunction):
    """omniembed as a LanceDB ``EmbeddingFunction``; build it with ``OmniEmbedLanceEmbeddings.create(...)``.

    Fields: ``profile`` (in-process), ``base_url`` / ``model`` / ``api_key`` (server),
    ``output_dimensionality`` (Matryoshka size), ``source`` (``"text"`` or ``"media"``: bytes or
    paths), ``document_task_type`` / ``query_task_type``.
    """

    profile: str = "lite"
    base_url: Optional[str] = None
    model: Optional[str] = None
    api_key: Optional[str] = None
    output_dimensionality: Optional[int] = None
    source: str = "text"
    document_task_type: str = TaskType.RETRIEVAL_DOCUMENT.value
    query_task_type: str = TaskType.RETRIEVAL_QUERY.value
    max_retries: int = 0  # omniembed errors are about the input: retrying cannot help
    _backend: Any = PrivateAttr(default=None)

    @classmethod
    def create(cls, **kwargs: Any) -> "OmniEmbedLanceEmbeddings":
        """Like LanceDB's ``create``, but the settings saved with the table name the exact profile."""
        if not kwargs.get("base_url"):
            kwargs["profile"] = get_profile(kwargs.get("profile") or "lite").id
        if kwargs.get("source", "text") not in ("text", "media"):
            raise InvalidInput(f"source must be 'text' or 'media', not {kwargs['source']!r}")
        for key in ("document_task_type", "query_task_type"):
            if key in kwargs:
                kwargs[key] = TaskType.parse(kwargs[key]).value
        return super().create(**kwargs)

    @staticmethod
    def sensitive_keys() -> List[str]:
        return ["api_key"]

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = make_backend(
                base_url=self.base_url, model=self.model, api_key=self.api_key, profile=self.profile
            )
        return self._backend

    def ndims(self) -> int:
        return int(self.output_dimensionality or self.backend.profile_info()[1])

    def _item(self, x: Any) -> Any:
        if isinstance(x, Part):
            return x
        if isinstance(x, str):
            return Part.from_file(Path(x)) if self.source == "media" else x
        if isinstance(x, (bytes, bytearray, memoryview)):
            return Part.from_bytes(bytes(x))
        return image_part(x)  # numpy arrays, PIL images, file-like objects

    def _embed(self, items: list, task: str) -> list[np.ndarray]:
        if not items:
            return []
        vecs = self.backend.embed(
            [self._item(x) for x in items], task_type=task, output_dimensionality=self.output_dimensionality
        )
        return list(vecs)

    def compute_source_embeddings(self, inputs: Any, *args: Any, **kwargs: Any) -> list[np.ndarray]:
        """Embed a batch of the source column (texts, or bytes/paths with ``source="media"``)."""
        return self._embed(list(self.sanitize_input(inputs)), self.document_task_type)

    def compute_query_embeddings(self, query: Any, *args: Any, **kwargs: Any) -> list[np.ndarray]:
        """Embed a search query: text (always read as text), bytes, an image array or a PIL image."""
        item = Part(text=query) if isinstance(query, str) else query
        return self._embed([item], self.query_task_type)

    # LanceDB wraps every error of a retried call in a bare ``Exception``. omniembed's errors are about
    # the input, so with ``max_retries=0`` (the default here) they reach the caller with their type.
    def compute_query_embeddings_with_retry(self, *args: Any, **kwargs: Any) -> list[np.ndarray]:
        if self.max_retries:
            return super().compute_query_embeddings_with_retry(*args, **kwargs)
        return self.compute_query_embeddings(*args, **kwargs)

    def compute_source_embeddings_with_retry(self, *args: Any, **kwargs: Any) -> list[np.ndarray]:
        if self.max_retries:
            return super().compute_source_embeddings_with_retry(*args, **kwargs)
        return self.compute_source_embeddings(*args, **kwargs)

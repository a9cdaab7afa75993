"""Chroma: :class:`OmniEmbedEmbeddingFunction`, an ``EmbeddingFunction`` for documents and images.

>>> import chromadb
>>> from omniembed.integrations.chroma import OmniEmbedEmbeddingFunction
>>> client = chromadb.PersistentClient(path="chroma")
>>> col = client.get_or_create_collection("docs", embedding_function=OmniEmbedEmbeddingFunction())
>>> col.add(ids=["a", "b"], documents=["The Eiffel Tower is in Paris.", "Bananas are yellow."])
>>> col.add(ids=["scan"], images=[numpy_rgb_array])              # images go into the same space
>>> col.query(query_texts=["where is the eiffel tower?"], n_results=1)

Chroma calls ``__call__`` when adding (documents → ``RETRIEVAL_DOCUMENT``) and ``embed_query`` when
querying (``RETRIEVAL_QUERY``). The class is registered under the name ``omniembed``, and Chroma stores
``get_config()`` with the collection, so a later ``client.get_collection("docs")`` — in another process,
without passing the function — rebuilds it with ``build_from_config`` (same profile, same size, same
server). The API key itself is never stored: give the name of the environment variable that holds it.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, cast

import numpy as np

from ..types import TaskType
from ._backend import Backend, image_part, make_backend, require

require("chromadb", "chroma", "omniembed.integrations.chroma")

from chromadb.api.types import Embeddable, EmbeddingFunction, Embeddings, Space  # noqa: E402
from chromadb.utils.embedding_functions import register_embedding_function  # noqa: E402

__all__ = ["OmniEmbedEmbeddingFunction"]

_FIXED = ("profile", "base_url", "model", "output_dimensionality")


@register_embedding_function
class OmniEmbedEmbeddingFunction(EmbeddingFunction[Embeddable]):
    """omniembed as a Chroma embedding function: strings are texts, numpy arrays (H×W×3) are images.

    Args:
        embedder: an existing :class:`omniembed.Embedder` to share (in-process mode).
        base_url: URL of an ``omniembed serve`` instance (server mode).
        model: the server's model (default ``omniembed-lite``) or, in-process, the profile.
        api_key_env_var: environment variable holding the server's key (default ``OMNIEMBED_API_KEY``).
        output_dimensionality: Matryoshka size (128…native); default the profile's native size.
        document_task_type / query_task_type: task types of added items and of queries.
    """

    def __init__(
        self,
        embedder: Any = None,
        *,
        base_url: str | None = None,
        model: str | None = None,
        api_key_env_var: str = "OMNIEMBED_API_KEY",
        profile: str = "lite",
        output_dimensionality: int | None = None,
        document_task_type: str | TaskType = TaskType.RETRIEVAL_DOCUMENT,
        query_task_type: str | TaskType = TaskType.RETRIEVAL_QUERY,
    ) -> None:
        self.api_key_env_var = api_key_env_var
        self._backend: Backend = make_backend(
            embedder, base_url=base_url, model=model, api_key=os.environ.get(api_key_env_var), profile=profile
        )
        self.output_dimensionality = output_dimensionality
        self.document_task_type = TaskType.parse(document_task_type)
        self.query_task_type = TaskType.parse(query_task_type)

    def _embed(self, input: Embeddable, task: TaskType) -> Embeddings:
        items = [image_part(x) if isinstance(x, np.ndarray) else x for x in input]
        vectors = self._backend.embed(items, task_type=task, output_dimensionality=self.output_dimensionality)
        return cast(Embeddings, list(vectors))

    def __call__(self, input: Embeddable) -> Embeddings:
        """Embed documents and/or images being added to a collection (one float32 vector each)."""
        return self._embed(input, self.document_task_type)

    def embed_query(self, input: Embeddable) -> Embeddings:
        """Embed query texts (or query images) with the query task type."""
        return self._embed(input, self.query_task_type)

    @staticmethod
    def name() -> str:
        return "omniembed"

    def default_space(self) -> Space:
        return "cosine"  # vectors are unit-norm: cosine, ip and l2 all rank the same

    def supported_spaces(self) -> List[Space]:
        return ["cosine", "ip", "l2"]

    def get_config(self) -> Dict[str, Any]:
        config: Dict[str, Any] = dict(self._backend.config())
        config.update(
            output_dimensionality=self.output_dimensionality,
            document_task_type=self.document_task_type.value,
            query_task_type=self.query_task_type.value,
            api_key_env_var=self.api_key_env_var,
        )
        return config

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "OmniEmbedEmbeddingFunction":
        base_url = config.get("base_url")
        return OmniEmbedEmbeddingFunction(
            base_url=base_url,
            model=config.get("model") if base_url else config.get("profile"),
            api_key_env_var=config.get("api_key_env_var") or "OMNIEMBED_API_KEY",
            output_dimensionality=config.get("output_dimensionality"),
            document_task_type=config.get("document_task_type") or TaskType.RETRIEVAL_DOCUMENT,
            query_task_type=config.get("query_task_type") or TaskType.RETRIEVAL_QUERY,
        )

    def validate_config_update(self, old_config: Dict[str, Any], new_config: Dict[str, Any]) -> None:
        # Vectors of different profiles or sizes must never share a collection.
        for key in _FIXED:
            if key in new_config and new_config[key] != old_config.get(key):
                raise ValueError(
                    f"omniembed: {key!r} cannot change on an existing collection (its vectors would mix "
                    "with incompatible ones); re-embed into a new collection instead"
                )

    @staticmethod
    def validate_config(config: Dict[str, Any]) -> None:
        dims = config.get("output_dimensionality")
        if dims is not None and (not isinstance(dims, int) or dims <= 0):
            raise ValueError(f"omniembed: output_dimensionality must be a positive int, not {dims!r}")
        for key in ("document_task_type", "query_task_type"):
            if config.get(key) is not None:
                TaskType.parse(config[key])

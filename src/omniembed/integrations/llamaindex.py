"""LlamaIndex: :class:`OmniEmbedMultiModalEmbedding`, a ``MultiModalEmbedding`` (text and images).

>>> from llama_index.core import VectorStoreIndex, Document
>>> from omniembed.integrations.llamaindex import OmniEmbedMultiModalEmbedding
>>> embed_model = OmniEmbedMultiModalEmbedding()                  # in-process engine
>>> index = VectorStoreIndex.from_documents([Document(text="...")], embed_model=embed_model)
>>> index.as_retriever(similarity_top_k=3).retrieve("a question")

Texts and nodes are embedded as ``RETRIEVAL_DOCUMENT``, queries as ``RETRIEVAL_QUERY``; images (paths or
the ``BytesIO`` LlamaIndex resolves from ``ImageNode``) land in the same space, so one model serves both
``embed_model`` and ``image_embed_model`` of a ``MultiModalVectorStoreIndex``. With
``base_url="http://host:8000"`` the vectors come from an ``omniembed serve`` instance.
"""

from __future__ import annotations

from typing import Any, List, Optional

from ..types import TaskType
from ._backend import Backend, image_part, make_backend, require

require("llama_index.core", "llamaindex", "omniembed.integrations.llamaindex")

from llama_index.core.base.embeddings.base import Embedding  # noqa: E402
from llama_index.core.bridge.pydantic import Field, PrivateAttr  # noqa: E402
from llama_index.core.embeddings.multi_modal_base import MultiModalEmbedding  # noqa: E402
from llama_index.core.schema import ImageType  # noqa: E402

__all__ = ["OmniEmbedMultiModalEmbedding"]


class OmniEmbedMultiModalEmbedding(MultiModalEmbedding):
    """omniembed as a LlamaIndex ``MultiModalEmbedding``.

    Args:
        embedder: an existing :class:`omniembed.Embedder` to share (in-process mode).
        base_url: URL of an ``omniembed serve`` instance (server mode).
        model_name: the server's model (default ``omniembed-lite``) or, in-process, the profile.
        api_key: the server's key; default ``$OMNIEMBED_API_KEY``.
        output_dimensionality: Matryoshka size (128…native); default the profile's native size.
        document_task_type / query_task_type: task types for texts/images and for queries.
        embed_batch_size: texts/images per call to the engine or server.
    """

    base_url: Optional[str] = Field(default=None, description="omniembed server URL; None = in-process engine.")
    output_dimensionality: Optional[int] = Field(default=None, description="Matryoshka output size.")
    document_task_type: str = Field(default=TaskType.RETRIEVAL_DOCUMENT.value)
    query_task_type: str = Field(default=TaskType.RETRIEVAL_QUERY.value)
    _backend: Any = PrivateAttr(default=None)

    def __init__(
        self,
        embedder: Any = None,
        *,
        base_url: Optional[str] = None,
        model_name: Optional[str] = None,
        api_key: Optional[str] = None,
        profile: str = "lite",
        output_dimensionality: Optional[int] = None,
        document_task_type: str | TaskType = TaskType.RETRIEVAL_DOCUMENT,
        query_task_type: str | TaskType = TaskType.RETRIEVAL_QUERY,
        embed_batch_size: int = 32,
        **kwargs: Any,
    ) -> None:
        backend: Backend = make_backend(embedder, base_url=base_url, model=model_name, api_key=api_key, profile=profile)
        super().__init__(
            model_name=backend.model,
            base_url=base_url,
            output_dimensionality=output_dimensionality,
            document_task_type=TaskType.parse(document_task_type).value,
            query_task_type=TaskType.parse(query_task_type).value,
            embed_batch_size=embed_batch_size,
            **kwargs,
        )
        self._backend = backend

    @classmethod
    def class_name(cls) -> str:
        return "OmniEmbedMultiModalEmbedding"

    # --- one place that calls the engine or server -------------------------------------------
    def _embed(self, items: list, task: str) -> List[Embedding]:
        if not items:
            return []
        return self._backend.embed(items, task_type=task, output_dimensionality=self.output_dimensionality).tolist()

    async def _aembed(self, items: list, task: str) -> List[Embedding]:
        if not items:
            return []
        out = await self._backend.aembed(items, task_type=task, output_dimensionality=self.output_dimensionality)
        return out.tolist()

    # --- queries ------------------------------------------------------------------------------
    def _get_query_embedding(self, query: str) -> Embedding:
        return self._embed([query], self.query_task_type)[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._aembed([query], self.query_task_type))[0]

    # --- texts (documents, nodes) -------------------------------------------------------------
    def _get_text_embedding(self, text: str) -> Embedding:
        return self._embed([text], self.document_task_type)[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aembed([text], self.document_task_type))[0]

    def _get_text_embeddings(self, texts: List[str]) -> List[Embedding]:
        return self._embed(list(texts), self.document_task_type)

    async def _aget_text_embeddings(self, texts: List[str]) -> List[Embedding]:
        return await self._aembed(list(texts), self.document_task_type)

    # --- images (file paths or BytesIO) -------------------------------------------------------
    def _get_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return self._embed([image_part(img_file_path)], self.document_task_type)[0]

    async def _aget_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return (await self._aembed([image_part(img_file_path)], self.document_task_type))[0]

    def _get_image_embeddings(self, img_file_paths: List[ImageType]) -> List[Embedding]:
        return self._embed([image_part(p) for p in img_file_paths], self.document_task_type)

    async def _aget_image_embeddings(self, img_file_paths: List[ImageType]) -> List[Embedding]:
        return await self._aembed([image_part(p) for p in img_file_paths], self.document_task_type)

"""LangChain: :class:`OmniEmbedEmbeddings`, a ``langchain_core.embeddings.Embeddings``.

>>> from omniembed.integrations.langchain import OmniEmbedEmbeddings
>>> from langchain_core.vectorstores import InMemoryVectorStore
>>> store = InMemoryVectorStore(OmniEmbedEmbeddings())            # in-process engine
>>> store.add_texts(["The Eiffel Tower is in Paris.", "Bananas are rich in potassium."])
>>> store.similarity_search("where is the eiffel tower?", k=1)

Documents are embedded as ``RETRIEVAL_DOCUMENT`` and queries as ``RETRIEVAL_QUERY`` (e5's ``passage:``
and ``query:``), which is what makes asymmetric search work. ``OmniEmbedEmbeddings(base_url=...)`` uses
an ``omniembed serve`` instance instead of the in-process engine. Beyond text, :meth:`embed_image`
(the name LangChain's multimodal embedders use) and :meth:`embed_contents` take images, PDFs, audio,
video and interleaved contents into the same space.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from ..types import ContentLike, TaskType
from ._backend import Backend, image_part, make_backend, require

require("langchain_core", "langchain", "omniembed.integrations.langchain")

from langchain_core.embeddings import Embeddings  # noqa: E402
from langchain_core.utils import secret_from_env  # noqa: E402
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, field_validator, model_validator  # noqa: E402

__all__ = ["OmniEmbedEmbeddings"]


class OmniEmbedEmbeddings(BaseModel, Embeddings):
    """omniembed as a LangChain ``Embeddings`` (a pydantic model, like LangChain's own integrations).

    Args:
        embedder: an existing :class:`omniembed.Embedder` to share (in-process mode; also the first
            positional argument); default: one is made for ``profile`` on first use.
        base_url: URL of an ``omniembed serve`` instance; when given, vectors come from the server.
        model: the server's model name (default ``omniembed-lite``) or, in-process, the profile; after
            construction it names the model the vectors belong to (``omniembed-lite-1`` in-process).
        api_key: the server's key (sent as ``x-goog-api-key``); default ``$OMNIEMBED_API_KEY``.
        output_dimensionality: Matryoshka size (128…native); default the profile's native size.
        document_task_type / query_task_type: task types of :meth:`embed_documents` and
            :meth:`embed_query`.
        timeout / max_retries: server mode: seconds per HTTP request, and how often a 429/503 (queue full,
            starting) or a dropped connection is retried, waiting what the server's ``Retry-After`` says.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid", protected_namespaces=(),
                              populate_by_name=True)

    embedder: Any = Field(default=None, exclude=True)
    base_url: Optional[str] = None
    model: Optional[str] = None
    api_key: Optional[SecretStr] = Field(default_factory=secret_from_env("OMNIEMBED_API_KEY", default=None))
    profile: str = "lite"
    output_dimensionality: Optional[int] = None
    document_task_type: TaskType = TaskType.RETRIEVAL_DOCUMENT
    query_task_type: TaskType = TaskType.RETRIEVAL_QUERY
    timeout: float = 300.0
    max_retries: int = 6

    _backend: Any = PrivateAttr(default=None)

    def __init__(self, embedder: Any = None, /, **kwargs: Any):
        if embedder is not None:
            kwargs["embedder"] = embedder
        super().__init__(**kwargs)

    @field_validator("document_task_type", "query_task_type", mode="before")
    @classmethod
    def _task(cls, v: Any) -> TaskType:
        return TaskType.parse(v)

    @model_validator(mode="after")
    def _make_backend(self) -> "OmniEmbedEmbeddings":
        self._backend = make_backend(
            self.embedder, base_url=self.base_url, model=self.model,
            api_key=self.api_key.get_secret_value() if self.api_key is not None else None,
            profile=self.profile, timeout=self.timeout, max_retries=self.max_retries,
        )
        self.model = self._backend.model
        return self

    @property
    def backend(self) -> Backend:
        """Where the vectors come from: the in-process engine or the server client (one pool, retries)."""
        return self._backend

    def _embed(self, items: Sequence[ContentLike], task: TaskType) -> list[list[float]]:
        return self.backend.embed(items, task_type=task, output_dimensionality=self.output_dimensionality).tolist()

    async def _aembed(self, items: Sequence[ContentLike], task: TaskType) -> list[list[float]]:
        out = await self.backend.aembed(items, task_type=task, output_dimensionality=self.output_dimensionality)
        return out.tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, embedded as documents (``RETRIEVAL_DOCUMENT``)."""
        return self._embed(list(texts), self.document_task_type)

    def embed_query(self, text: str) -> list[float]:
        """One vector for a search query (``RETRIEVAL_QUERY``)."""
        return self._embed([text], self.query_task_type)[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await self._aembed(list(texts), self.document_task_type)

    async def aembed_query(self, text: str) -> list[float]:
        return (await self._aembed([text], self.query_task_type))[0]

    def embed_image(self, uris: list[str]) -> list[list[float]]:
        """One vector per image file (path or ``file://`` URI), in the same space as the texts."""
        return self._embed([image_part(u[7:] if u.startswith("file://") else u) for u in uris],
                           self.document_task_type)

    def embed_contents(
        self, contents: Sequence[ContentLike], task_type: str | TaskType | None = None
    ) -> list[list[float]]:
        """Any omniembed contents — paths to images, PDFs, audio, video, bytes, interleaved lists —
        one vector each (task type default: the document task type)."""
        return self._embed(list(contents), TaskType.parse(task_type, self.document_task_type))

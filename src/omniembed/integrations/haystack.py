"""Haystack 2.x: :class:`OmniEmbedTextEmbedder` and :class:`OmniEmbedDocumentEmbedder` components.

>>> from haystack import Document, Pipeline
>>> from haystack.document_stores.in_memory import InMemoryDocumentStore
>>> from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
>>> from omniembed.integrations.haystack import OmniEmbedDocumentEmbedder, OmniEmbedTextEmbedder
>>> store = InMemoryDocumentStore(embedding_similarity_function="cosine")
>>> store.write_documents(OmniEmbedDocumentEmbedder().run([Document(content="...")])["documents"])
>>> query = Pipeline()
>>> query.add_component("embed", OmniEmbedTextEmbedder())
>>> query.add_component("retrieve", InMemoryEmbeddingRetriever(store))
>>> query.connect("embed.embedding", "retrieve.query_embedding")
>>> query.run({"embed": {"text": "a question"}})

Same contracts as Haystack's own embedders: ``run(text) -> {"embedding", "meta"}`` and
``run(documents) -> {"documents", "meta"}`` (plus ``run_async``), ``meta_fields_to_embed``,
``prefix``/``suffix``, ``to_dict``/``from_dict`` for pipeline YAML (importing this module adds it to
Haystack's deserialization allowlist, so ``Pipeline.loads`` accepts these two components). Documents are embedded as
``RETRIEVAL_DOCUMENT``, query texts as ``RETRIEVAL_QUERY``. Beyond text, a document's ``blob``
(image, PDF, audio, video bytes) or a file named in its metadata (``file_path_meta_field``) is
embedded together with its text as one interleaved content → one vector in the same space.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..types import ContentLike, Part, TaskType
from ._backend import Backend, make_backend, require

require("haystack", "haystack", "omniembed.integrations.haystack")

from haystack import Document, component, default_from_dict, default_to_dict  # noqa: E402
from haystack.utils import Secret, deserialize_secrets_inplace  # noqa: E402

__all__ = ["OmniEmbedTextEmbedder", "OmniEmbedDocumentEmbedder"]

try:  # Haystack ≥ 2.2x refuses to load classes from modules off its allowlist; trust exactly this one.
    from haystack.core.serialization import allow_deserialization_module

    allow_deserialization_module(__name__)
except ImportError:  # older Haystack: no allowlist
    pass


def _with_secret(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of a component dict with its ``api_key`` turned back into a ``Secret`` (not in place)."""
    params = dict(data.get("init_parameters", {}))
    deserialize_secrets_inplace(params, keys=["api_key"])
    return {**data, "init_parameters": params}


def _default_key() -> Secret:
    return Secret.from_env_var("OMNIEMBED_API_KEY", strict=False)


class _Base:
    """Settings and backend shared by both components."""

    def __init__(
        self,
        embedder: Any,
        base_url: str | None,
        model: str | None,
        api_key: Secret | None,
        profile: str,
        output_dimensionality: int | None,
        task_type: str | TaskType,
        prefix: str,
        suffix: str,
    ) -> None:
        self.base_url = base_url
        self.api_key = api_key if api_key is not None else _default_key()
        self._backend: Backend = make_backend(
            embedder, base_url=base_url, model=model, api_key=self.api_key.resolve_value(), profile=profile
        )
        self.model = self._backend.model
        self.output_dimensionality = output_dimensionality
        self.task_type = TaskType.parse(task_type)
        self.prefix = prefix
        self.suffix = suffix
        self._warm = False

    def warm_up(self) -> None:
        """Load the models (in-process mode) so the first ``run`` is not slow; no-op for a server."""
        if not self._warm and self.base_url is None:
            self._backend.embed(["warm up"], task_type=self.task_type)
        self._warm = True

    def _meta(self, n: int, dims: int) -> dict[str, Any]:
        return {"model": self.model, "count": n, "dimensions": dims, "task_type": self.task_type.value}

    def _common_dict(self) -> dict[str, Any]:
        return dict(
            base_url=self.base_url,
            model=self.model,
            api_key=self.api_key.to_dict(),  # an env-var reference; token secrets refuse to serialise
            output_dimensionality=self.output_dimensionality,
            task_type=self.task_type.value,
            prefix=self.prefix,
            suffix=self.suffix,
        )


@component
class OmniEmbedTextEmbedder(_Base):
    """Embeds one query string (``RETRIEVAL_QUERY`` by default) for an embedding retriever.

    Args:
        embedder: an existing :class:`omniembed.Embedder` to share (in-process mode).
        base_url: URL of an ``omniembed serve`` instance (server mode).
        model: the server's model (default ``omniembed-lite``) or, in-process, the profile.
        api_key: the server's key as a Haystack ``Secret`` (default: env ``OMNIEMBED_API_KEY``, optional).
        output_dimensionality: Matryoshka size (128…native); default the profile's native size.
        task_type: how the text is used (``RETRIEVAL_QUERY``; ``SEMANTIC_SIMILARITY`` …).
        prefix / suffix: strings added around the text.
    """

    def __init__(
        self,
        embedder: Any = None,
        *,
        base_url: str | None = None,
        model: str | None = None,
        api_key: Secret | None = None,
        profile: str = "lite",
        output_dimensionality: int | None = None,
        task_type: str | TaskType = TaskType.RETRIEVAL_QUERY,
        prefix: str = "",
        suffix: str = "",
    ) -> None:
        # Not super(): @component rebuilds the class, which breaks zero-argument super().
        _Base.__init__(
            self, embedder, base_url, model, api_key, profile, output_dimensionality, task_type, prefix, suffix
        )

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, **self._common_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "OmniEmbedTextEmbedder":
        return default_from_dict(cls, _with_secret(data))

    def _check(self, text: Any) -> str:
        if not isinstance(text, str):
            raise TypeError(
                "OmniEmbedTextEmbedder expects a string as input; to embed a list of Documents, "
                "use OmniEmbedDocumentEmbedder"
            )
        return self.prefix + text + self.suffix

    @component.output_types(embedding=list[float], meta=dict[str, Any])
    def run(self, text: str) -> dict[str, Any]:
        """Embed ``text``; returns ``{"embedding": list[float], "meta": {...}}``."""
        vec = self._backend.embed(
            [self._check(text)], task_type=self.task_type, output_dimensionality=self.output_dimensionality
        )
        return {"embedding": vec[0].tolist(), "meta": self._meta(1, vec.shape[1])}

    @component.output_types(embedding=list[float], meta=dict[str, Any])
    async def run_async(self, text: str) -> dict[str, Any]:
        vec = await self._backend.aembed(
            [self._check(text)], task_type=self.task_type, output_dimensionality=self.output_dimensionality
        )
        return {"embedding": vec[0].tolist(), "meta": self._meta(1, vec.shape[1])}


@component
class OmniEmbedDocumentEmbedder(_Base):
    """Embeds Documents (``RETRIEVAL_DOCUMENT`` by default) and returns copies with ``embedding`` set.

    A document's vector comes from its text (``content``, with ``meta_fields_to_embed`` joined in front)
    and, when present, its media: ``blob`` bytes, or the file whose path is in
    ``meta[file_path_meta_field]`` (relative paths resolve against ``root_path``). Text and media
    together form one interleaved content, hence one vector.

    Args (besides those of :class:`OmniEmbedTextEmbedder`):
        meta_fields_to_embed: metadata fields embedded with the text (e.g. ``["title"]``).
        embedding_separator: joins those fields and the content.
        file_path_meta_field: a metadata field holding a path to an image/PDF/audio/video file.
        root_path: base folder of relative paths in ``file_path_meta_field``.
        batch_size: documents per call to the engine or server.
        progress_bar: show a progress bar for long lists (in-process mode).
    """

    def __init__(
        self,
        embedder: Any = None,
        *,
        base_url: str | None = None,
        model: str | None = None,
        api_key: Secret | None = None,
        profile: str = "lite",
        output_dimensionality: int | None = None,
        task_type: str | TaskType = TaskType.RETRIEVAL_DOCUMENT,
        prefix: str = "",
        suffix: str = "",
        meta_fields_to_embed: list[str] | None = None,
        embedding_separator: str = "\n",
        file_path_meta_field: str | None = None,
        root_path: str | None = None,
        batch_size: int = 32,
        progress_bar: bool = False,
    ) -> None:
        # Not super(): @component rebuilds the class, which breaks zero-argument super().
        _Base.__init__(
            self, embedder, base_url, model, api_key, profile, output_dimensionality, task_type, prefix, suffix
        )
        self.meta_fields_to_embed = list(meta_fields_to_embed or [])
        self.embedding_separator = embedding_separator
        self.file_path_meta_field = file_path_meta_field
        self.root_path = root_path
        self.batch_size = max(1, int(batch_size))
        self.progress_bar = progress_bar

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(
            self,
            **self._common_dict(),
            meta_fields_to_embed=self.meta_fields_to_embed,
            embedding_separator=self.embedding_separator,
            file_path_meta_field=self.file_path_meta_field,
            root_path=self.root_path,
            batch_size=self.batch_size,
            progress_bar=self.progress_bar,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "OmniEmbedDocumentEmbedder":
        return default_from_dict(cls, _with_secret(data))

    def _content(self, doc: Document) -> ContentLike:
        """One document → one content: [text] + [media], interleaved when both are present."""
        fields = [str(doc.meta[k]) for k in self.meta_fields_to_embed if doc.meta.get(k) is not None]
        text = self.embedding_separator.join([*fields, doc.content] if doc.content else fields)
        parts: list[Part] = []
        if text:
            parts.append(Part(text=self.prefix + text + self.suffix))
        if doc.blob is not None:
            parts.append(Part.from_bytes(doc.blob.data, doc.blob.mime_type))
        elif (path := self._file(doc)) is not None:
            parts.append(Part.from_file(path))
        if not parts:
            raise InvalidInput("nothing to embed: no content, no blob and no file")
        return parts

    def _file(self, doc: Document) -> Path | None:
        if not self.file_path_meta_field or not doc.meta.get(self.file_path_meta_field):
            return None
        path = Path(doc.meta[self.file_path_meta_field])
        return Path(self.root_path) / path if self.root_path and not path.is_absolute() else path

    def _check(self, documents: Any) -> list[ContentLike]:
        if not isinstance(documents, list) or (documents and not isinstance(documents[0], Document)):
            raise TypeError(
                "OmniEmbedDocumentEmbedder expects a list of Documents as input; to embed a string, "
                "use OmniEmbedTextEmbedder"
            )
        contents = []
        for doc in documents:
            try:
                contents.append(self._content(doc))
            except InvalidInput as exc:
                raise InvalidInput(f"document {doc.id}: {exc}") from exc
        return contents

    def _batches(self, contents: list[ContentLike]) -> list[list[ContentLike]]:
        return [contents[i : i + self.batch_size] for i in range(0, len(contents), self.batch_size)]

    def _result(self, documents: list[Document], vectors: list[list[float]]) -> dict[str, Any]:
        docs = [replace(d, embedding=v) for d, v in zip(documents, vectors)]
        return {"documents": docs, "meta": self._meta(len(docs), len(vectors[0]) if vectors else 0)}

    @component.output_types(documents=list[Document], meta=dict[str, Any])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        """Embed ``documents``; returns ``{"documents": copies with .embedding, "meta": {...}}``."""
        contents = self._check(documents)
        batches = self._batches(contents)
        progress = None
        if self.progress_bar and len(batches) > 1:
            from rich.progress import Progress

            progress = Progress(transient=True)
            progress.start()
            bar = progress.add_task("embedding documents", total=len(contents))
        vectors: list[list[float]] = []
        try:
            for batch in batches:
                out = self._backend.embed(
                    batch, task_type=self.task_type, output_dimensionality=self.output_dimensionality
                )
                vectors.extend(out.tolist())
                if progress is not None:
                    progress.advance(bar, len(batch))
        finally:
            if progress is not None:
                progress.stop()
        return self._result(documents, vectors)

    @component.output_types(documents=list[Document], meta=dict[str, Any])
    async def run_async(self, documents: list[Document]) -> dict[str, Any]:
        contents = self._check(documents)
        vectors: list[list[float]] = []
        for batch in self._batches(contents):
            out = await self._backend.aembed(
                batch, task_type=self.task_type, output_dimensionality=self.output_dimensionality
            )
            vectors.extend(out.tolist())
        return self._result(documents, vectors)

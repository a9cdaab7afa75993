"""A google-genai shaped facade, so code written for Gemini Embedding 2 runs offline with only its
import changed::

    from omniembed import Client, types          # was: from google import genai; from google.genai import types
    client = Client()                            # was: genai.Client()
    result = client.models.embed_content(
        model="omniembed-lite",
        contents=[types.Content(parts=[types.Part(text="A dog"), types.Part.from_bytes(data=png, mime_type="image/png")])],
        config=types.EmbedContentConfig(task_type="RETRIEVAL_DOCUMENT", output_dimensionality=256),
    )
    result.embeddings[0].values

Grouping follows Gemini's rule for contents: one ``Content`` (or a list of ``Part``) → ONE vector; a list
of ``Content`` → one vector each. A list of plain strings gives one vector per string (what
gemini-embedding-001 did and what users expect; the hosted SDK currently merges them, python-genai#2523).
"""

from __future__ import annotations

from typing import Any, Sequence

from .embedder import Embedder, to_content
from .errors import InvalidInput
from .space import get_profile
from .types import Content, ContentEmbedding, EmbedContentConfig, EmbedContentResponse, Part
from .wire.gemini import content_from_json

__all__ = ["Client"]


def contents_from_genai(contents: Any) -> list[Content]:
    """google-genai's ``contents`` argument → our contents, with the grouping rule above."""
    if isinstance(contents, (str, Part, Content)):
        return [to_content(contents)]
    if isinstance(contents, dict):
        return [_content_from_dict(contents, "contents")]
    if not isinstance(contents, Sequence) or not contents:
        raise InvalidInput("contents must be a str, Part, Content or a non-empty list of them")
    if all(isinstance(c, Part) for c in contents):
        return [Content(parts=list(contents))]
    out = []
    for i, c in enumerate(contents):
        if isinstance(c, dict):
            out.append(_content_from_dict(c, f"contents[{i}]"))
        else:
            out.append(to_content(c, f"contents[{i}]"))
    return out


def _content_from_dict(d: dict, where: str) -> Content:
    """A Gemini content as a dict (REST JSON, or a google-genai object's ``model_dump()``): text,
    ``inline_data`` (base64 or bytes) and ``file_data`` parts, read by the shared Gemini codec."""
    return to_content(content_from_json(d, where))


class _Models:
    def __init__(self, client: "Client"):
        self._client = client

    def embed_content(
        self, *, model: str, contents: Any, config: EmbedContentConfig | dict | None = None
    ) -> EmbedContentResponse:
        cfg = config if isinstance(config, EmbedContentConfig) else EmbedContentConfig(**(config or {}))
        embedder = self._client._embedder_for(model)
        vectors = embedder.embed(
            contents_from_genai(contents),
            task_type=cfg.task_type or "RETRIEVAL_DOCUMENT",
            output_dimensionality=cfg.output_dimensionality,
            title=cfg.title,
        )
        return EmbedContentResponse(embeddings=[ContentEmbedding(values=v.tolist()) for v in vectors])


class Client:
    """In-process stand-in for ``google.genai.Client``: ``Client().models.embed_content(...)``."""

    def __init__(self, **embedder_options: Any):
        self._options = embedder_options
        self._embedders: dict[str, Embedder] = {}
        self.models = _Models(self)

    def _embedder_for(self, model: str) -> Embedder:
        profile = get_profile(model)
        if profile.id not in self._embedders:
            self._embedders[profile.id] = Embedder(profile, **self._options)
        return self._embedders[profile.id]

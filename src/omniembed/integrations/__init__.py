"""Framework adapters: LangChain, LlamaIndex, Haystack, Chroma, Qdrant and LanceDB.

Each adapter lives in its own module and imports its framework only when that module is imported, so
the core install stays small; a missing framework raises :class:`omniembed.errors.MissingDependency`
naming the pip extra (``pip install 'omniembed[langchain]'`` …). Every adapter runs either on the
in-process engine (pass an :class:`omniembed.Embedder`, or nothing) or on an ``omniembed serve``
instance (pass ``base_url=``).

- ``OmniEmbedEmbeddings`` — ``omniembed.integrations.langchain`` (extra ``langchain``)
- ``OmniEmbedMultiModalEmbedding`` — ``omniembed.integrations.llamaindex`` (extra ``llamaindex``)
- ``OmniEmbedTextEmbedder``, ``OmniEmbedDocumentEmbedder`` — ``omniembed.integrations.haystack`` (``haystack``)
- ``OmniEmbedEmbeddingFunction`` — ``omniembed.integrations.chroma`` (extra ``chroma``)
- ``OmniEmbedQdrant`` — ``omniembed.integrations.qdrant`` (extra ``store``)
- ``OmniEmbedLanceEmbeddings`` — ``omniembed.integrations.lancedb`` (extra ``store``)

The names above can also be imported from this package directly; the framework is imported then.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "OmniEmbedEmbeddings": "langchain",
    "OmniEmbedMultiModalEmbedding": "llamaindex",
    "OmniEmbedTextEmbedder": "haystack",
    "OmniEmbedDocumentEmbedder": "haystack",
    "OmniEmbedEmbeddingFunction": "chroma",
    "OmniEmbedQdrant": "qdrant",
    "OmniEmbedLanceEmbeddings": "lancedb",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'omniembed.integrations' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))

"""LlamaIndex adapter against the real llama-index-core: text and multimodal index round trips."""

from __future__ import annotations

import asyncio
import importlib
import sys

import numpy as np
import pytest

from integrations_support import DOCS, IMAGE_QUERIES, IMAGE_TEXTS, QUERIES, rank, text_image_png
from omniembed.errors import MissingDependency

from llama_index.core import Document, VectorStoreIndex  # noqa: E402
from llama_index.core.embeddings import MultiModalEmbedding  # noqa: E402
from llama_index.core.indices.multi_modal import MultiModalVectorStoreIndex  # noqa: E402
from llama_index.core.schema import ImageNode, TextNode  # noqa: E402

from omniembed.integrations.llamaindex import OmniEmbedMultiModalEmbedding  # noqa: E402


@pytest.fixture(scope="module")
def li(embedder):
    return OmniEmbedMultiModalEmbedding(embedder, embed_batch_size=2)


def test_vector_store_index_ranks_the_right_document_first(li):
    assert isinstance(li, MultiModalEmbedding)
    docs = [Document(text=d, metadata={"i": i}) for i, d in enumerate(DOCS)]
    index = VectorStoreIndex.from_documents(docs, embed_model=li)
    retriever = index.as_retriever(similarity_top_k=2)
    for query, want in QUERIES:
        hits = retriever.retrieve(query)
        assert hits[0].node.metadata["i"] == want, (query, [h.node.get_content() for h in hits])


def test_query_and_text_task_types_and_batching(li, embedder):
    # embed_batch_size=2 splits four texts into two calls; the result equals the direct engine call
    batch = np.array(li.get_text_embedding_batch(DOCS))
    assert np.allclose(batch, embedder.embed(DOCS, task_type="RETRIEVAL_DOCUMENT"), atol=1e-5)
    q = np.array(li.get_query_embedding(DOCS[0]))
    assert np.allclose(q, embedder.embed(DOCS[0], task_type="RETRIEVAL_QUERY")[0], atol=1e-5)
    assert li.model_name == "omniembed-lite-1"


def test_async_text_and_query(li):
    async def main():
        docs = await li.aget_text_embedding_batch(DOCS)
        one = await li.aget_text_embedding(DOCS[2])
        query = await li.aget_query_embedding(QUERIES[0][0])
        return docs, one, query

    docs, one, query = asyncio.run(main())
    assert np.allclose(docs[2], one, atol=1e-5)
    assert rank(query, docs)[0] == QUERIES[0][1]


def test_multimodal_index_retrieves_images_by_their_printed_text(li, tmp_path):
    image_nodes = []
    for i, text in enumerate(IMAGE_TEXTS):
        path = tmp_path / f"scan{i}.png"
        path.write_bytes(text_image_png(text))
        image_nodes.append(ImageNode(image_path=str(path), metadata={"i": i}))
    text_nodes = [TextNode(text=d, metadata={"i": i}) for i, d in enumerate(DOCS)]
    index = MultiModalVectorStoreIndex(text_nodes + image_nodes, embed_model=li, image_embed_model=li)
    retriever = index.as_retriever(similarity_top_k=1, image_similarity_top_k=1)
    for query, want in IMAGE_QUERIES:
        images = retriever.text_to_image_retrieve(query)
        assert images[0].node.metadata["i"] == want, query

    # the async batch (fed BytesIO, what ImageNode.resolve_image gives) agrees with what the index stored
    stored = [index.image_vector_store.get(n.node_id) for n in image_nodes]
    async_ = asyncio.run(li.aget_image_embedding_batch([n.resolve_image() for n in image_nodes]))
    assert np.allclose(stored, async_, atol=1e-5)


def test_matryoshka_size(embedder):
    small = OmniEmbedMultiModalEmbedding(embedder, output_dimensionality=256)
    assert len(small.get_text_embedding(DOCS[0])) == 256


def test_missing_llamaindex_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_index.core", None)
    monkeypatch.delitem(sys.modules, "omniembed.integrations.llamaindex")
    with pytest.raises(MissingDependency, match=r"omniembed\[llamaindex\]"):
        importlib.import_module("omniembed.integrations.llamaindex")

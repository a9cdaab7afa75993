"""LangChain adapter against the real langchain-core: retrieval round trips through InMemoryVectorStore."""

from __future__ import annotations

import asyncio
import importlib
import sys

import numpy as np
import pytest

from integrations_support import DOCS, IMAGE_QUERIES, IMAGE_TEXTS, QUERIES, rank, text_image_png
from omniembed.errors import MissingDependency


from langchain_core.documents import Document  # noqa: E402
from langchain_core.embeddings import Embeddings  # noqa: E402
from langchain_core.vectorstores import InMemoryVectorStore  # noqa: E402

from omniembed.integrations.langchain import OmniEmbedEmbeddings  # noqa: E402


@pytest.fixture(scope="module")
def lc(embedder):
    return OmniEmbedEmbeddings(embedder)


def test_is_a_langchain_embeddings_and_ranks_the_right_document_first(lc):
    assert isinstance(lc, Embeddings)
    store = InMemoryVectorStore(lc)
    store.add_documents([Document(page_content=d, metadata={"i": i}) for i, d in enumerate(DOCS)])
    for query, want in QUERIES:
        hits = store.similarity_search(query, k=2)
        assert hits[0].metadata["i"] == want, (query, [h.page_content for h in hits])


def test_documents_and_queries_use_their_task_types(lc, embedder):
    text = DOCS[0]
    doc = np.array(lc.embed_documents([text])[0])
    query = np.array(lc.embed_query(text))
    assert doc.shape == query.shape == (embedder.dimensions,)
    assert np.allclose(doc, embedder.embed(text, task_type="RETRIEVAL_DOCUMENT")[0], atol=1e-5)
    assert np.allclose(query, embedder.embed(text, task_type="RETRIEVAL_QUERY")[0], atol=1e-5)
    assert not np.allclose(doc, query, atol=1e-3)  # "passage: " vs "query: " really differ
    assert lc.model == "omniembed-lite-1"


def test_async_variants_match_and_work_in_an_async_store(lc):
    async def main():
        docs = await lc.aembed_documents(DOCS)
        query = await lc.aembed_query(QUERIES[1][0])
        store = InMemoryVectorStore(lc)
        await store.aadd_texts(DOCS)
        hits = await store.asimilarity_search(QUERIES[1][0], k=1)
        return docs, query, hits

    docs, query, hits = asyncio.run(main())
    assert np.allclose(docs, lc.embed_documents(DOCS), atol=1e-5)
    assert rank(query, docs)[0] == QUERIES[1][1]
    assert hits[0].page_content == DOCS[QUERIES[1][1]]


def test_matryoshka_size_and_unit_norm(embedder):
    small = OmniEmbedEmbeddings(embedder, output_dimensionality=128)
    vecs = np.array(small.embed_documents(DOCS))
    assert vecs.shape == (len(DOCS), 128)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert rank(small.embed_query(QUERIES[0][0]), vecs)[0] == QUERIES[0][1]


def test_images_share_the_space_with_text_queries(lc, tmp_path):
    paths = []
    for i, text in enumerate(IMAGE_TEXTS):
        p = tmp_path / f"scan{i}.png"
        p.write_bytes(text_image_png(text))
        paths.append(str(p))
    image_vecs = lc.embed_image(paths)
    for query, want in IMAGE_QUERIES:
        assert rank(lc.embed_query(query), image_vecs)[0] == want, query
    # embed_contents: an interleaved content (caption + image) is one vector
    mixed = lc.embed_contents([["A scanned document:", paths[0]]])
    assert len(mixed) == 1 and len(mixed[0]) == len(image_vecs[0])


def test_missing_langchain_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "langchain_core", None)
    monkeypatch.setitem(sys.modules, "langchain_core.embeddings", None)
    monkeypatch.delitem(sys.modules, "omniembed.integrations.langchain")
    with pytest.raises(MissingDependency, match=r"omniembed\[langchain\]"):
        importlib.import_module("omniembed.integrations.langchain")

"""Haystack adapter against the real haystack-ai: indexing and query pipelines, YAML round trip, media."""

from __future__ import annotations

import asyncio
import importlib
import os
import sys

import numpy as np
import pytest

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from integrations_support import DOCS, IMAGE_QUERIES, IMAGE_TEXTS, QUERIES, text_image_png  # noqa: E402
from omniembed.errors import InvalidInput, MissingDependency  # noqa: E402

from haystack import Document, Pipeline  # noqa: E402
from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever  # noqa: E402
from haystack.components.writers import DocumentWriter  # noqa: E402
from haystack.dataclasses import ByteStream  # noqa: E402
from haystack.document_stores.in_memory import InMemoryDocumentStore  # noqa: E402

from omniembed.integrations.haystack import OmniEmbedDocumentEmbedder, OmniEmbedTextEmbedder  # noqa: E402


def query_pipeline(store: InMemoryDocumentStore, text_embedder: OmniEmbedTextEmbedder) -> Pipeline:
    p = Pipeline()
    p.add_component("embed", text_embedder)
    p.add_component("retrieve", InMemoryEmbeddingRetriever(store, top_k=2))
    p.connect("embed.embedding", "retrieve.query_embedding")
    return p


@pytest.fixture(scope="module")
def store(embedder):
    store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    index = Pipeline()
    index.add_component("embed", OmniEmbedDocumentEmbedder(embedder, meta_fields_to_embed=["title"], batch_size=3))
    index.add_component("write", DocumentWriter(store))
    index.connect("embed.documents", "write.documents")
    docs = [Document(content=d, meta={"i": i, "title": f"Fact {i}"}) for i, d in enumerate(DOCS)]
    result = index.run({"embed": {"documents": docs}})
    assert result["write"]["documents_written"] == len(DOCS)
    return store


def test_query_pipeline_ranks_the_right_document_first(store, embedder):
    p = query_pipeline(store, OmniEmbedTextEmbedder(embedder))
    for query, want in QUERIES:
        out = p.run({"embed": {"text": query}})
        assert out["retrieve"]["documents"][0].meta["i"] == want, query


def test_pipeline_survives_yaml_serialisation(store, embedder):
    p = query_pipeline(store, OmniEmbedTextEmbedder(embedder, output_dimensionality=None))
    yaml = p.dumps()
    assert "omniembed.integrations.haystack.OmniEmbedTextEmbedder" in yaml
    assert "omniembed-lite-1" in yaml
    again = Pipeline.loads(yaml)  # rebuilds the embedder from its dict: a fresh in-process backend
    query, want = QUERIES[2]
    docs = again.run({"embed": {"text": query}})["retrieve"]["documents"]
    assert docs[0].meta["i"] == want


def test_component_contracts_and_async(embedder):
    text = OmniEmbedTextEmbedder(embedder, prefix="", suffix="")
    out = text.run(DOCS[0])
    assert set(out) == {"embedding", "meta"} and len(out["embedding"]) == embedder.dimensions
    assert out["meta"]["model"] == "omniembed-lite-1" and out["meta"]["task_type"] == "RETRIEVAL_QUERY"
    assert np.allclose(out["embedding"], embedder.embed(DOCS[0], task_type="RETRIEVAL_QUERY")[0], atol=1e-5)
    assert np.allclose(asyncio.run(text.run_async(DOCS[0]))["embedding"], out["embedding"], atol=1e-5)

    docs = OmniEmbedDocumentEmbedder(embedder, output_dimensionality=128)
    sync = docs.run([Document(content=d) for d in DOCS[:2]])
    async_ = asyncio.run(docs.run_async([Document(content=d) for d in DOCS[:2]]))
    assert [len(d.embedding) for d in sync["documents"]] == [128, 128]
    assert np.allclose([d.embedding for d in sync["documents"]], [d.embedding for d in async_["documents"]], atol=1e-5)

    with pytest.raises(TypeError, match="OmniEmbedDocumentEmbedder"):
        text.run([Document(content="x")])
    with pytest.raises(TypeError, match="OmniEmbedTextEmbedder"):
        docs.run("a string")
    with pytest.raises(InvalidInput, match="nothing to embed"):
        docs.run([Document(content=None)])


def test_documents_with_image_blobs_and_file_paths(embedder, tmp_path):
    (tmp_path / "pass.png").write_bytes(text_image_png(IMAGE_TEXTS[1]))
    docs = [
        Document(blob=ByteStream(text_image_png(IMAGE_TEXTS[0]), mime_type="image/png"), meta={"i": 0}),
        Document(content="Scanned travel document", meta={"i": 1, "file_path": "pass.png"}),
    ] + [Document(content=d, meta={"i": 10 + i}) for i, d in enumerate(DOCS)]
    embedded = OmniEmbedDocumentEmbedder(embedder, file_path_meta_field="file_path", root_path=str(tmp_path)).run(docs)
    store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    store.write_documents(embedded["documents"])
    p = query_pipeline(store, OmniEmbedTextEmbedder(embedder))
    for query, want in IMAGE_QUERIES:
        assert p.run({"embed": {"text": query}})["retrieve"]["documents"][0].meta["i"] == want, query


def test_server_settings_serialise_without_the_key(monkeypatch):
    from haystack.utils import Secret

    monkeypatch.setenv("MY_OMNIEMBED_KEY", "s3cret")
    comp = OmniEmbedTextEmbedder(base_url="http://127.0.0.1:9", api_key=Secret.from_env_var("MY_OMNIEMBED_KEY"))
    d = comp.to_dict()
    assert d["init_parameters"]["base_url"] == "http://127.0.0.1:9"
    assert "s3cret" not in repr(d) and d["init_parameters"]["api_key"]["env_vars"] == ["MY_OMNIEMBED_KEY"]
    again = OmniEmbedTextEmbedder.from_dict(d)
    assert again._backend.api_key == "s3cret" and again.to_dict() == d


def test_missing_haystack_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "haystack", None)
    monkeypatch.delitem(sys.modules, "omniembed.integrations.haystack")
    with pytest.raises(MissingDependency, match=r"omniembed\[haystack\]"):
        importlib.import_module("omniembed.integrations.haystack")

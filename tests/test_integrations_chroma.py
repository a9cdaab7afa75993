"""Chroma adapter against the real chromadb: persistent collections of documents and images."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest

from integrations_support import DOCS, IMAGE_QUERIES, IMAGE_TEXTS, QUERIES, text_image_array
from omniembed.errors import MissingDependency

import chromadb  # noqa: E402
from chromadb.config import Settings  # noqa: E402

from omniembed.integrations.chroma import OmniEmbedEmbeddingFunction  # noqa: E402

SETTINGS = Settings(anonymized_telemetry=False)


@pytest.fixture(scope="module")
def ef(embedder):
    return OmniEmbedEmbeddingFunction(embedder)


def test_persistent_collection_round_trip_and_rebuild_from_config(ef, tmp_path):
    client = chromadb.PersistentClient(path=str(tmp_path / "db"), settings=SETTINGS)
    col = client.create_collection("docs", embedding_function=ef)
    col.add(ids=[f"d{i}" for i in range(len(DOCS))], documents=DOCS)
    for query, want in QUERIES:
        res = col.query(query_texts=[query], n_results=2)
        assert res["ids"][0][0] == f"d{want}", (query, res["documents"][0])

    # A new client, no embedding function passed: Chroma rebuilds ours from the stored config by name.
    del col, client
    again = chromadb.PersistentClient(path=str(tmp_path / "db"), settings=SETTINGS)
    col2 = again.get_collection("docs")
    rebuilt = col2.configuration["embedding_function"]
    assert isinstance(rebuilt, OmniEmbedEmbeddingFunction) and rebuilt is not ef
    assert rebuilt.get_config()["profile"] == "omniembed-lite-1"
    assert col2.configuration["hnsw"]["space"] == "cosine"
    res = col2.query(query_texts=[QUERIES[0][0]], n_results=1)
    assert res["ids"][0] == [f"d{QUERIES[0][1]}"]


def test_images_as_numpy_arrays_share_the_space_with_text_queries(ef):
    client = chromadb.EphemeralClient(settings=SETTINGS)
    col = client.create_collection("mixed", embedding_function=ef)
    col.add(ids=[f"img{i}" for i in range(len(IMAGE_TEXTS))], images=[text_image_array(t) for t in IMAGE_TEXTS])
    col.add(ids=[f"d{i}" for i in range(len(DOCS))], documents=DOCS)
    for query, want in IMAGE_QUERIES:
        res = col.query(query_texts=[query], n_results=1)
        assert res["ids"][0] == [f"img{want}"], query


def test_query_and_document_task_types(ef, embedder):
    doc = ef([DOCS[0]])[0]
    query = ef.embed_query([DOCS[0]])[0]
    assert doc.dtype == np.float32 and doc.shape == (embedder.dimensions,)
    assert np.allclose(doc, embedder.embed(DOCS[0], task_type="RETRIEVAL_DOCUMENT")[0], atol=1e-5)
    assert np.allclose(query, embedder.embed(DOCS[0], task_type="RETRIEVAL_QUERY")[0], atol=1e-5)


def test_config_round_trip_and_guards():
    ef = OmniEmbedEmbeddingFunction(output_dimensionality=256, query_task_type="QUESTION_ANSWERING")
    assert OmniEmbedEmbeddingFunction.name() == "omniembed"
    assert not ef.is_legacy()
    cfg = ef.get_config()
    rebuilt = OmniEmbedEmbeddingFunction.build_from_config(cfg)
    assert rebuilt.get_config() == cfg
    assert cfg["output_dimensionality"] == 256 and cfg["query_task_type"] == "QUESTION_ANSWERING"
    with pytest.raises(ValueError, match="cannot change"):
        ef.validate_config_update(cfg, {"output_dimensionality": 128})
    remote = OmniEmbedEmbeddingFunction(base_url="http://127.0.0.1:9/", model="omniembed-lite")
    assert remote.get_config()["base_url"] == "http://127.0.0.1:9"
    assert "api_key" not in remote.get_config()  # secrets stay in the environment
    assert OmniEmbedEmbeddingFunction.build_from_config(remote.get_config()).get_config() == remote.get_config()


def test_missing_chromadb_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "chromadb", None)
    monkeypatch.delitem(sys.modules, "omniembed.integrations.chroma")
    with pytest.raises(MissingDependency, match=r"omniembed\[chroma\]"):
        importlib.import_module("omniembed.integrations.chroma")

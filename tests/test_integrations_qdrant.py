"""Qdrant helper against the real qdrant-client (local mode): named Matryoshka vectors, profile guard."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from integrations_support import DOCS, QUERIES
from omniembed.errors import InvalidInput, MissingDependency, ProfileMismatch
from omniembed.integrations.qdrant import OmniEmbedQdrant


def test_named_vectors_two_stage_search_and_profile_guard(embedder, tmp_path):
    client = QdrantClient(path=str(tmp_path / "qdrant"))
    qd = OmniEmbedQdrant(client, "docs", embedder, vectors={"full": None, "fast": 128})
    ids = qd.add(DOCS, payloads=[{"i": i} for i in range(len(DOCS))])
    assert len(ids) == len(DOCS)

    info = client.get_collection("docs")
    assert {n: p.size for n, p in info.config.params.vectors.items()} == {"full": 384, "fast": 128}
    assert info.config.metadata["omniembed_profile"] == "omniembed-lite-1"

    for query, want in QUERIES:
        two_stage = qd.query(query, limit=2, using="full", prefetch_using="fast", prefetch_limit=3)
        assert two_stage[0].payload["i"] == want, query
        assert two_stage[0].payload["text"] == DOCS[want]
    fast_only = qd.query(QUERIES[0][0], limit=1, using="fast")
    assert fast_only[0].payload["i"] == QUERIES[0][1]

    # the stored 128-d vector is omniembed's own 128-d output (a Matryoshka prefix, renormalised)
    point = client.retrieve("docs", [ids[0]], with_vectors=True)[0]
    direct = embedder.embed(DOCS[0], output_dimensionality=128)[0]
    assert np.allclose(point.vector["fast"], direct, atol=1e-4)

    # filters pass through to Qdrant
    flt = models.Filter(must=[models.FieldCondition(key="i", match=models.MatchValue(value=2))])
    assert [p.payload["i"] for p in qd.query(QUERIES[0][0], limit=3, query_filter=flt)] == [2]

    client.close()
    reopened = QdrantClient(path=str(tmp_path / "qdrant"))
    with pytest.raises(ProfileMismatch, match="cannot be mixed"):
        OmniEmbedQdrant(reopened, "docs", embedder, vectors={"full": None}).add(["x"])
    same = OmniEmbedQdrant(reopened, "docs", embedder, vectors={"full": None, "fast": 128})
    assert same.query(QUERIES[1][0], limit=1)[0].payload["i"] == QUERIES[1][1]
    reopened.close()


def test_unnamed_vector_ids_and_bad_arguments(embedder):
    client = QdrantClient(":memory:")
    qd = OmniEmbedQdrant(client, "plain", embedder)
    qd.add(DOCS, ids=list(range(len(DOCS))))
    assert client.get_collection("plain").config.params.vectors.size == embedder.dimensions
    hits = qd.query(QUERIES[2][0], limit=1)
    assert hits[0].id == QUERIES[2][1]
    with pytest.raises(InvalidInput, match="unnamed"):
        qd.query("x", using="full")
    with pytest.raises(InvalidInput, match="ids"):
        qd.add(["a", "b"], ids=[1])
    with pytest.raises(InvalidInput, match="size"):
        OmniEmbedQdrant(client, "bad", embedder, vectors={"huge": 4096})
    client.create_collection("foreign", vectors_config=models.VectorParams(size=384, distance=models.Distance.COSINE))
    with pytest.raises(InvalidInput, match="not\\s+created by omniembed"):
        OmniEmbedQdrant(client, "foreign", embedder).add(["x"])


def test_missing_qdrant_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "qdrant_client", None)
    monkeypatch.delitem(sys.modules, "omniembed.integrations.qdrant")
    with pytest.raises(MissingDependency, match=r"omniembed\[store\]"):
        importlib.import_module("omniembed.integrations.qdrant")

"""Other servers' wire formats — Hugging Face TEI, Ollama, OpenAI-compatible ``/embeddings`` without
``/v1`` — each driven by its ecosystem's own client (``huggingface_hub``, ``ollama``, ``openai``) against a
real ``omniembed serve``: their users switch by changing a URL. Vectors must equal the library's."""

from __future__ import annotations

import httpx
import numpy as np
import ollama
import openai
import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError

from server_harness import ServerProcess

KEY = "dialect-key"
DOCS = ["Glaciers carve deep valleys over thousands of years.", "Bees pollinate orchards in spring."]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerProcess(tmp_path_factory.mktemp("dialects"), "--api-key", KEY, "--model-alias",
                       "nomic-embed-text") as srv:
        yield srv


def _close(got, want) -> bool:
    got, want = np.asarray(got, np.float32), np.asarray(want, np.float32)
    return got.shape == want.shape and float(np.min(np.sum(got * want, axis=-1))) > 0.999


# --- Hugging Face TEI -----------------------------------------------------------------------------
def test_huggingface_inference_client_feature_extraction(server, embedder):
    client = InferenceClient(base_url=server.url, api_key=KEY)
    got = client.feature_extraction(DOCS)
    assert got.shape == (2, 384) and _close(got, embedder.embed(DOCS))
    query = client.feature_extraction("where do bees work?", prompt_name="query")
    assert _close(query, embedder.embed(["where do bees work?"], task_type="RETRIEVAL_QUERY"))
    small = client.feature_extraction("where do bees work?", prompt_name="RETRIEVAL_QUERY", dimensions=128)
    assert small.shape == (1, 128)
    with pytest.raises(HfHubHTTPError) as ei:
        InferenceClient(base_url=server.url, api_key="wrong").feature_extraction("x")
    assert ei.value.response.status_code == 401


def test_tei_routes_and_error_shape(server, embedder):
    h = {"authorization": f"Bearer {KEY}"}
    r = httpx.post(f"{server.url}/embed", json={"inputs": DOCS[0], "normalize": True, "truncate": False}, headers=h)
    assert r.status_code == 200 and _close(r.json(), embedder.embed(DOCS[:1]))  # always a list of vectors
    info = httpx.get(f"{server.url}/info", headers=h).json()
    assert info["model_id"] == "omniembed-lite-1" and info["model_type"] == {"embedding": {"pooling": "mean"}}
    assert httpx.get(f"{server.url}/health").status_code == 200  # open, like /healthz
    for bad in ({"inputs": []}, {"inputs": [[101, 2023]]}, {"inputs": "x", "prompt_name": "poem"}, {}):
        r = httpx.post(f"{server.url}/embed", json=bad, headers=h)
        assert r.status_code == 400 and r.json()["error_type"] == "Validation" and r.json()["error"], bad


# --- Ollama -----------------------------------------------------------------------------------------
def test_ollama_client_embed_embeddings_list_show(server, embedder):
    client = ollama.Client(host=server.url, headers={"Authorization": f"Bearer {KEY}"})
    r = client.embed(model="omniembed-lite", input=DOCS)
    assert r.model == "omniembed-lite" and _close(r.embeddings, embedder.embed(DOCS))
    assert r.prompt_eval_count > 0 and r.total_duration > 0
    r = client.embed(model="nomic-embed-text:latest", input=DOCS[1], dimensions=256)  # an alias, tagged
    assert len(r.embeddings) == 1 and len(r.embeddings[0]) == 256
    old = client.embeddings(model="omniembed-lite", prompt=DOCS[0])
    assert _close([old.embedding], embedder.embed(DOCS[:1]))
    names = [m.model for m in client.list().models]
    assert "omniembed-lite:latest" in names and "nomic-embed-text:latest" in names
    shown = client.show("omniembed-lite")
    assert "embedding" in shown.capabilities and shown.modelinfo["omniembed.embedding_length"] == 384
    with pytest.raises(ollama.ResponseError) as ei:
        client.embed(model="llama3", input="x")
    assert ei.value.status_code == 404 and "not served here" in ei.value.error


def test_ollama_task_type_extension(server, embedder):
    r = httpx.post(f"{server.url}/api/embed", headers={"authorization": f"Bearer {KEY}"},
                   json={"model": "omniembed-lite", "input": "where do bees work?", "task_type": "RETRIEVAL_QUERY"})
    assert _close(r.json()["embeddings"], embedder.embed(["where do bees work?"], task_type="RETRIEVAL_QUERY"))
    r = httpx.post(f"{server.url}/api/embed", headers={"authorization": f"Bearer {KEY}"},
                   json={"model": "omniembed-lite", "input": ""})
    assert r.status_code == 400 and set(r.json()) == {"error"}


# --- OpenAI-compatible without /v1 (Infinity's layout) ----------------------------------------------
def test_openai_client_with_a_base_url_without_v1(server, embedder):
    client = openai.OpenAI(api_key=KEY, base_url=server.url)
    r = client.embeddings.create(model="omniembed-lite", input=DOCS)
    assert _close([d.embedding for d in r.data], embedder.embed(DOCS))
    with pytest.raises(openai.NotFoundError) as ei:
        client.embeddings.create(model="text-embedding-3-large", input="x")
    assert ei.value.body["type"] == "invalid_request_error"  # OpenAI's error shape on /embeddings too

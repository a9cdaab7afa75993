"""Adapters in server mode, and the frameworks' OWN Google and OpenAI clients, against `omniembed serve`.

One real server subprocess (``omniembed serve --api-key … --model-alias gemini-embedding-2 --model-alias
text-embedding-3-small``) serves the whole module. Two groups of tests:

* our adapters with ``base_url=`` (vectors must equal the in-process engine's, errors keep their types);
* unmodified third-party clients — langchain-google-genai, langchain-openai, llama-index-embeddings-openai,
  Haystack's and Chroma's OpenAI/Google embedders — pointed at the server by base URL only, each doing a
  retrieval round trip. The settings they need are documented in docs/integrations/clients.md.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from integrations_support import DOCS, QUERIES, rank  # noqa: E402
from server_harness import ServerProcess  # noqa: E402
from omniembed import Part  # noqa: E402
from omniembed.errors import InvalidInput, OmniEmbedError  # noqa: E402

KEY = "integration-test-key"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerProcess(
        tmp_path_factory.mktemp("server-data"),
        "--api-key", KEY,
        "--model-alias", "gemini-embedding-2",
        "--model-alias", "text-embedding-3-small",
    ) as proc:
        yield proc


def assert_ranks(query_vecs, doc_vecs):
    for (query, want), q in zip(QUERIES, query_vecs):
        assert rank(q, doc_vecs)[0] == want, query


# --- our adapters, server mode ---------------------------------------------------------------------
def test_langchain_adapter_over_the_server_matches_in_process(server, embedder):
    from langchain_core.vectorstores import InMemoryVectorStore

    from omniembed.integrations.langchain import OmniEmbedEmbeddings

    remote = OmniEmbedEmbeddings(base_url=server.url, api_key=KEY)
    docs = np.array(remote.embed_documents(DOCS))
    assert np.allclose(docs, embedder.embed(DOCS, task_type="RETRIEVAL_DOCUMENT"), atol=1e-4)
    query = remote.embed_query(QUERIES[0][0])
    assert np.allclose(query, embedder.embed(QUERIES[0][0], task_type="RETRIEVAL_QUERY")[0], atol=1e-4)

    store = InMemoryVectorStore(remote)
    asyncio.run(store.aadd_texts(DOCS))  # async path: httpx.AsyncClient
    for q, want in QUERIES:
        assert asyncio.run(store.asimilarity_search(q, k=1))[0].page_content == DOCS[want]


def test_server_mode_sends_local_files_inline_references_uploads_and_keeps_error_types(server, embedder, tmp_path):
    from omniembed.integrations._backend import RemoteBackend

    note = tmp_path / "note.txt"
    note.write_text(DOCS[3], encoding="utf-8")
    backend = RemoteBackend(server.url, api_key=KEY)
    vec = backend.embed([Path(note)], task_type="RETRIEVAL_DOCUMENT")
    assert np.allclose(vec[0], embedder.embed(DOCS[3])[0], atol=1e-4)
    assert backend.profile_info() == ("omniembed-lite-1", 384)

    # a file uploaded with the Files API is referenced, not re-sent
    from google import genai
    from google.genai import types

    sdk = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=server.url, api_version="v1beta"))
    uploaded = sdk.files.upload(file=str(note), config=types.UploadFileConfig(mime_type="text/plain"))
    by_ref = backend.embed([Part.from_uri(uploaded.name, "text/plain")], task_type="RETRIEVAL_DOCUMENT")
    assert np.allclose(by_ref[0], vec[0], atol=1e-4)
    with pytest.raises(InvalidInput, match="no such file"):
        backend.embed([tmp_path / "missing.png"], task_type="RETRIEVAL_DOCUMENT")

    with pytest.raises(InvalidInput, match="output_dimensionality|out of range"):
        backend.embed(["x"], task_type="RETRIEVAL_DOCUMENT", output_dimensionality=5)
    with pytest.raises(OmniEmbedError, match="401|API key"):
        RemoteBackend(server.url, api_key="wrong").embed(["x"], task_type="RETRIEVAL_DOCUMENT")
    # nothing listens: connection errors are retried, then a typed error naming the server. One retry, not
    # the default six (their jittered backoff, 0.5 s doubling, waited ~30 s here)
    gone = RemoteBackend("http://127.0.0.1:9", max_retries=1)
    with pytest.raises(OmniEmbedError, match="cannot reach"):
        gone.embed(["x"], task_type="RETRIEVAL_DOCUMENT")
    assert gone.retries == 1


def test_llamaindex_haystack_chroma_adapters_over_the_server(server, monkeypatch):
    from haystack import Document

    from omniembed.integrations.chroma import OmniEmbedEmbeddingFunction
    from omniembed.integrations.haystack import OmniEmbedDocumentEmbedder, OmniEmbedTextEmbedder
    from omniembed.integrations.llamaindex import OmniEmbedMultiModalEmbedding

    li = OmniEmbedMultiModalEmbedding(base_url=server.url, api_key=KEY)
    docs = li.get_text_embedding_batch(DOCS)
    assert_ranks([asyncio.run(li.aget_query_embedding(q)) for q, _ in QUERIES], docs)

    monkeypatch.setenv("OMNIEMBED_API_KEY", KEY)  # Haystack's Secret and Chroma's env var read it
    hs_docs = OmniEmbedDocumentEmbedder(base_url=server.url).run([Document(content=d) for d in DOCS])["documents"]
    hs_text = OmniEmbedTextEmbedder(base_url=server.url)
    assert_ranks([asyncio.run(hs_text.run_async(q))["embedding"] for q, _ in QUERIES], [d.embedding for d in hs_docs])

    ef = OmniEmbedEmbeddingFunction(base_url=server.url)
    rebuilt = OmniEmbedEmbeddingFunction.build_from_config(ef.get_config())  # key from the env, not the config
    assert_ranks(rebuilt.embed_query([q for q, _ in QUERIES]), ef(DOCS))


def test_qdrant_and_lancedb_record_the_servers_profile(server, tmp_path):
    import lancedb
    from lancedb.embeddings import get_registry
    from qdrant_client import QdrantClient

    from omniembed.integrations.lancedb import OmniEmbedLanceEmbeddings
    from omniembed.integrations.qdrant import OmniEmbedQdrant

    client = QdrantClient(":memory:")
    qd = OmniEmbedQdrant(client, "docs", base_url=server.url, api_key=KEY, vectors={"full": None, "fast": 128})
    qd.add(DOCS, payloads=[{"i": i} for i in range(len(DOCS))])
    assert client.get_collection("docs").config.metadata["omniembed_profile"] == "omniembed-lite-1"
    assert qd.query(QUERIES[0][0], limit=1, prefetch_using="fast")[0].payload["i"] == QUERIES[0][1]

    get_registry().set_var("omniembed_server_key", KEY)
    ef = OmniEmbedLanceEmbeddings.create(base_url=server.url, api_key="$var:omniembed_server_key")
    assert ef.ndims() == 384
    table = lancedb.connect(tmp_path / "lance").create_table(
        "docs", data=[{"text": d, "i": i, "vector": v} for i, (d, v) in
                      enumerate(zip(DOCS, ef.compute_source_embeddings(DOCS)))]
    )
    best = table.search(ef.compute_query_embeddings(QUERIES[1][0])[0]).limit(1).to_list()[0]
    assert best["i"] == QUERIES[1][1]


# --- the frameworks' own Google and OpenAI clients, unmodified ---------------------------------------
def test_langchain_google_genai_embeddings_with_base_url(server, embedder):
    from langchain_core.vectorstores import InMemoryVectorStore
    from langchain_google_genai import GoogleGenerativeAIEmbeddings

    google = GoogleGenerativeAIEmbeddings(model="gemini-embedding-2", google_api_key=KEY, base_url=server.url)
    store = InMemoryVectorStore(google)
    store.add_texts(DOCS)
    for query, want in QUERIES:
        assert store.similarity_search(query, k=1)[0].page_content == DOCS[want], query
    # it sends taskType: documents and queries get omniembed's matching vectors
    assert np.allclose(google.embed_query(DOCS[0]), embedder.embed(DOCS[0], task_type="RETRIEVAL_QUERY")[0], atol=1e-4)
    small = GoogleGenerativeAIEmbeddings(
        model="models/omniembed-lite", google_api_key=KEY, base_url=server.url, output_dimensionality=128
    )
    vecs = asyncio.run(small.aembed_documents(DOCS))
    assert [len(v) for v in vecs] == [128] * len(DOCS)
    assert rank(asyncio.run(small.aembed_query(QUERIES[1][0])), vecs)[0] == QUERIES[1][1]


def test_langchain_openai_embeddings_with_base_url(server, embedder):
    from langchain_openai import OpenAIEmbeddings

    # check_embedding_ctx_length=False: send strings. The default tokenizes with tiktoken (which downloads
    # its BPE file from the internet) and sends token ids, which the server refuses (400).
    openai = OpenAIEmbeddings(
        model="text-embedding-3-small", api_key=KEY, base_url=f"{server.url}/v1", check_embedding_ctx_length=False
    )
    docs = openai.embed_documents(DOCS)
    assert_ranks([openai.embed_query(q) for q, _ in QUERIES], docs)
    small = OpenAIEmbeddings(
        model="omniembed-lite", api_key=KEY, base_url=f"{server.url}/v1", check_embedding_ctx_length=False,
        dimensions=128,
    )
    vecs = asyncio.run(small.aembed_documents(DOCS))
    assert {len(v) for v in vecs} == {128}
    # the OpenAI dialect has no task types: omniembed's `task_type` extension goes through extra_body
    queries = OpenAIEmbeddings(
        model="omniembed-lite", api_key=KEY, base_url=f"{server.url}/v1", check_embedding_ctx_length=False,
        model_kwargs={"extra_body": {"task_type": "RETRIEVAL_QUERY"}},
    )
    direct = embedder.embed(QUERIES[0][0], task_type="RETRIEVAL_QUERY")[0]
    assert np.allclose(queries.embed_query(QUERIES[0][0]), direct, atol=1e-4)
    assert np.allclose(openai.embed_documents([DOCS[0]])[0], embedder.embed(DOCS[0])[0], atol=1e-4)


def test_llama_index_openai_embedding_with_api_base(server):
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.embeddings.openai import OpenAIEmbedding

    embed_model = OpenAIEmbedding(model_name="text-embedding-3-small", api_base=f"{server.url}/v1", api_key=KEY)
    index = VectorStoreIndex.from_documents(
        [Document(text=d, metadata={"i": i}) for i, d in enumerate(DOCS)], embed_model=embed_model
    )
    retriever = index.as_retriever(similarity_top_k=1)
    for query, want in QUERIES:
        assert retriever.retrieve(query)[0].node.metadata["i"] == want, query


def test_haystack_and_chroma_openai_and_google_embedders(server, monkeypatch, tmp_path):
    from chromadb.utils.embedding_functions import GoogleGenaiEmbeddingFunction, OpenAIEmbeddingFunction
    from haystack import Document
    from haystack.components.embedders import OpenAIDocumentEmbedder, OpenAITextEmbedder

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    docs = OpenAIDocumentEmbedder(model="omniembed-lite", api_base_url=f"{server.url}/v1", progress_bar=False)
    embedded = docs.run([Document(content=d) for d in DOCS])["documents"]
    text = OpenAITextEmbedder(model="omniembed-lite", api_base_url=f"{server.url}/v1")
    assert_ranks([text.run(q)["embedding"] for q, _ in QUERIES], [d.embedding for d in embedded])

    chroma_openai = OpenAIEmbeddingFunction(
        api_key_env_var="OPENAI_API_KEY", model_name="omniembed-lite", api_base=f"{server.url}/v1"
    )
    assert_ranks(chroma_openai([q for q, _ in QUERIES]), chroma_openai(DOCS))

    # Chroma's Google function has no base_url argument: google-genai reads GOOGLE_GEMINI_BASE_URL.
    # Use the model name omniembed-lite: for "gemini-embedding-2" the SDK merges a list of strings
    # into ONE content (python-genai#2523), so Chroma would get one vector for the whole list.
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", server.url)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    chroma_google = GoogleGenaiEmbeddingFunction(model_name="omniembed-lite", task_type="RETRIEVAL_DOCUMENT")
    google_docs = chroma_google(DOCS)
    assert len(google_docs) == len(DOCS)
    assert_ranks(chroma_google([q for q, _ in QUERIES]), google_docs)

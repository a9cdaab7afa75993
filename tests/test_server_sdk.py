"""The server against the REAL clients: google-genai and openai SDKs, on loopback, server started from the CLI.

Vectors are checked against the library called directly (the ``embedder`` fixture): the server is a
translator, so it must return the same vectors.
"""

from __future__ import annotations

import base64
import io
import time
import warnings

import httpx
import numpy as np
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from PIL import Image, ImageDraw, ImageFont

from omniembed import Part
from omniembed.types import Content

from server_harness import ServerProcess

KEY = "test-key-123"
MODEL = "omniembed-lite"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerProcess(tmp_path_factory.mktemp("srv"), "--api-key", KEY, "--model-alias", "gemini-embedding-2") as srv:
        yield srv


@pytest.fixture(scope="module")
def gclient(server):
    return genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=server.url, api_version="v1beta"))


@pytest.fixture(scope="module")
def oclient(server):
    return openai.OpenAI(api_key=KEY, base_url=server.url + "/v1")


@pytest.fixture(scope="module")
def png() -> bytes:
    """A PNG with printed words (the lite profile reads images through OCR)."""
    img = Image.new("RGB", (900, 220), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=56)
    draw.text((30, 70), "Quarterly invoice total", fill="black", font=font)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _cos(a, b) -> float:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _norm(v) -> float:
    return float(np.linalg.norm(np.asarray(v, np.float32)))


# --- google-genai ---------------------------------------------------------------------------------
def test_genai_text_matches_library(gclient, embedder):
    r = gclient.models.embed_content(model=MODEL, contents="The cat sat on the mat.")
    assert len(r.embeddings) == 1
    v = r.embeddings[0].values
    assert len(v) == 384 and abs(_norm(v) - 1) < 1e-4
    ref = embedder.embed("The cat sat on the mat.")[0]
    assert _cos(v, ref) > 0.999


def test_genai_list_of_contents_one_vector_each_in_order(gclient, embedder):
    texts = ["Paris is the capital of France.", "Photosynthesis needs sunlight.", "The stock market fell."]
    r = gclient.models.embed_content(model=MODEL, contents=[types.Content(parts=[types.Part(text=t)]) for t in texts])
    assert len(r.embeddings) == 3
    ref = embedder.embed(texts)
    for got, want in zip(r.embeddings, ref):
        assert _cos(got.values, want) > 0.999


def test_genai_task_type_and_output_dimensionality(gclient, embedder):
    q = "how do plants make food?"
    cfg = types.EmbedContentConfig(task_type="RETRIEVAL_QUERY", output_dimensionality=128)
    r = gclient.models.embed_content(model=MODEL, contents=q, config=cfg)
    v = r.embeddings[0].values
    assert len(v) == 128 and abs(_norm(v) - 1) < 1e-4
    assert _cos(v, embedder.embed(q, task_type="RETRIEVAL_QUERY", output_dimensionality=128)[0]) > 0.999
    doc = gclient.models.embed_content(model=MODEL, contents=q, config=types.EmbedContentConfig(
        task_type="RETRIEVAL_DOCUMENT", output_dimensionality=128)).embeddings[0].values
    assert _cos(v, doc) < 0.999  # the task type reached the encoder (query: vs passage: prefix)


def test_genai_image_part_and_interleaved_content(gclient, embedder, png):
    img = gclient.models.embed_content(
        model=MODEL, contents=types.Content(parts=[types.Part.from_bytes(data=png, mime_type="image/png")])
    ).embeddings
    assert len(img) == 1
    assert _cos(img[0].values, embedder.embed([Part.from_bytes(png, "image/png")])[0]) > 0.999
    # the OCR'd words put the image near its text
    assert _cos(img[0].values, embedder.embed("Quarterly invoice total")[0]) > 0.8

    both = gclient.models.embed_content(
        model=MODEL,
        contents=types.Content(parts=[types.Part(text="scanned document"),
                                      types.Part.from_bytes(data=png, mime_type="image/png")]),
    ).embeddings
    assert len(both) == 1  # all parts of one Content → ONE vector
    ref = embedder.embed([Content(parts=[Part(text="scanned document"), Part.from_bytes(png, "image/png")])])[0]
    assert _cos(both[0].values, ref) > 0.999


def test_genai_files_upload_then_file_data(gclient, png):
    f = gclient.files.upload(file=io.BytesIO(png), config={"mime_type": "image/png", "display_name": "invoice"})
    assert f.name.startswith("files/") and f.size_bytes == len(png) and f.mime_type == "image/png"
    assert gclient.files.get(name=f.name).display_name == "invoice"
    by_ref = gclient.models.embed_content(
        model=MODEL, contents=types.Content(parts=[types.Part.from_uri(file_uri=f.uri, mime_type="image/png")])
    ).embeddings[0].values
    inline = gclient.models.embed_content(
        model=MODEL, contents=types.Content(parts=[types.Part.from_bytes(data=png, mime_type="image/png")])
    ).embeddings[0].values
    assert _cos(by_ref, inline) > 0.9999
    gclient.files.delete(name=f.name)
    with pytest.raises(genai_errors.ClientError) as ei:
        gclient.models.embed_content(model=MODEL, contents=types.Content(parts=[types.Part.from_uri(
            file_uri=f.name, mime_type="image/png")]))
    assert ei.value.code == 404


def test_genai_async_batch_create_get_list_delete(gclient, embedder):
    texts = [f"batch item number {i} about {w}" for i, w in enumerate(["rivers", "mountains", "deserts", "oceans"])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        job = gclient.batches.create_embeddings(
            model=MODEL,
            src=types.EmbeddingsBatchJobSource(inlined_requests=types.EmbedContentBatch(
                contents=[types.Content(parts=[types.Part(text=t)]) for t in texts],
                config=types.EmbedContentConfig(output_dimensionality=256),
            )),
            config={"display_name": "sdk-job"},
        )
    assert job.name.startswith("batches/")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = gclient.batches.get(name=job.name)
        if job.state.name in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED"):
            break
        time.sleep(0.2)
    assert job.state.name == "JOB_STATE_SUCCEEDED" and job.display_name == "sdk-job"
    out = job.dest.inlined_embed_content_responses
    assert len(out) == len(texts)
    ref = embedder.embed(texts, output_dimensionality=256)
    for got, want in zip(out, ref):
        assert got.error is None and len(got.response.embedding.values) == 256
        assert _cos(got.response.embedding.values, want) > 0.999
    assert job.name in [j.name for j in gclient.batches.list()]
    gclient.batches.delete(name=job.name)
    with pytest.raises(genai_errors.ClientError) as ei:
        gclient.batches.get(name=job.name)
    assert ei.value.code == 404


def test_genai_errors_are_sdk_exceptions(server, gclient):
    with pytest.raises(genai_errors.ClientError) as ei:
        gclient.models.embed_content(model="no-such-model", contents="x")
    assert ei.value.code == 404 and ei.value.status == "NOT_FOUND"
    with pytest.raises(genai_errors.ClientError) as ei:
        gclient.models.embed_content(model=MODEL, contents="x",
                                     config=types.EmbedContentConfig(output_dimensionality=4096))
    assert ei.value.code == 400 and ei.value.status == "INVALID_ARGUMENT" and "128" in ei.value.message
    bad = genai.Client(api_key="wrong", http_options=types.HttpOptions(base_url=server.url, api_version="v1beta"))
    with pytest.raises(genai_errors.ClientError) as ei:
        bad.models.embed_content(model=MODEL, contents="x")
    assert ei.value.code == 401 and ei.value.status == "UNAUTHENTICATED"


def test_genai_models_and_alias_says_which_model_answered(server, gclient):
    names = [m.name for m in gclient.models.list()]
    assert "models/omniembed-lite" in names and "models/gemini-embedding-2" in names
    m = gclient.models.get(model=MODEL)
    assert m.name == "models/omniembed-lite"
    raw = httpx.get(f"{server.url}/v1beta/models/gemini-embedding-2", headers={"x-goog-api-key": KEY}).json()
    assert raw["embeddingDimensions"] == {"default": 384, "min": 128, "max": 384}
    assert "omniembed-lite-1" in raw["description"]
    resp = httpx.post(f"{server.url}/v1beta/models/gemini-embedding-2:embedContent?key={KEY}",
                      json={"content": {"parts": [{"text": "hi"}]}})
    assert resp.status_code == 200 and resp.headers["x-omniembed-model"] == "omniembed-lite-1"


def test_genai_default_stable_v1_shares_the_prefix_with_openai(server, oclient, embedder, png):
    """google-genai ≥ 3 calls Google's stable ``/v1`` unless told otherwise; ``/v1`` is also the
    OpenAI dialect's prefix. Both clients work side by side, each gets its own shapes and errors."""
    v1 = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=server.url))
    r = v1.models.embed_content(model=MODEL, contents=["The cat sat on the mat.", "Stocks fell."],
                                config=types.EmbedContentConfig(task_type="RETRIEVAL_DOCUMENT"))
    ref = embedder.embed(["The cat sat on the mat.", "Stocks fell."], task_type="RETRIEVAL_DOCUMENT")
    assert [_cos(e.values, w) > 0.999 for e, w in zip(r.embeddings, ref)] == [True, True]
    assert v1.models.get(model=MODEL).name == "models/omniembed-lite"
    assert "models/gemini-embedding-2" in [m.name for m in v1.models.list()]
    f = v1.files.upload(file=io.BytesIO(png), config={"mime_type": "image/png"})
    got = v1.models.embed_content(model=MODEL, contents=types.Content(parts=[
        types.Part.from_uri(file_uri=f.uri, mime_type="image/png")])).embeddings[0].values
    assert len(got) == 384
    with pytest.raises(genai_errors.ClientError) as ei:
        v1.models.embed_content(model="no-such-model", contents="x")
    assert ei.value.code == 404 and ei.value.status == "NOT_FOUND"  # Gemini's error shape under /v1
    # the OpenAI client on the same prefix still gets OpenAI's model list and errors
    assert MODEL in [m.id for m in oclient.models.list()]
    with pytest.raises(openai.NotFoundError):
        oclient.models.retrieve("no-such-model")


# --- openai -----------------------------------------------------------------------------------------
def test_openai_default_base64_float_and_dimensions(oclient, embedder):
    texts = ["first sentence about dogs", "second sentence about cats"]
    b64 = oclient.embeddings.create(model=MODEL, input=texts)  # the client asks for base64 by default
    flt = oclient.embeddings.create(model=MODEL, input=texts, encoding_format="float")
    assert [d.index for d in b64.data] == [0, 1] and b64.model == "omniembed-lite-1"
    ref = embedder.embed(texts)
    for a, b, want in zip(b64.data, flt.data, ref):
        assert len(a.embedding) == 384
        assert np.allclose(a.embedding, b.embedding, atol=1e-6)
        assert _cos(a.embedding, want) > 0.999
    assert b64.usage.prompt_tokens == b64.usage.total_tokens >= 0
    small = oclient.embeddings.create(model=MODEL, input="one string", dimensions=256)
    assert len(small.data) == 1 and len(small.data[0].embedding) == 256
    assert abs(_norm(small.data[0].embedding) - 1) < 1e-4


def test_openai_multimodal_extension_data_url(oclient, gclient, png):
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    r = oclient.embeddings.create(model=MODEL, input=[{"type": "image_url", "image_url": {"url": url}},
                                                      ["caption", {"type": "image_url", "image_url": {"url": url}}]],
                                  encoding_format="float")
    assert len(r.data) == 2
    g = gclient.models.embed_content(
        model=MODEL, contents=types.Content(parts=[types.Part.from_bytes(data=png, mime_type="image/png")])
    ).embeddings[0].values
    assert _cos(r.data[0].embedding, g) > 0.9999
    assert _cos(r.data[1].embedding, g) < 0.9999  # the interleaved item includes its caption


def test_openai_errors_are_sdk_exceptions(server, oclient):
    with pytest.raises(openai.NotFoundError):
        oclient.embeddings.create(model="text-embedding-3-small", input="x")
    with pytest.raises(openai.BadRequestError) as ei:
        oclient.embeddings.create(model=MODEL, input=[[101, 2023, 102]])
    assert "token-id" in str(ei.value)
    with pytest.raises(openai.BadRequestError):
        oclient.embeddings.create(model=MODEL, input="x", dimensions=7)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key="wrong", base_url=server.url + "/v1").embeddings.create(model=MODEL, input="x")
    assert [m.id for m in oclient.models.list()][:2] == ["omniembed-lite", "omniembed-lite-1"]


def test_metrics_and_health(server):
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(server.url + "/readyz").json()["status"] == "ready"
    text = httpx.get(server.url + "/metrics").text
    assert 'omniembed_http_requests_total{dialect="openai",route="/v1/embeddings",status="200"}' in text
    assert "omniembed_batch_contents_count" in text and "omniembed_queue_depth" in text
    assert "omniembed_ready 1.0" in text


def test_genai_resumable_upload_in_several_chunks(gclient):
    """A file over the SDK's 8 MiB chunk size travels as several upload requests at increasing offsets."""
    import hashlib

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.zeros(16_000 * 300, dtype=np.int16), 16_000, format="WAV", subtype="PCM_16")  # ~9.6 MB
    data = buf.getvalue()
    assert len(data) > 8 * 1024 * 1024
    f = gclient.files.upload(file=io.BytesIO(data), config={"mime_type": "audio/wav"})
    assert f.size_bytes == len(data) and f.state.name == "ACTIVE"
    assert base64.b64decode(f.sha256_hash) == hashlib.sha256(data).digest()
    gclient.files.delete(name=f.name)


@pytest.mark.parametrize("api_version", ["default", "v1beta"])
def test_genai_batch_from_file_then_files_download(server, embedder, api_version):
    """The whole file-in / file-out batch flow with the SDK's own calls, at the SDK's default API version
    (``/v1``) and at ``v1beta``: the output file is GENERATED with a ``download_uri``, so
    ``files.download(file=File)`` is allowed by the SDK, and its ``files/ID:download`` route answers."""
    import json

    opts = {} if api_version == "default" else {"api_version": api_version}
    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=server.url, **opts))
    texts = {"a": "glaciers carve valleys", "b": "bees pollinate orchards"}
    lines = [json.dumps({"key": k, "request": {"content": {"parts": [{"text": t}]}}}) for k, t in texts.items()]
    src = client.files.upload(file=io.BytesIO(("\n".join(lines) + "\n").encode()),
                              config={"mime_type": "application/jsonl", "display_name": "requests.jsonl"})
    assert src.source.name == "UPLOADED" and src.download_uri is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        job = client.batches.create_embeddings(model=MODEL, src=types.EmbeddingsBatchJobSource(file_name=src.name))
    deadline = time.monotonic() + 60
    while not job.done and time.monotonic() < deadline:
        time.sleep(0.2)
        job = client.batches.get(name=job.name)
    assert job.state.name == "JOB_STATE_SUCCEEDED"
    out = client.files.get(name=job.dest.file_name)
    assert out.source.name == "GENERATED" and out.download_uri
    by_file = client.files.download(file=out)  # the SDK refuses a File without download_uri
    by_name = client.files.download(file=job.dest.file_name)
    assert by_file == by_name
    recs = {r["key"]: r for r in map(json.loads, by_file.decode().splitlines())}
    assert set(recs) == set(texts)
    for k, t in texts.items():
        assert _cos(recs[k]["response"]["embedding"]["values"], embedder.embed(t)[0]) > 0.999
    with pytest.raises(genai_errors.ClientError) as ei:
        client.files.download(file="files/doesnotexist")
    assert ei.value.code == 404

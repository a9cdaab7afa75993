"""Uploaded files expire and their total size is bounded, as on Gemini (48 hours, 20 GB per project):
without either, a server left running fills its disk with uploads nobody deletes. One real server
subprocess on the dummy profile (the files API is the point, not the model) with a TTL of seconds and a
total of 100 KiB, driven by the real google-genai SDK."""

from __future__ import annotations

import datetime as dt
import io
import time

import httpx
import numpy as np
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from PIL import Image

from server_harness import DUMMY_PROFILE, ServerProcess
from omniembed.errors import MediaTooLarge
from omniembed.server.files import FileStore

KEY = "expiry-key"
TTL_S = 6.0


def _png(seed: int, side: int = 180) -> bytes:
    """A noisy RGB PNG (~95 KiB at 180 px: noise does not compress), different per seed."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    args = ("--api-key", KEY, "--file-ttl-hours", str(TTL_S / 3600), "--max-stored-mb", str(100 / 1024))
    with ServerProcess(tmp_path_factory.mktemp("expiry"), *args, dummy=True) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    return genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=server.url, api_version="v1beta"))


def _embed_ref(client, uri: str) -> list[float]:
    part = types.Part.from_uri(file_uri=uri, mime_type="image/png")
    return client.models.embed_content(model=DUMMY_PROFILE, contents=types.Content(parts=[part])).embeddings[0].values


def test_a_file_expires_and_the_storage_is_bounded(server, client):
    big = _png(1)
    assert 60 * 1024 < len(big) < 100 * 1024
    f = client.files.upload(file=io.BytesIO(big), config={"mime_type": "image/png"})
    # the resource says when it goes, as Gemini's does
    assert f.expiration_time is not None and f.create_time is not None
    assert abs((f.expiration_time - f.create_time).total_seconds() - TTL_S) < 1.0
    assert len(_embed_ref(client, f.uri)) > 0
    # a second such file does not fit in the 100 KiB: 413 before any byte is stored
    with pytest.raises(genai_errors.ClientError) as ei:
        client.files.upload(file=io.BytesIO(_png(2)), config={"mime_type": "image/png"})
    assert ei.value.code == 413 and "storage is full" in str(ei.value)
    # a one-shot body is refused the same way, and leaves nothing behind
    r = httpx.post(server.url + "/upload/v1beta/files", content=_png(3), headers={"x-goog-api-key": KEY,
                                                                                    "content-type": "image/png"})
    assert r.status_code == 413 and "storage is full" in r.json()["error"]["message"]
    assert list((server.data_dir / "files" / "partial").glob("tmp-*")) == []

    expires = f.expiration_time.timestamp()
    time.sleep(max(0.0, expires - dt.datetime.now(dt.timezone.utc).timestamp()) + 0.5)
    # gone: get, list and a reference in an embedding request all say so
    with pytest.raises(genai_errors.ClientError) as ei:
        client.files.get(name=f.name)
    assert ei.value.code == 404
    assert f.name not in {x.name for x in client.files.list()}
    with pytest.raises(genai_errors.ClientError) as ei:
        _embed_ref(client, f.uri)
    assert ei.value.code == 404
    assert not (server.data_dir / "files" / "blobs" / f.name.split("/", 1)[1]).exists()
    # and its room is free again
    g = client.files.upload(file=io.BytesIO(_png(2)), config={"mime_type": "image/png"})
    assert client.files.get(name=g.name).size_bytes == len(_png(2))


def test_unfinished_uploads_expire_and_count_toward_the_total(tmp_path):
    store = FileStore(tmp_path, max_bytes=1000, ttl_s=60.0, max_stored_bytes=1500)
    upload = store.start_upload(size=800, mime="image/png", display_name=None)
    with store.receiving(upload, 0, 800) as (fh, room):
        assert room == 800
        fh.write(b"x" * 800)
    # 800 bytes of an unfinished upload are held: a second one may declare at most 700
    assert store.room() == 700
    with pytest.raises(MediaTooLarge, match="storage is full"):
        store.start_upload(size=701, mime="image/png", display_name=None)
    # an hour later nobody finished it: the session and its bytes are gone
    store.expire(now=time.time() + 61.0)
    assert store.stored_bytes() == 0 and not store.has_session(upload)
    assert store.room() == 1000
    # without a TTL nothing expires
    forever = FileStore(tmp_path / "forever", max_bytes=1000, ttl_s=None, max_stored_bytes=None)
    sid = forever.start_upload(size=10, mime=None, display_name=None)
    assert forever.expire(now=time.time() + 10**9) == 0 and forever.has_session(sid)

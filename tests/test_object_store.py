"""A LanceDB store on object storage: ``open_store("s3://bucket/prefix")`` indexes, re-indexes
incrementally and searches through a real S3 HTTP API — moto's standalone S3 server (``moto_server``),
started by this module on 127.0.0.1 and stopped after it. LanceDB talks to it with its own object-store
client, configured by the standard AWS environment variables; nothing in omniembed is faked.

The server is the S3 emulator installed on this machine (moto, a Python package, used here as a program);
without it the module is skipped, since no S3 service can be reached otherwise."""

from __future__ import annotations

import shutil
import socket
import sys
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from omniembed.errors import InvalidInput, ProfileMismatch
from omniembed.indexer import Indexer
from omniembed.search import Searcher
from omniembed.store import open_store
from omniembed.store.lance import LanceStore

# the venv's own (dev extra `moto[server]`), else one on PATH
_VENV_MOTO = Path(sys.executable).with_name("moto_server")
MOTO = str(_VENV_MOTO) if _VENV_MOTO.exists() else shutil.which("moto_server")
pytestmark = pytest.mark.skipif(MOTO is None, reason="no S3 server here (moto_server not installed)")

NOTES = {
    "parts.md": "Compressor AC-200 needs bearing kit BK-7731 every 8000 hours.",
    "garden.md": "Plant tomatoes in May, water them in the evening, and mulch the beds.",
    "backup.md": "The nightly backup failed with ENOSPC on the archive volume.",
}


def _notes(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    for name, text in NOTES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    """A running S3 server with an empty bucket; yields the bucket's s3:// URI."""
    port = _free_port()
    proc = subprocess.Popen([MOTO, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(urllib.request.Request(f"{endpoint}/omniembed-test", method="PUT"), timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("moto_server exited at start")
                time.sleep(0.1)
        else:
            pytest.fail("moto_server did not answer in 10 s")
        mp = pytest.MonkeyPatch()
        for k, v in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
                     "AWS_ENDPOINT": endpoint, "AWS_ALLOW_HTTP": "true"}.items():
            mp.setenv(k, v)
        yield "s3://omniembed-test"
        mp.undo()
    finally:
        proc.terminate()
        proc.wait(10)


def test_index_reindex_and_search_on_s3(s3, tmp_path, dummy_embedder):
    folder = _notes(tmp_path)
    uri = f"{s3}/stores/a"
    store = open_store(uri)
    assert isinstance(store, LanceStore) and store.path is None and store.location == uri
    assert store.info() is None  # nothing there yet
    rep = Indexer(store, dummy_embedder).run(folder, progress=False)
    assert rep.indexed == 3 and not rep.failed
    store.close()

    # a new store object (another process, another machine) reads the binding from the bucket
    again = open_store(uri)
    info = again.require_info()
    assert (info.profile, info.location) == (dummy_embedder.profile.id, uri)
    assert again.count("file") == 3 and set(again.files()) == set(store.files())
    (folder / "garden.md").write_text("Plant tomatoes in June now.", encoding="utf-8")
    rep = Indexer(again, dummy_embedder).run(folder, progress=False)
    assert (rep.indexed, rep.unchanged) == (1, 2)
    assert again.count("file") == 3

    s = Searcher(again, embedder=dummy_embedder)
    kw = s.search("ENOSPC", k=1, mode="keyword")
    assert kw[0].rel_path == "backup.md"
    rec = again.records("file")
    by_path = {r.path: r.vector for r in rec}
    dense = s.search("", k=1, mode="dense", vector=by_path["parts.md"])
    assert dense[0].rel_path == "parts.md" and dense[0].score == pytest.approx(1.0, abs=1e-3)
    status = again.index_status()
    assert {ix["column"] for ix in status["indexes"]} >= {"file_id", "text"}
    with pytest.raises(ProfileMismatch):
        again.bind("omniembed-lite-1", 256)
    again.close()


def test_foreign_table_in_the_bucket_is_refused_clearly(s3):
    import lancedb

    uri = f"{s3}/stores/foreign"
    db = lancedb.connect(uri)
    db.create_table("records", data=[{"id": "x", "vector": np.zeros(4, np.float32).tolist()}])
    with pytest.raises(InvalidInput, match="did not create"):
        open_store(uri).info()
    with pytest.raises(InvalidInput, match="not s3://"):
        open_store(f"{s3}/q", backend="qdrant")


def test_serve_searches_a_store_on_s3(s3, tmp_path, dummy_embedder):
    """``omniembed serve --store s3://…``: the option takes a store URI like every other command's
    ``--store`` (it was a path, which turned ``s3://b`` into ``s3:/b``)."""
    import httpx

    from server_harness import ServerProcess

    folder = _notes(tmp_path)
    uri = f"{s3}/stores/served"
    store = open_store(uri)
    assert Indexer(store, dummy_embedder).run(folder, progress=False).indexed == 3
    store.close()
    with ServerProcess(tmp_path / "data", "--store", uri, dummy=True) as srv:
        info = httpx.get(srv.url + "/search/api/info", timeout=30).json()
        assert info["files"] == 3 and info["backend"] == "lancedb"
        r = httpx.get(srv.url + "/search/api/query", params={"q": "ENOSPC", "mode": "keyword", "k": 1}, timeout=60)
        r.raise_for_status()
        assert [h["name"] for h in r.json()["hits"]][:1] == ["backup.md"], r.json()

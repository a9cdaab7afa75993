"""Image-text profiles end to end, with the tiny models: CLI embed, index a mixed folder, search (by text
and by picture), serve both wire dialects, and stores that refuse vectors of the other profile."""

from __future__ import annotations

import base64
import json
import shutil

import httpx
import numpy as np
import pytest

from media_factory import scanned_pdf, text_image, text_pdf
from omniembed import Embedder
from omniembed.errors import ProfileMismatch
from omniembed.indexer import Indexer
from omniembed.search import Searcher
from omniembed.store import open_store
from server_harness import ServerProcess
from test_cli import cli
from test_joint_models import ROOT

JINA = ROOT / "jina-clip-v2"
SIGLIP = ROOT / "siglip2"


def _flat(stderr: bytes) -> bytes:
    """The CLI's message with rich's line wrapping undone: the store path in it is longer or shorter on
    another machine or under pytest-xdist (``…/popen-gw0/…``), which moves the wrap point."""
    return b" ".join(stderr.split())


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("mixed")
    (d / "notes.txt").write_text("Ein Hund bellt im Garten, während die Kinder spielen.\n")
    (d / "report.md").write_text("# Report\n\nThe quarterly report shows revenue growth in every region.\n")
    shutil.copy(ROOT / "images" / "img0_300x201.png", d / "photo.png")
    shutil.copy(ROOT / "images" / "img4_640x427.png", d / "landscape.png")
    text_image(["invoice 4471", "total 129.50 EUR"]).save(d / "scan.png")
    text_pdf(d / "manual.pdf", [["How do I reset the router to factory settings?"], ["Hold the button for ten seconds."]])
    return d


def test_cli_embed_with_a_model_directory(folder):
    r = cli("embed", "--profile", str(JINA), "--dims", "64", "a photo of a cat", str(folder / "photo.png"))
    assert r.returncode == 0, r.stderr.decode()
    rows = json.loads(r.stdout)
    assert [len(x["values"]) for x in rows] == [64, 64]
    assert {x["profile"] for x in rows} == {Embedder(profile=str(JINA)).profile.id}
    # --model-dir is the same option under the other name
    r2 = cli("embed", "--model-dir", str(JINA), "--dims", "64", "a photo of a cat")
    assert r2.returncode == 0, r2.stderr.decode()
    [row] = json.loads(r2.stdout)
    np.testing.assert_allclose(row["values"], rows[0]["values"], atol=1e-6)
    assert row["profile"] == rows[0]["profile"]
    assert cli("embed", "--profile", str(SIGLIP), "--dims", "16", "x").returncode == 2  # native size only
    r = cli("--device", "cuda", "embed", "--profile", str(JINA), "x")
    assert r.returncode == 2 and b"onnxruntime-gpu" in r.stderr


def test_index_search_mixed_folder_and_profile_guards(folder, tmp_path):
    store_dir = tmp_path / "jina-store"
    r = cli("index", str(folder), "--store", str(store_dir), "--profile", str(JINA), "--json", "--quiet")
    assert r.returncode == 0, r.stderr.decode()
    report = json.loads(r.stdout)
    assert not report.get("failures"), report
    # the picture queried by itself finds itself first (the image tower, not its description)
    r = cli("search", "--store", str(store_dir), "--profile", str(JINA), "--image", str(folder / "landscape.png"),
            "--json")
    assert r.returncode == 0, r.stderr.decode()
    hits = json.loads(r.stdout)
    assert hits[0]["path"].endswith("landscape.png") and hits[0]["score"] > 0.99
    r = cli("search", "--store", str(store_dir), "--profile", str(JINA), "reset the router", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)
    # zero-shot labels in the joint space (the tiny model's labels are arbitrary; the command runs)
    r = cli("cluster", "--store", str(store_dir), "--profile", str(JINA), "--labels", "photo,document", "--json")
    assert r.returncode == 0, r.stderr.decode()
    # without --profile the store's id is all there is: a clear error naming what to pass
    r = cli("search", "--store", str(store_dir), "router")
    assert r.returncode == 3 and b"--profile DIR" in _flat(r.stderr)
    # a lite query against the jina store, and a jina index run into a lite store, are refused
    r = cli("search", "--store", str(store_dir), "--profile", "lite", "router")
    assert r.returncode == 3 and b"cannot be compared" in _flat(r.stderr)
    small = tmp_path / "small"
    small.mkdir()
    shutil.copy(folder / "notes.txt", small / "notes.txt")
    lite_store = open_store(str(tmp_path / "lite-store"))
    Indexer(lite_store, Embedder()).run(small, progress=False)
    with pytest.raises(ProfileMismatch):
        Searcher(lite_store, embedder=Embedder(profile=str(JINA)))
    with pytest.raises(ProfileMismatch):
        Indexer(lite_store, Embedder(profile=str(JINA))).run(folder, progress=False)
    jina_store = open_store(str(store_dir))
    with pytest.raises(ProfileMismatch):
        Indexer(jina_store, Embedder()).run(small, progress=False)


def test_serve_both_dialects_with_a_model_directory(folder, tmp_path):
    emb = Embedder(profile=str(SIGLIP))
    png = (folder / "photo.png").read_bytes()
    want_text, want_img = emb.embed(["a photo of a cat", folder / "photo.png"])
    model = emb.profile.model_name
    with ServerProcess(tmp_path / "srv", "--model-dir", str(SIGLIP)) as srv:  # --profile's other name
        body = {"requests": [
            {"model": f"models/{model}", "content": {"parts": [{"text": "a photo of a cat"}]}},
            {"model": f"models/{model}", "content": {"parts": [
                {"inline_data": {"mime_type": "image/png", "data": base64.urlsafe_b64encode(png).decode()}}]}},
        ]}
        r = httpx.post(f"{srv.url}/v1beta/models/{model}:batchEmbedContents", json=body, timeout=120)
        assert r.status_code == 200, r.text
        got = [np.asarray(e["values"], np.float32) for e in r.json()["embeddings"]]
        np.testing.assert_allclose(got[0], want_text, atol=1e-5)
        np.testing.assert_allclose(got[1], want_img, atol=1e-5)
        r = httpx.post(f"{srv.url}/v1/embeddings", json={"model": model, "input": ["a photo of a cat"],
                                                         "encoding_format": "float"}, timeout=120)
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["data"][0]["embedding"], want_text, atol=1e-5)
        # the native size only: another size is a 400 in the dialect's error shape, not a 500
        r = httpx.post(f"{srv.url}/v1/embeddings", json={"model": model, "input": "x", "dimensions": 8}, timeout=60)
        assert r.status_code == 400 and "error" in r.json()
        r = httpx.post(f"{srv.url}/v1/embeddings", json={"model": "omniembed-lite", "input": "x"}, timeout=60)
        assert r.status_code in (400, 404)


def test_video_frames_go_through_the_image_tower(tmp_path):
    """Each window gets a ``native`` piece (the mean of its distinct frames' image vectors) beside its OCR
    text, with the window's start and end."""
    from media_gen import ffmpeg, slide_video

    emb = Embedder(profile=str(JINA))
    slides = slide_video(tmp_path / "slides.mp4", [(0, 3, "INVOICE 4471"), (3, 6, "ROUTER RESET")], 6)
    moving = tmp_path / "pattern.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=4", "-pix_fmt", "yuv420p", str(moving))
    res_slides, res_moving = emb.embed_detailed([slides, moving])
    assert {p.source for p in res_slides.pieces} == {"ocr", "native"}
    native = [p for p in res_moving.pieces if p.source == "native"]
    assert native and all(p.start_s is not None and p.end_s is not None for p in native)
    assert float(res_slides.vector @ res_moving.vector) < 0.999


def test_scanned_pdf_pages_are_seen_as_page_images(tmp_path):
    """A page without a text layer is embedded as a picture (fused with its OCR text); text pages are not."""
    emb = Embedder(profile=str(JINA))
    scan = scanned_pdf(tmp_path / "scan.pdf", ["Quarterly invoice total", "Router reset procedure"])
    typed = text_pdf(tmp_path / "typed.pdf", [["How do I reset the router to factory settings? " * 3]])
    res_scan, res_typed = emb.embed_detailed([scan, typed])
    assert [(p.source, p.page) for p in res_scan.pieces] == [("native", 1)]
    assert {p.source for p in res_typed.pieces} == {"text-layer"}


def test_models_list_and_pull_without_a_hub(tmp_path):
    """pull fails fast with a clear message when the hub is unreachable (here: always); a model copied into
    the models home is listed with its profile and found by its known name."""
    import time

    home = tmp_path / "models"
    shutil.copytree(ROOT / "clip", home / "clip-vit-base-patch32")
    env = {"OMNIEMBED_MODELS_DIR": str(home), "HF_ENDPOINT": "http://127.0.0.1:9"}
    t0 = time.monotonic()
    r = cli("models", "pull", "jina-clip-v2", env=env)
    assert r.returncode == 4 and b"cannot reach the model hub" in r.stderr, r.stderr
    assert time.monotonic() - t0 < 30
    assert cli("models", "pull", "no-such-model", env=env).returncode == 3
    r = cli("models", "list", "--json", env=env)
    listed = json.loads(r.stdout)["installed"]
    assert [(m["name"], m["ok"], m["dims"]) for m in listed] == [("clip-vit-base-patch32", True, 24)]
    r = cli("embed", "--profile", "clip-vit-base-patch32", "a photo of a cat", env=env)
    assert r.returncode == 0 and json.loads(r.stdout)[0]["profile"] == listed[0]["profile"]

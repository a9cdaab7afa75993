"""Hostile and malformed requests get 4xx in the dialect's error shape, and the server keeps serving.
The server runs the dummy profile: no model loads, the decoders and limits are the real ones."""

from __future__ import annotations

import asyncio
import base64
import io

import httpx
import pytest
from PIL import Image

from server_harness import ServerProcess

EMBED = "/v1beta/models/omniembed-lite:embedContent"
BATCH = "/v1beta/models/omniembed-lite:batchEmbedContents"


@pytest.fixture(scope="module")
def allowed(tmp_path_factory):
    root = tmp_path_factory.mktemp("allowed")
    (root / "note.txt").write_text("a note inside the allowed folder about glaciers")
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory, allowed):
    args = ["--max-body-mb", "2", "--max-queue", "8", "--workers", "1", "--allow-files", str(allowed)]
    with ServerProcess(tmp_path_factory.mktemp("hostile"), *args, dummy=True) as srv:
        yield srv


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, timeout=120) as c:
        yield c


def _gemini_error(resp: httpx.Response, code: int, status: str | None = None) -> str:
    assert resp.status_code == code, resp.text
    err = resp.json()["error"]
    assert err["code"] == code and isinstance(err["message"], str) and err["message"]
    if status:
        assert err["status"] == status
    return err["message"]


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(buf, "PNG")
    return buf.getvalue()


def _still_serving(http: httpx.Client) -> None:
    r = http.post(EMBED, json={"content": {"parts": [{"text": "still alive"}]}})
    assert r.status_code == 200 and len(r.json()["embedding"]["values"]) == 384


def test_malformed_json_and_wrong_shapes(http):
    _gemini_error(http.post(EMBED, content=b'{"content": {"parts": [', headers={"content-type": "application/json"}),
                  400, "INVALID_ARGUMENT")
    _gemini_error(http.post(EMBED, content=b""), 400)
    _gemini_error(http.post(EMBED, json=[1, 2, 3]), 400)
    _gemini_error(http.post(EMBED, json={"content": {"parts": []}}), 400)
    _gemini_error(http.post(EMBED, json={"content": {"parts": [{"text": 5}]}}), 400)
    _gemini_error(http.post(EMBED, json={"content": {"parts": [{"functionCall": {"name": "x"}}]}}), 400)
    _gemini_error(http.post(EMBED, json={"content": {"parts": [{"text": "a", "inlineData": {"data": ""}}]}}), 400)
    _gemini_error(http.post(EMBED, json={"content": {"parts": [{"text": "x"}]}, "taskType": "NOPE"}), 400)
    _gemini_error(http.post(EMBED, json={"content": {"parts": [{"text": "x"}]}, "outputDimensionality": "big"}), 400)
    deep = b"[" * 100_000 + b"]" * 100_000
    _gemini_error(http.post(EMBED, content=deep), 400)
    _gemini_error(http.post(BATCH, json={"requests": [{"model": "models/other", "content": {"parts": [{"text": "x"}]}}]}),
                  400)
    _gemini_error(http.post("/v1beta/models/omniembed-lite:generateContent", json={}), 404, "NOT_FOUND")
    _gemini_error(http.get("/v1beta/nothing-here"), 404)
    _still_serving(http)


def test_wrong_model_both_dialects(http):
    _gemini_error(http.post("/v1beta/models/gpt-4:embedContent", json={"content": {"parts": [{"text": "x"}]}}), 404,
                  "NOT_FOUND")
    r = http.post("/v1/embeddings", json={"model": "gpt-4", "input": "x"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}


def test_base64_variants_and_invalid_base64(http):
    png = _png()
    std = base64.b64encode(png).decode()
    urlsafe_nopad = base64.urlsafe_b64encode(png).decode().rstrip("=")
    vecs = []
    for data in (std, urlsafe_nopad, std[:40] + "\n" + std[40:]):
        r = http.post(EMBED, json={"content": {"parts": [{"inline_data": {"mime_type": "image/png", "data": data}}]}})
        assert r.status_code == 200, r.text
        vecs.append(r.json()["embedding"]["values"])
    assert vecs[0] == vecs[1] == vecs[2]
    msg = _gemini_error(http.post(EMBED, json={"content": {"parts": [{"inlineData": {"mimeType": "image/png",
                                                                                      "data": "!!not base64!!"}}]}}), 400)
    assert "base64" in msg


def test_huge_body_is_413_and_corrupt_media_is_4xx(http):
    huge = "A" * (3 * 1024 * 1024)  # over --max-body-mb 2
    r = http.post(EMBED, json={"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": huge}}]}})
    _gemini_error(r, 413)
    r = http.post("/v1/embeddings", json={"model": "omniembed-lite", "input": [{"type": "image_url", "image_url": {
        "url": "data:image/png;base64," + huge}}]})
    assert r.status_code == 413 and r.json()["error"]["type"] == "invalid_request_error"
    corrupt = base64.b64encode(_png()[:40] + b"\x00garbage" * 20).decode()
    r = http.post(EMBED, json={"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": corrupt}}]}})
    assert 400 <= r.status_code < 500, r.text
    not_media = base64.b64encode(b"\x7fELF\x02\x01\x01" + bytes(200)).decode()
    r = http.post(EMBED, json={"content": {"parts": [{"inlineData": {"mimeType": "application/x-elf",
                                                                      "data": not_media}}]}})
    _gemini_error(r, 415, "INVALID_ARGUMENT")
    bomb = _bomb_png()
    r = http.post(EMBED, json={"content": {"parts": [{"inlineData": {"mimeType": "image/png",
                                                                      "data": base64.b64encode(bomb).decode()}}]}})
    _gemini_error(r, 413)
    _still_serving(http)


def _bomb_png() -> bytes:
    """A 200-byte PNG whose header claims 60,000 × 60,000 pixels (a decompression bomb)."""
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60_000, 60_000, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b""))


def test_ten_thousand_parts_is_rejected_quickly(http):
    r = http.post(EMBED, json={"content": {"parts": [{"text": "x"}] * 10_000}})
    assert "2,048" in _gemini_error(r, 400)
    r = http.post(BATCH, json={"requests": [{"content": {"parts": [{"text": "x"}]}}] * 10_000})
    _gemini_error(r, 400)
    r = http.post("/v1/embeddings", json={"model": "omniembed-lite", "input": ["x"] * 10_000})
    assert r.status_code == 400
    _still_serving(http)


def test_file_data_never_reads_arbitrary_paths(http, allowed):
    for uri in ("/etc/passwd", "file:///etc/passwd", "http://example.com/a.png", str(allowed / ".." / "x.txt"),
                "../../etc/passwd"):
        r = http.post(EMBED, json={"content": {"parts": [{"fileData": {"fileUri": uri}}]}})
        _gemini_error(r, 403, "PERMISSION_DENIED")
    _gemini_error(http.post(EMBED, json={"content": {"parts": [{"fileData": {"fileUri": "files/doesnotexist"}}]}}),
                  404)
    ok = http.post(EMBED, json={"content": {"parts": [{"fileData": {"fileUri": str(allowed / "note.txt")}}]}})
    assert ok.status_code == 200  # an operator-allowed root is readable


def test_openai_input_edge_cases(http):
    def post(body):
        return http.post("/v1/embeddings", json={"model": "omniembed-lite", **body})

    for bad in ({"input": []}, {"input": ""}, {"input": [1, 2, 3]}, {"input": [[1], [2]]}, {"input": [None]},
                {"input": "x", "encoding_format": "int8"}, {"input": "x", "dimensions": "256"},
                {"input": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]},
                {"input": [{"type": "video_game"}]}, {}):
        r = post(bad)
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"]["type"] == "invalid_request_error"
    r = post({"input": "fine", "user": "u-1", "encoding_format": "float"})
    assert r.status_code == 200 and len(r.json()["data"][0]["embedding"]) == 384


def test_full_queue_answers_429_and_recovers(server, http):
    """One worker, queue of 8 contents: a burst of 24 requests overflows it."""
    long_text = " ".join(["The committee reviewed the quarterly budget and the travel policy."] * 12)

    async def burst():
        async with httpx.AsyncClient(base_url=server.url, timeout=300) as c:
            reqs = [c.post(EMBED, json={"content": {"parts": [{"text": f"{i} {long_text}"}]}}) for i in range(24)]
            return await asyncio.gather(*reqs)

    responses = asyncio.run(burst())
    codes = [r.status_code for r in responses]
    assert 200 in codes and 429 in codes and set(codes) <= {200, 429}
    limited = next(r for r in responses if r.status_code == 429)
    assert limited.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    wait = int(limited.headers["retry-after"])  # from the backlog and the measured throughput
    assert 1 <= wait <= 300 and f"retry in {wait} s" in limited.json()["error"]["message"]
    _still_serving(http)

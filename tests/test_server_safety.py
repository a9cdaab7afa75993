"""Regression tests for issue 11's server failures: keyless uploads, uploads held in memory, negative and
inconsistent declared lengths, raw codec messages for lone surrogates, and a 413 that some clients
never saw. One real server subprocess with an API key, on the dummy profile (no model: what is tested is
the server around it)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import httpx
import pytest

from server_harness import ServerProcess

KEY = "k-safety"
EMBED = "/v1beta/models/omniembed-lite:embedContent"
UPLOAD = "/upload/v1beta/files"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    args = ["--api-key", KEY, "--max-body-mb", "2", "--max-upload-mb", "512", "--workers", "1"]
    with ServerProcess(tmp_path_factory.mktemp("safety"), *args, dummy=True) as srv:
        yield srv


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, timeout=300) as c:
        yield c


def _error(resp: httpx.Response, code: int) -> str:
    assert resp.status_code == code, resp.text
    return resp.json()["error"]["message"]


def _files(http) -> set[str]:
    r = http.get("/v1beta/files", headers={"x-goog-api-key": KEY})
    assert r.status_code == 200
    return {f["name"] for f in r.json().get("files", [])}


def _start(http, size: int | str | None = None, **extra) -> httpx.Response:
    headers = {"x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start", **extra}
    if size is not None:
        headers["x-goog-upload-header-content-length"] = str(size)
    return http.post(UPLOAD, headers=headers, json={"file": {"displayName": "t"}})


# --- 1: uploads need the key -------------------------------------------------------------------
@pytest.mark.parametrize("query", ["?upload_id=", "?foo=upload_id=", "?x=1&upload_id=", "?upload_id=nope",
                                   "?upload_id=a&upload_id=b", "?upload%5Fid=zz"])
def test_uploads_without_a_key_are_refused(http, query):
    before = _files(http)
    one_shot = http.post(UPLOAD + query, content=b"a note about glaciers", headers={"content-type": "text/plain"})
    assert one_shot.status_code in (401, 404), one_shot.text
    start = http.post(UPLOAD + query, headers={"x-goog-upload-protocol": "resumable",
                                               "x-goog-upload-command": "start"}, json={})
    assert start.status_code in (401, 404), start.text
    assert "x-goog-upload-url" not in start.headers
    assert _files(http) == before  # nothing was created


def test_resumable_chunks_need_no_key_but_only_for_a_real_session(http):
    start = _start(http, 21, **{"x-goog-api-key": KEY})
    assert start.status_code == 200
    url = start.headers["x-goog-upload-url"]
    path = url[url.index("/upload/"):]
    # the SDK sends chunks without a key: the session id in the URL is the capability
    r = http.post(path, content=b"a note about glaciers",
                  headers={"x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0"})
    assert r.status_code == 200, r.text
    assert r.json()["file"]["sizeBytes"] == "21"
    # a finished session is no capability any more
    again = http.post(path, content=b"more", headers={"x-goog-upload-command": "upload", "x-goog-upload-offset": "21"})
    _error(again, 401)


# --- 2: bounded memory, declared lengths -------------------------------------------------------
def _peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _body(total: int, piece: int = 1 << 20):
    line = b"glaciers retreat when summers grow warmer and the snow line climbs.\n"
    block = (line * (piece // len(line) + 1))[:piece]
    sent = 0
    while sent < total:
        n = min(piece, total - sent)
        yield block[:n]
        sent += n


def test_one_shot_upload_streams_to_disk_in_bounded_memory(server, http):
    size = 256 * 1024**2
    http.post(EMBED, headers={"x-goog-api-key": KEY}, json={"content": {"parts": [{"text": "warm"}]}})
    before = _peak_rss(server.proc.pid)
    r = http.post(UPLOAD, content=_body(size), headers={"x-goog-api-key": KEY, "content-type": "text/plain",
                                                        "content-length": str(size)})
    assert r.status_code == 200, r.text
    assert r.json()["file"]["sizeBytes"] == str(size)
    grew = _peak_rss(server.proc.pid) - before
    assert grew < 96 * 1024**2, f"peak RSS grew by {grew / 1024**2:.0f} MiB for a {size / 1024**2:.0f} MiB upload"
    # the same bytes through a resumable session, in one huge chunk: also streamed
    start = _start(http, size, **{"x-goog-api-key": KEY})
    path = start.headers["x-goog-upload-url"].split(server.url, 1)[1]
    r2 = http.post(path, content=_body(size), headers={"x-goog-upload-command": "upload, finalize",
                                                       "x-goog-upload-offset": "0", "content-length": str(size)})
    assert r2.status_code == 200, r2.text
    grew = _peak_rss(server.proc.pid) - before
    assert grew < 96 * 1024**2, f"peak RSS grew by {grew / 1024**2:.0f} MiB"
    leftovers = list((server.data_dir / "files" / "partial").glob("tmp-*"))
    assert leftovers == []
    for rec in (r, r2):  # 512 MiB of test data: do not keep it
        assert http.delete(f"/v1beta/{rec.json()['file']['name']}", headers={"x-goog-api-key": KEY}).status_code == 200


def _raw_post(server, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """A POST whose headers may lie (httpx refuses to): returns (status, body)."""
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as s:
        s.sendall(head.encode() + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


def test_oversized_one_shot_upload_is_413_and_leaves_nothing(server, http):
    size = 513 * 1024**2  # over --max-upload-mb 512; only 16 bytes are ever sent
    status, body = _raw_post(server, UPLOAD, b"x" * 16, {"x-goog-api-key": KEY, "content-length": str(size)})
    assert status == 413 and "536,870,912" in json.loads(body)["error"]["message"]  # refused before reading
    assert list((server.data_dir / "files" / "partial").glob("tmp-*")) == []


@pytest.mark.parametrize("bad", ["-1", "1e3", "0x10", "12abc", "99999999999999999999999"])
def test_resumable_declared_length_must_be_a_non_negative_integer(http, bad):
    assert "non-negative integer" in _error(_start(http, bad, **{"x-goog-api-key": KEY}), 400)


def test_resumable_chunks_must_match_the_declared_length(server, http):
    start = _start(http, 10, **{"x-goog-api-key": KEY})
    path = start.headers["x-goog-upload-url"].split(server.url, 1)[1]
    over = http.post(path, content=b"glaciers and more", headers={"x-goog-upload-command": "upload",
                                                                   "x-goog-upload-offset": "0"})
    assert "10" in _error(over, 413)
    neg = http.post(path, content=b"glaciers!!", headers={"x-goog-upload-command": "upload",
                                                           "x-goog-upload-offset": "-5"})
    _error(neg, 400)
    short = http.post(path, content=b"glaciers", headers={"x-goog-upload-command": "upload, finalize",
                                                           "x-goog-upload-offset": "0"})
    assert "8 of 10" in _error(short, 400)
    # a rejected chunk left nothing behind: the client can resend at the same offset
    start = _start(http, 10, **{"x-goog-api-key": KEY})
    path = start.headers["x-goog-upload-url"].split(server.url, 1)[1]
    _error(http.post(path, content=b"x" * 11, headers={"x-goog-upload-command": "upload",
                                                        "x-goog-upload-offset": "0"}), 413)
    ok = http.post(path, content=b"glaciers!!", headers={"x-goog-upload-command": "upload, finalize",
                                                          "x-goog-upload-offset": "0"})
    assert ok.status_code == 200 and ok.json()["file"]["sizeBytes"] == "10"


# --- 6: clean messages for odd text, and a 413 every client sees ----------------------------------
def test_lone_surrogates_are_a_clean_400_in_both_dialects(http):
    body = '{"content": {"parts": [{"text": "a\\ud800"}]}}'  # valid JSON, invalid Unicode
    msg = _error(http.post(EMBED, content=body, headers={"x-goog-api-key": KEY, "content-type": "application/json"}),
                 400)
    assert "lone surrogate" in msg and "U+D800" in msg and "codec" not in msg
    body = '{"model": "omniembed-lite", "input": ["fine", "b\\udfff"]}'
    r = http.post("/v1/embeddings", content=body, headers={"authorization": f"Bearer {KEY}",
                                                          "content-type": "application/json"})
    assert r.status_code == 400 and "lone surrogate" in r.json()["error"]["message"]
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_utf8_text_with_nul_bytes_is_text_everywhere(http):
    import base64

    text = "Glaciers retreat\x00 when summers grow warmer."
    as_str = http.post(EMBED, headers={"x-goog-api-key": KEY}, json={"content": {"parts": [{"text": text}]}})
    inline = http.post(EMBED, headers={"x-goog-api-key": KEY}, json={"content": {"parts": [{"inlineData": {
        "mimeType": "text/plain", "data": base64.b64encode(text.encode()).decode()}}]}})
    up = http.post(UPLOAD, content=text.encode(), headers={"x-goog-api-key": KEY})
    assert up.status_code == 200, up.text
    by_file = http.post(EMBED, headers={"x-goog-api-key": KEY}, json={"content": {"parts": [{"fileData": {
        "fileUri": up.json()["file"]["name"]}}]}})
    vecs = [r.json()["embedding"]["values"] for r in (as_str, inline, by_file)]
    assert vecs[0] == vecs[1] == vecs[2]


@pytest.mark.parametrize("path,headers", [
    (EMBED, {"x-goog-api-key": KEY}),
    ("/v1/embeddings", {"authorization": f"Bearer {KEY}"}),
    (EMBED, {}),  # no key: the 401 is seen too
])
def test_urllib_sees_the_answer_to_an_oversized_body(server, path, headers):
    """urllib writes the whole body before it reads: the server must read (and discard) it first."""
    payload = json.dumps({"content": {"parts": [{"text": "x" * (3 * 1024**2)}]}}).encode()  # over 2 MiB
    req = urllib.request.Request(server.url + path, data=payload, method="POST",
                                 headers={"content-type": "application/json", **headers})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=120)
    err = json.loads(exc.value.read())["error"]
    if headers:
        assert exc.value.code == 413 and "3,145,7" in err["message"] and "2,097,152" in err["message"]
    else:
        assert exc.value.code == 401 and "API key" in err["message"]


def test_urllib_sees_the_413_of_a_chunked_body(server):
    def chunks():
        for _ in range(48):
            yield b"y" * 65536  # 3 MiB, no Content-Length: the limit trips while reading

    req = urllib.request.Request(server.url + EMBED, data=chunks(), method="POST",
                                 headers={"content-type": "application/json", "x-goog-api-key": KEY,
                                          "transfer-encoding": "chunked"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=120)
    assert exc.value.code == 413 and "2,097,152" in json.loads(exc.value.read())["error"]["message"]

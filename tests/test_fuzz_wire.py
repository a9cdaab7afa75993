"""Property-based fuzzing (hypothesis) of the wire parsers and the MIME sniffer (issue 11).

Whatever JSON a client sends, the Gemini and OpenAI translators return an internal request or raise a
typed 4xx error; whatever bytes arrive, the sniffer names a supported type or nothing, and
``MediaSource`` identifies them or raises a typed error. Never another exception.

CI runs a short, derandomized pass (``OMNIEMBED_FUZZ_EXAMPLES``, default 150 examples per target);
for a long run: ``OMNIEMBED_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest -q tests/test_fuzz_wire.py``
(randomized whenever the count is above the default).
"""

from __future__ import annotations

import base64
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omniembed.errors import OmniEmbedError
from omniembed.media.source import SUPPORTED, Limits, MediaSource, sniff
from omniembed.server.errors import ApiError
from omniembed.server.files import file_id_from_uri, parse_length, upload_session_id
from omniembed.wire.gemini import RequestBudget, batch_from_json, decode_base64, request_from_json
from omniembed.server.openai import parse_input
from omniembed.types import EmbedRequest

_DEFAULT = 150
EXAMPLES = int(os.environ.get("OMNIEMBED_FUZZ_EXAMPLES", _DEFAULT))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= _DEFAULT, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# keys the parsers look at, so generated objects reach the deep branches, not only "wrong shape"
_KEYS = st.sampled_from([
    "content", "parts", "text", "inlineData", "inline_data", "fileData", "file_data", "mimeType", "mime_type",
    "data", "fileUri", "file_uri", "taskType", "task_type", "outputDimensionality", "title", "requests", "model",
    "embedContentConfig", "config", "role", "type", "image_url", "url", "input_audio", "format", "file",
    "file_id", "media_url", "video_url",
]) | st.text(max_size=8)
_SCALARS = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True)
            | st.text(max_size=40) | st.sampled_from([
                "RETRIEVAL_QUERY", "text/plain", "image/png", "files/abc", "data:image/png;base64,iVBORw0KGgo=",
                "data:text/plain;base64," + base64.b64encode(b"hi").decode(), "a\ud800", "", "  ", "768", "files/",
            ]))
JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=5)
                    | st.dictionaries(_KEYS, inner, max_size=6), max_leaves=30)

_OK = (ApiError, OmniEmbedError)


def _typed_4xx(exc: BaseException) -> bool:
    status = getattr(exc, "http_status", None) or getattr(exc, "status", None)
    return isinstance(exc, _OK) and isinstance(status, int) and 400 <= status < 500


def _budget() -> RequestBudget:
    return RequestBudget(2048, 1024**2)


@FUZZ
@given(JSON)
def test_gemini_request_parser(body):
    try:
        req = request_from_json(body, "request", _budget())
    except Exception as exc:  # noqa: BLE001 - the property is about which exceptions
        assert _typed_4xx(exc), repr(exc)
        return
    assert isinstance(req, EmbedRequest) and len(req.contents) == 1 and req.contents[0].parts


@FUZZ
@given(JSON)
def test_gemini_batch_parser(body):
    try:
        reqs = batch_from_json(body, "models/omniembed-lite", _budget())
    except Exception as exc:  # noqa: BLE001
        assert _typed_4xx(exc), repr(exc)
        return
    assert reqs and all(isinstance(r, EmbedRequest) for r in reqs)


@FUZZ
@given(JSON)
def test_openai_input_parser(value):
    try:
        contents = parse_input(value, _budget())
    except Exception as exc:  # noqa: BLE001
        assert _typed_4xx(exc), repr(exc)
        return
    assert contents and all(c.parts for c in contents)


@FUZZ
@given(st.text(max_size=200) | st.binary(max_size=150).map(lambda b: base64.urlsafe_b64encode(b).decode()))
def test_base64_decoder(data):
    try:
        out = decode_base64(data, "data", 1024)
    except Exception as exc:  # noqa: BLE001
        assert _typed_4xx(exc), repr(exc)
        return
    assert isinstance(out, bytes) and len(out) <= 1024


@FUZZ
@given(st.text(max_size=80), st.text(max_size=30))
def test_upload_headers_and_ids(query, length):
    sid = upload_session_id(query)
    assert sid is None or (sid and "&" not in sid)
    try:
        n = parse_length(length, "X-Goog-Upload-Header-Content-Length")
    except ApiError as exc:
        assert exc.http_status == 400
    else:
        assert n is None or n >= 0
    fid = file_id_from_uri(query)
    assert fid is None or (fid and "/" not in fid)


# --- the sniffer: real magic numbers followed by anything, and plain noise ----------------------------
_MAGIC = st.sampled_from([
    b"", b"%PDF-1.7\n", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
    b"RIFF\x00\x00\x00\x00WEBP", b"RIFF\x00\x00\x00\x00WAVE", b"RIFF\x00\x00\x00\x00AVI ", b"fLaC", b"OggS", b"ID3",
    b"\xff\xfb", b"\xff\xf1", b"\x00\x00\x00\x18ftypisom", b"\x00\x00\x00\x18ftypM4A ", b"\x1a\x45\xdf\xa3",
    b"\x00\x00\x01\xba", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff",
])
_DECLARED = st.none() | st.sampled_from(sorted(SUPPORTED) + ["application/octet-stream", "image/jpg", "text/md",
                                                              "application/x-elf", "", "IMAGE/PNG; q=1"]) \
    | st.text(max_size=20)


@FUZZ
@given(_MAGIC, st.binary(max_size=300), _DECLARED)
def test_sniffer_and_identification(magic, rest, declared):
    data = magic + rest
    got = sniff(data[:4096])
    assert got is None or got in SUPPORTED
    try:
        src = MediaSource.from_bytes(data, declared, Limits())
    except Exception as exc:  # noqa: BLE001
        assert _typed_4xx(exc), repr(exc)
        return
    assert src.mime in SUPPORTED and src.modality == SUPPORTED[src.mime]


@FUZZ
@given(st.text(max_size=300), st.sampled_from([None, "text/plain", "text/markdown"]))
def test_any_utf8_text_is_text(text, declared):
    """Text that encodes as UTF-8 is identified as text (the NUL-byte and BOM cases included), or
    refused with a typed error (empty, or mostly NUL, which is UTF-16 without a byte-order mark)."""
    data = text.encode("utf-8", "surrogatepass")
    try:
        src = MediaSource.from_bytes(data, declared, Limits())
    except Exception as exc:  # noqa: BLE001
        assert _typed_4xx(exc), repr(exc)
        return
    assert src.modality in SUPPORTED.values()

"""The Gemini codec (omniembed.wire.gemini) on its own: no server, no model.

Round trips (our types → JSON → our types) for every kind of part, requests with their options, batch
responses, and every error class of omniembed.errors (its status survives the trip and comes back as
the class the codec derives for it). The fuzzing of the parsers is in test_fuzz_wire.py.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from omniembed import errors
from omniembed.client import contents_from_genai
from omniembed.errors import InvalidInput, MediaTooLarge, OmniEmbedError
from omniembed.types import Blob, Content, EmbeddingResult, EmbedRequest, FileData, Part, TaskType
from omniembed.wire import gemini as codec

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def _trip(content: Content) -> Content:
    """Through JSON text, as on the wire."""
    return codec.content_from_json(json.loads(json.dumps(codec.content_to_json(content))))


def test_content_round_trip_all_part_kinds():
    content = Content(parts=[Part(text="a caption"), Part(inline_data=Blob(PNG, "image/png")),
                             Part(file_data=FileData("files/abc123", "video/mp4")),
                             Part(file_data=FileData("files/def"))], role="user")
    assert _trip(content) == content


def test_inline_data_without_type_is_sent_as_octet_stream_and_decodes_the_same():
    wire = codec.part_to_json(Part.from_bytes(b"\x00\x01\xff"))
    assert wire == {"inlineData": {"data": "AAH/", "mimeType": "application/octet-stream"}}
    assert codec.part_from_json(wire, "p").inline_data.data == b"\x00\x01\xff"


@pytest.mark.parametrize("spelling", [
    {"inline_data": {"mime_type": "image/png", "data": base64.urlsafe_b64encode(PNG).decode().rstrip("=")}},
    {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()[:40] + "\n"
                    + base64.b64encode(PNG).decode()[40:]}},
    {"inline_data": {"mime_type": "image/png", "data": PNG}},  # a google-genai object's model_dump()
])
def test_inline_data_spellings(spelling):
    part = codec.part_from_json(spelling, "p")
    assert part.inline_data == Blob(PNG, "image/png")


def test_file_data_snake_case_and_camel_case():
    for obj in ({"file_data": {"file_uri": "files/x", "mime_type": "audio/wav"}},
                {"fileData": {"fileUri": "files/x", "mimeType": "audio/wav"}}):
        assert codec.part_from_json(obj, "p") == Part(file_data=FileData("files/x", "audio/wav"))


def test_request_round_trip_keeps_options():
    content = Content(parts=[Part(text="hello")])
    wire = codec.request_to_json(content, model="omniembed-lite", task_type="retrieval_query",
                                 output_dimensionality=256, title="T")
    assert wire["model"] == "models/omniembed-lite" and wire["taskType"] == "RETRIEVAL_QUERY"
    req = codec.request_from_json(json.loads(json.dumps(wire)))
    assert req == EmbedRequest([content], task_type=TaskType.RETRIEVAL_QUERY, output_dimensionality=256, title="T")


def test_batch_round_trip_one_request_per_content():
    req = EmbedRequest([Content(parts=[Part(text="a")]), Content(parts=[Part(text="b"), Part.from_bytes(PNG)])],
                       task_type=TaskType.CLUSTERING, output_dimensionality=128)
    back = codec.batch_from_json(codec.batch_to_json(req, "omniembed-lite"), "models/omniembed-lite")
    assert [r.contents[0] for r in back][0] == req.contents[0]
    assert back[1].contents[0].parts[1].inline_data.data == PNG
    assert all(r.task_type == TaskType.CLUSTERING and r.output_dimensionality == 128 for r in back)


def test_options_inside_embed_content_config_and_model_check():
    req = codec.request_from_json({"content": {"parts": [{"text": "x"}]},
                                   "embedContentConfig": {"taskType": "QUESTION_ANSWERING",
                                                          "outputDimensionality": "200"}})
    assert req.task_type == TaskType.QUESTION_ANSWERING and req.output_dimensionality == 200
    with pytest.raises(InvalidInput, match="differs from the model in the URL"):
        codec.batch_from_json({"requests": [{"model": "models/other", "content": "x"}]}, "omniembed-lite")


def test_limits_are_typed_errors():
    budget = codec.RequestBudget(max_parts=2, max_inline_bytes=10)
    with pytest.raises(InvalidInput, match="more than 2 parts"):
        codec.content_from_json({"parts": ["a", "b", "c"]}, "c", budget)
    with pytest.raises(MediaTooLarge):
        codec.decode_base64(base64.b64encode(b"x" * 100).decode(), "d", 10)
    with pytest.raises(InvalidInput, match="exactly one of"):
        codec.part_from_json({"text": "a", "fileData": {"fileUri": "files/x"}}, "p")


def test_responses():
    vecs = np.eye(3, dtype=np.float32)
    results = [EmbeddingResult(vector=v, pieces=[], modalities=["text"], profile="p", dimensions=3) for v in vecs]
    body = json.loads(json.dumps(codec.batch_response_to_json(results)))
    assert np.array_equal(np.asarray(codec.batch_values_from_json(body), dtype=np.float32), vecs)
    assert codec.embed_response_to_json(results[0]) == {"embedding": {"values": [1.0, 0.0, 0.0]}}
    with pytest.raises(ValueError):
        codec.batch_values_from_json({"embedding": {"values": [1.0]}})


def _error_classes() -> list[type[OmniEmbedError]]:
    return [c for c in (getattr(errors, n) for n in errors.__all__)
            if isinstance(c, type) and issubclass(c, OmniEmbedError)]


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__name__)
def test_every_error_class_round_trips_by_status(cls):
    exc = cls("something is wrong")
    wire = json.loads(json.dumps(codec.error_to_json(exc.http_status, str(exc))))
    assert wire["error"]["code"] == exc.http_status and wire["error"]["status"]
    back = codec.error_from_json(exc.http_status, wire)
    assert back.http_status == exc.http_status
    assert isinstance(exc, type(back)), f"{cls.__name__} came back as {type(back).__name__}"
    assert "something is wrong" in str(back) and wire["error"]["status"] in str(back)


def test_status_map_is_derived_from_the_error_classes():
    # every status a class in omniembed.errors answers with is mapped, to a class that answers with it
    for cls in _error_classes():
        assert codec.error_class(cls.http_status).http_status == cls.http_status
    assert codec.error_class(422) is errors.WorkerFailed  # the hand-written map said DecodeError
    assert codec.error_class(501) is errors.MissingDependency  # … and had no 501
    assert codec.error_class(413) is errors.MediaTooLarge and codec.error_class(400) is errors.InvalidInput
    back = codec.error_from_json(429, None, text="slow down")  # no class claims 429: the base, status kept
    assert type(back) is OmniEmbedError and back.http_status == 429 and "slow down" in str(back)


def test_client_reads_dict_contents_through_the_codec():
    got = contents_from_genai([{"parts": [{"text": "a"}, {"file_data": {"file_uri": "files/x"}}]},
                               {"parts": [{"text": None, "inline_data": {"data": PNG, "mime_type": "image/png"}}]}])
    assert got[0].parts[1] == Part(file_data=FileData("files/x"))
    assert got[1].parts[0].inline_data == Blob(PNG, "image/png")

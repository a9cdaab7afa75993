"""The OpenAI embeddings dialect (``/v1/embeddings``, ``/v1/models``).

``input`` may be:

* a string, or a list of strings — one vector each (the common case);
* **token-id arrays** (a list of ints, or a list of lists of ints, as langchain-openai sends by default)
  — refused with 400 and a message saying what to do. omniembed tokenizes text with its own encoder's
  tokenizer; ids from another tokenizer (tiktoken) mean nothing to it, and guessing would silently
  produce wrong vectors. (langchain-openai: pass ``check_embedding_ctx_length=False``.)
* **omniembed extension, multimodal items** — an object per item:
  ``{"type": "text", "text": "…"}``,
  ``{"type": "image_url", "image_url": {"url": "data:image/png;base64,…"}}`` (llama.cpp's proposal),
  ``{"type": "input_audio", "input_audio": {"data": "<base64>", "format": "wav"}}`` (OpenAI's chat shape),
  ``{"type": "file", "file": {"file_data": "data:application/pdf;base64,…"}}`` or
  ``{"type": "file", "file": {"file_id": "files/ID"}}`` (an uploaded file), and for any media type
  ``{"type": "media_url", "media_url": {"url": "data:<mime>;base64,…"}}``.
  A list *inside* ``input`` whose items are strings or such objects is ONE interleaved content (one
  vector), e.g. ``[["a caption", {"type": "image_url", …}]]``. Only ``data:`` URLs: the server never
  fetches ``http(s)://``.

``dimensions`` is the Matryoshka output size; ``encoding_format`` is ``float`` or ``base64``
(little-endian float32, what the official client asks for by default). ``usage`` counts the tokens the
text encoder saw (text, OCR text and transcripts included).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..media.source import format_mime
from ..modalities import url_items
from ..types import Blob, Content, EmbedRequest, FileData, Part, TaskType
from .errors import ApiError
from .gemini import RequestBudget, decode_base64

if TYPE_CHECKING:
    from .app import Services

__all__ = ["parse_input", "create_router", "encode_vector"]

def _data_url(url: Any, where: str, budget: RequestBudget) -> Part:
    if not isinstance(url, str):
        raise ApiError(400, f"{where}: url must be a string", param="input")
    if url.startswith("files/"):
        return Part(file_data=FileData(file_uri=url))
    if not url.startswith("data:"):
        raise ApiError(400, f"{where}: only data: URLs (data:<mime>;base64,…) or files/ID are accepted; "
                            "the server does not fetch remote URLs", param="input")
    head, sep, payload = url.partition(",")
    if not sep or not head.endswith(";base64"):
        raise ApiError(400, f"{where}: expected data:<mime>;base64,<data>", param="input")
    mime = head[len("data:"):-len(";base64")] or None
    return Part(inline_data=Blob(decode_base64(payload, where, budget.max_inline_bytes), mime_type=mime))


def _item_part(item: Any, where: str, budget: RequestBudget) -> Part:
    if isinstance(item, str):
        if not item.strip():
            raise ApiError(400, f"{where}: empty string", param="input")
        return Part(text=item)
    if not isinstance(item, dict):
        raise ApiError(400, f"{where}: expected a string or a typed object", param="input")
    kind = item.get("type")
    if kind == "text" and isinstance(item.get("text"), str):
        return _item_part(item["text"], where, budget)
    if kind in url_items():  # image_url, audio_url, video_url, document_url, media_url: the modality table
        inner = item.get(kind)
        url = inner.get("url") if isinstance(inner, dict) else inner
        return _data_url(url, f"{where}.{kind}", budget)
    if kind == "input_audio" and isinstance(item.get("input_audio"), dict):
        a = item["input_audio"]
        fmt = str(a.get("format") or "").lower()
        data = decode_base64(a.get("data"), f"{where}.input_audio", budget.max_inline_bytes)
        return Part(inline_data=Blob(data, mime_type=format_mime("audio", fmt)))
    if kind == "file" and isinstance(item.get("file"), dict):
        f = item["file"]
        if f.get("file_id"):
            fid = str(f["file_id"])
            return Part(file_data=FileData(file_uri=fid if fid.startswith("files/") else f"files/{fid}"))
        return _data_url(f.get("file_data"), f"{where}.file", budget)
    raise ApiError(400, f"{where}: unsupported item type {kind!r}; use text, image_url, input_audio, file or "
                        "media_url", param="input")


def _is_token_ids(x: Any) -> bool:
    return isinstance(x, list) and bool(x) and all(isinstance(t, int) and not isinstance(t, bool) for t in x)


def parse_input(value: Any, budget: RequestBudget) -> list[Content]:
    """OpenAI ``input`` → contents (one per vector)."""
    if isinstance(value, str):
        budget.count_parts(1)
        return [Content(parts=[_item_part(value, "input", budget)])]
    if isinstance(value, dict):
        budget.count_parts(1)
        return [Content(parts=[_item_part(value, "input", budget)])]
    if not isinstance(value, list) or not value:
        raise ApiError(400, "input must be a non-empty string or list", param="input")
    if _is_token_ids(value) or all(_is_token_ids(v) for v in value):
        raise ApiError(
            400,
            "token-id input is not supported: omniembed tokenizes text with its own encoder, so ids from "
            "another tokenizer would be meaningless. Send strings instead (langchain-openai: "
            "check_embedding_ctx_length=False).",
            param="input", code="token_ids_not_supported",
        )
    budget.count_parts(len(value))
    out = []
    for i, item in enumerate(value):
        if isinstance(item, list):
            if not item:
                raise ApiError(400, f"input[{i}]: an interleaved item needs at least one part", param="input")
            budget.count_parts(len(item) - 1)
            out.append(Content(parts=[_item_part(p, f"input[{i}][{j}]", budget) for j, p in enumerate(item)]))
        else:
            out.append(Content(parts=[_item_part(item, f"input[{i}]", budget)]))
    return out


def encode_vector(vec: np.ndarray, fmt: str) -> list[float] | str:
    if fmt == "base64":
        return base64.b64encode(np.asarray(vec, dtype="<f4").tobytes()).decode("ascii")
    return vec.tolist()


def create_router(services: "Services") -> APIRouter:
    r = APIRouter()
    catalog = services.catalog

    @r.get("/v1/models")
    async def list_models() -> dict:
        return catalog.openai_list()

    @r.get("/v1/models/{name}")
    async def get_model(name: str) -> dict:
        catalog.resolve(name)
        return catalog.openai_model(name)

    @r.post("/v1/embeddings")
    @r.post("/embeddings")  # Infinity's and other OpenAI-compatible servers' path, without /v1
    async def embeddings(request: Request) -> JSONResponse:
        body = await services.read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object")
        catalog.resolve(body.get("model"))
        fmt = body.get("encoding_format") or "float"
        if fmt not in ("float", "base64"):
            raise ApiError(400, f"encoding_format must be 'float' or 'base64', not {fmt!r}", param="encoding_format")
        dims = body.get("dimensions")
        if dims is not None and (isinstance(dims, bool) or not isinstance(dims, int)):
            raise ApiError(400, f"dimensions must be an integer, not {dims!r}", param="dimensions")
        if "input" not in body:
            raise ApiError(400, "input is required", param="input")
        contents = parse_input(body["input"], services.budget())
        # omniembed extension: "task_type" (Gemini's eight); OpenAI has none, so the default is a document.
        task = TaskType.parse(body.get("task_type"))
        results = await services.embed(EmbedRequest(contents, task_type=task, output_dimensionality=dims))
        services.metrics.count_contents("openai", len(results))
        tokens = sum(r.token_count for r in results)
        data = [{"object": "embedding", "index": i, "embedding": encode_vector(r.vector, fmt)}
                for i, r in enumerate(results)]
        return JSONResponse(
            {"object": "list", "data": data, "model": services.profile.id,
             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}},
            headers={"x-omniembed-model": services.profile.id},
        )

    return r

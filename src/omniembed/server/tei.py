"""Hugging Face text-embeddings-inference (TEI)'s wire format, so its users switch by changing a URL.

Routes: ``POST /embed`` and ``POST /`` (the Inference-API route ``huggingface_hub``'s
``InferenceClient(base_url).feature_extraction`` calls), ``GET /info``, ``GET /health``.

``inputs`` is a string or a list of strings (token-id lists are refused, as in the OpenAI dialect: ids of
another tokenizer mean nothing here); the answer is always a list of vectors. ``prompt_name`` picks the
task type: TEI's prompt names ``query`` and ``passage``/``document`` map to ``RETRIEVAL_QUERY`` and
``RETRIEVAL_DOCUMENT`` (e5's ``query:`` / ``passage:`` prefixes, which is what those prompts are), and
any of Gemini's eight task-type names is accepted too; without one, texts are documents. ``dimensions``
is the Matryoshka size. ``normalize`` and ``truncate`` are accepted: vectors are always unit length and
long texts are chunked and pooled, never truncated. Errors: ``{"error": "…", "error_type": "Validation"}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..types import Content, EmbedRequest, Part, TaskType
from .errors import ApiError
from .services import Services

__all__ = ["create_router", "text_contents", "task_for_prompt"]

_PROMPTS = {"query": TaskType.RETRIEVAL_QUERY, "passage": TaskType.RETRIEVAL_DOCUMENT,
            "document": TaskType.RETRIEVAL_DOCUMENT, "doc": TaskType.RETRIEVAL_DOCUMENT}


def text_contents(value: Any, field: str, max_items: int) -> list[Content]:
    """A string or a non-empty list of strings → one text content each (the text-only dialects' input)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ApiError(400, f"{field} must be a string or a non-empty list of strings")
    if len(items) > max_items:
        raise ApiError(413, f"{len(items):,} inputs in one request; the limit is {max_items:,}")
    out = []
    for i, t in enumerate(items):
        if not isinstance(t, str):
            what = "token ids" if isinstance(t, (int, list)) else type(t).__name__
            raise ApiError(400, f"{field}[{i}]: expected a string, got {what} (send text: omniembed "
                                "tokenizes with its own encoder)")
        if not t.strip():
            raise ApiError(400, f"{field}[{i}] is empty")
        out.append(Content(parts=[Part(text=t)]))
    return out


def task_for_prompt(name: Any) -> TaskType:
    """TEI's ``prompt_name`` → task type (``query``, ``passage``/``document``, or a Gemini task type)."""
    if name is None or name == "":
        return TaskType.RETRIEVAL_DOCUMENT
    key = str(name).strip().lower()
    return _PROMPTS.get(key) or TaskType.parse(key)


def create_router(services: Services) -> APIRouter:
    r = APIRouter(tags=["Hugging Face TEI"])

    async def embed(request: Request) -> JSONResponse:
        body = await services.read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object with inputs")
        if "inputs" not in body:
            raise ApiError(400, "inputs is required")
        contents = text_contents(body["inputs"], "inputs", services.config.max_parts)
        dims = body.get("dimensions")
        if dims is not None and (isinstance(dims, bool) or not isinstance(dims, int)):
            raise ApiError(400, f"dimensions must be an integer, not {dims!r}")
        results = await services.embed(EmbedRequest(contents, task_type=task_for_prompt(body.get("prompt_name")),
                                                    output_dimensionality=dims))
        services.metrics.count_contents("tei", len(results))
        return JSONResponse([res.vector.tolist() for res in results],
                            headers={"x-omniembed-model": services.profile.id})

    r.add_api_route("/embed", embed, methods=["POST"], summary="Embed texts (TEI)")
    r.add_api_route("/", embed, methods=["POST"], summary="Embed texts (TEI / Inference API route)")

    @r.get("/info", summary="Model information (TEI)")
    async def info() -> dict:
        p = services.profile
        b = services.config.batching
        from .. import __version__

        return {
            "model_id": p.id, "model_sha": None, "model_dtype": "float32",
            "model_type": {"embedding": {"pooling": "mean"}},
            "max_concurrent_requests": b.max_queue, "max_input_length": services.config.limits.max_text_chars // 4,
            "max_batch_tokens": b.max_batch_size * 512, "max_batch_requests": b.max_batch_size,
            "max_client_batch_size": services.config.max_parts, "auto_truncate": True,
            "tokenization_workers": b.workers, "version": __version__,
            "prompts": {"query": "query: ", "passage": "passage: "},
            "embedding_dimensions": p.native_dim,  # omniembed extension
        }

    @r.get("/health", summary="Liveness (TEI)")
    async def health() -> Response:
        return Response(status_code=200)

    return r

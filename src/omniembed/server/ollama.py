"""Ollama's embedding API, so its users switch by changing a URL (``OLLAMA_HOST=http://omniembed:8000``).

Routes: ``POST /api/embed`` (``input``: a string or a list; answers ``embeddings``), the older
``POST /api/embeddings`` (``prompt``; answers one ``embedding``), ``GET /api/tags`` (the models, as
``name:latest``), ``POST /api/show`` and ``GET /api/version``. Model names may carry Ollama's ``:latest``
tag. ``dimensions`` is the Matryoshka size; the omniembed extension ``task_type`` picks one of Gemini's
eight task types (Ollama has none; default: documents). ``truncate`` is accepted: long texts are chunked
and pooled, never truncated. Errors: ``{"error": "…"}``.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..types import EmbedRequest, TaskType
from .errors import ApiError
from .services import Services
from .tei import text_contents

__all__ = ["create_router"]

_MODIFIED = "2026-01-01T00:00:00Z"


def _model_name(body: dict) -> str:
    name = body.get("model")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "model is required")
    return name.strip()


def create_router(services: Services) -> APIRouter:
    r = APIRouter(tags=["Ollama"])
    catalog = services.catalog

    def resolve(name: str) -> None:
        catalog.resolve(name.removesuffix(":latest"))

    async def run(body: dict, contents) -> tuple[list, float]:
        dims = body.get("dimensions")
        if dims is not None and (isinstance(dims, bool) or not isinstance(dims, int)):
            raise ApiError(400, f"dimensions must be an integer, not {dims!r}")
        t0 = time.perf_counter()
        results = await services.embed(EmbedRequest(contents, task_type=TaskType.parse(body.get("task_type")),
                                                    output_dimensionality=dims))
        services.metrics.count_contents("ollama", len(results))
        return results, time.perf_counter() - t0

    async def read(request: Request) -> dict:
        body = await services.read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object")
        return body

    @r.post("/api/embed", summary="Embed texts (Ollama)")
    async def embed(request: Request) -> JSONResponse:
        body = await read(request)
        model = _model_name(body)
        resolve(model)
        if "input" not in body:
            raise ApiError(400, "input is required")
        results, seconds = await run(body, text_contents(body["input"], "input", services.config.max_parts))
        return JSONResponse({
            "model": model, "embeddings": [res.vector.tolist() for res in results],
            "total_duration": int(seconds * 1e9), "load_duration": 0,
            "prompt_eval_count": sum(res.token_count for res in results),
        }, headers={"x-omniembed-model": services.profile.id})

    @r.post("/api/embeddings", summary="Embed one text (Ollama, legacy)")
    async def embeddings(request: Request) -> JSONResponse:
        body = await read(request)
        resolve(_model_name(body))
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise ApiError(400, "prompt must be a string")
        (res,), _ = await run(body, text_contents(prompt, "prompt", 1))
        return JSONResponse({"embedding": res.vector.tolist()}, headers={"x-omniembed-model": services.profile.id})

    def model_entry(name: str) -> dict[str, Any]:
        p = services.profile
        tagged = name if ":" in name else f"{name}:latest"
        return {
            "name": tagged, "model": tagged, "modified_at": _MODIFIED, "size": 0,
            "digest": hashlib.sha256(f"{p.id}/{name}".encode()).hexdigest(),
            "details": {"parent_model": "", "format": "onnx", "family": "omniembed", "families": ["omniembed"],
                        "parameter_size": "", "quantization_level": ""},
        }

    @r.get("/api/tags", summary="Models (Ollama)")
    async def tags() -> dict:
        return {"models": [model_entry(n) for n in catalog.names]}

    @r.post("/api/show", summary="Model details (Ollama)")
    async def show(request: Request) -> dict:
        body = await read(request)
        name = _model_name(body)
        resolve(name)
        entry = model_entry(name.removesuffix(":latest"))
        return {"modelfile": "", "parameters": "", "template": "", "details": entry["details"],
                "model_info": {"general.architecture": "omniembed",
                               "omniembed.embedding_length": services.profile.native_dim},
                "capabilities": ["embedding"], "modified_at": _MODIFIED}

    @r.get("/api/version", summary="Version (Ollama)")
    async def version() -> dict:
        from .. import __version__

        return {"version": __version__}

    return r

"""The Gemini REST dialect (``/v1beta/…``): JSON ⇄ :class:`EmbedRequest`, and its routes.

Accepted exactly as Google's API and the real clients send it: camelCase and snake_case field names
(the google-genai SDK dumps parts with pydantic names: ``inline_data``/``mime_type``), standard and
URL-safe base64 with or without padding, ``taskType``/``title``/``outputDimensionality`` at the top of
a request or inside ``embedContentConfig`` (Vertex style), ``requests[].model`` missing or equal to the
URL's model. All parts of one content make ONE vector; each content/request its own, in order.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import TYPE_CHECKING, Any, Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..errors import MediaTooLarge
from ..types import Blob, Content, EmbeddingResult, EmbedRequest, FileData, Part, TaskType
from .batching import run_grouped
from .errors import ApiError, gemini_body, to_api_error
from .files import file_id_from_uri

if TYPE_CHECKING:
    from .app import Services

__all__ = ["RequestBudget", "parse_content", "parse_request", "parse_batch", "embedding_json", "create_router",
           "decode_base64", "make_job_processor"]

_URLSAFE = str.maketrans("-_", "+/")
_WS = re.compile(r"\s+")


class RequestBudget:
    """Limits one HTTP request: total parts, decoded inline bytes (the engine's Limits apply per part)."""

    def __init__(self, max_parts: int, max_inline_bytes: int):
        self.max_parts = max_parts
        self.max_inline_bytes = max_inline_bytes
        self.parts = 0

    def count_parts(self, n: int) -> None:
        self.parts += n
        if self.parts > self.max_parts:
            raise ApiError(400, f"more than {self.max_parts:,} parts in one request; split it (or use a batch job)")


def _pick(obj: dict, *names: str) -> Any:
    for n in names:
        v = obj.get(n)
        if v is not None:
            return v
    return None


def decode_base64(data: Any, where: str, max_bytes: int) -> bytes:
    """Standard or URL-safe base64, padded or not, whitespace tolerated; size checked before decoding."""
    if not isinstance(data, str):
        raise ApiError(400, f"{where}: data must be a base64 string")
    if len(data) // 4 * 3 > max_bytes + 3:
        raise MediaTooLarge(f"{where}: about {len(data) // 4 * 3:,} bytes inline; the limit is {max_bytes:,}")
    s = data
    if any(c.isspace() for c in s[:128]) or any(c.isspace() for c in s[-128:]) or "\n" in s:
        s = _WS.sub("", s)
    s = s.translate(_URLSAFE)
    pad = (-len(s)) % 4
    if pad == 3:
        raise ApiError(400, f"{where}: data is not valid base64 (bad length)")
    try:
        return base64.b64decode(s + "=" * pad, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"{where}: data is not valid base64") from None


def parse_part(obj: Any, where: str, budget: RequestBudget) -> Part:
    if isinstance(obj, str):
        return Part(text=obj)
    if not isinstance(obj, dict):
        raise ApiError(400, f"{where}: a part must be an object with text, inlineData or fileData")
    text = obj.get("text")
    inline = _pick(obj, "inlineData", "inline_data")
    fdata = _pick(obj, "fileData", "file_data")
    given = [k for k, v in (("text", text), ("inlineData", inline), ("fileData", fdata)) if v is not None]
    if len(given) != 1:
        if not given:
            other = ", ".join(sorted(k for k, v in obj.items() if v is not None)) or "nothing"
            raise ApiError(400, f"{where}: a part needs text, inlineData or fileData (got {other})")
        raise ApiError(400, f"{where}: a part holds exactly one of text, inlineData, fileData (got {', '.join(given)})")
    if text is not None:
        if not isinstance(text, str):
            raise ApiError(400, f"{where}.text must be a string")
        return Part(text=text)
    if inline is not None:
        if not isinstance(inline, dict):
            raise ApiError(400, f"{where}.inlineData must be an object")
        mime = _pick(inline, "mimeType", "mime_type")
        data = decode_base64(inline.get("data"), f"{where}.inlineData", budget.max_inline_bytes)
        return Part(inline_data=Blob(data=data, mime_type=mime if isinstance(mime, str) else None))
    if not isinstance(fdata, dict):
        raise ApiError(400, f"{where}.fileData must be an object")
    uri = _pick(fdata, "fileUri", "file_uri")
    if not isinstance(uri, str) or not uri:
        raise ApiError(400, f"{where}.fileData.fileUri is required")
    mime = _pick(fdata, "mimeType", "mime_type")
    return Part(file_data=FileData(file_uri=uri, mime_type=mime if isinstance(mime, str) else None))


def parse_content(obj: Any, where: str, budget: RequestBudget) -> Content:
    if isinstance(obj, str):  # lenient: a bare string is one text part
        budget.count_parts(1)
        return Content(parts=[Part(text=obj)])
    if not isinstance(obj, dict):
        raise ApiError(400, f"{where} must be an object with parts")
    parts = obj.get("parts")
    if not isinstance(parts, list) or not parts:
        raise ApiError(400, f"{where}.parts must be a non-empty list")
    budget.count_parts(len(parts))
    return Content(parts=[parse_part(p, f"{where}.parts[{i}]", budget) for i, p in enumerate(parts)],
                   role=obj.get("role") if isinstance(obj.get("role"), str) else None)


def _options(obj: dict) -> tuple[TaskType, int | None, str | None]:
    nested = _pick(obj, "embedContentConfig", "embed_content_config", "config")
    src = {**obj, **nested} if isinstance(nested, dict) else obj
    task = TaskType.parse(_pick(src, "taskType", "task_type"))
    dims = _pick(src, "outputDimensionality", "output_dimensionality")
    if isinstance(dims, str) and dims.strip().isdigit():
        dims = int(dims)
    elif isinstance(dims, float) and dims.is_integer():
        dims = int(dims)
    if dims is not None and (isinstance(dims, bool) or not isinstance(dims, int)):
        raise ApiError(400, f"outputDimensionality must be an integer, not {dims!r}")
    title = src.get("title")
    if title is not None and not isinstance(title, str):
        raise ApiError(400, "title must be a string")
    return task, dims, title or None


def _check_model(services: "Services", name: Any, url_model: str, where: str) -> None:
    if name is None:
        return
    if not isinstance(name, str):
        raise ApiError(400, f"{where}.model must be a string")
    if name.removeprefix("models/") != url_model.removeprefix("models/"):
        raise ApiError(400, f"{where}.model {name!r} differs from the model in the URL ({url_model!r})")


def parse_request(obj: Any, where: str, budget: RequestBudget) -> EmbedRequest:
    """One ``EmbedContentRequest`` object → EmbedRequest (one content)."""
    if not isinstance(obj, dict):
        raise ApiError(400, f"{where} must be an object")
    content = obj.get("content")
    if content is None:
        raise ApiError(400, f"{where}.content is required")
    task, dims, title = _options(obj)
    return EmbedRequest([parse_content(content, f"{where}.content", budget)], task_type=task,
                        output_dimensionality=dims, title=title)


def parse_batch(services: "Services", body: Any, url_model: str, budget: RequestBudget) -> list[EmbedRequest]:
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list) or not body["requests"]:
        raise ApiError(400, "requests must be a non-empty list")
    reqs = body["requests"]
    if len(reqs) > budget.max_parts:
        raise ApiError(400, f"{len(reqs):,} requests in one call; the limit is {budget.max_parts:,}")
    out = []
    for i, r in enumerate(reqs):
        if isinstance(r, dict):
            _check_model(services, r.get("model"), url_model, f"requests[{i}]")
        out.append(parse_request(r, f"requests[{i}]", budget))
    return out


def embedding_json(result: EmbeddingResult) -> dict:
    return {"values": result.vector.tolist()}


# --- async batch jobs ------------------------------------------------------------------------------
def make_job_processor(services: "Services") -> Callable[[list[dict]], list[dict]]:
    """The job runner's callback: stored request JSON → Gemini responses (or per-item errors)."""

    def process(items: list[dict]) -> list[dict]:
        out: list[dict | None] = [None] * len(items)
        reqs, where = [], []
        for i, item in enumerate(items):
            try:
                reqs.append(parse_request(item, "request", services.budget()))
                where.append(i)
            except Exception as exc:  # noqa: BLE001 - every item error is reported on the item
                out[i] = gemini_body(to_api_error(exc))
        for i, res in zip(where, run_grouped(services.engine.embed, reqs)):
            if isinstance(res, BaseException):
                out[i] = gemini_body(to_api_error(res))
            else:
                out[i] = {"response": {"embedding": embedding_json(res[0])}}
        return out  # type: ignore[return-value]

    return process


def _job_items(services: "Services", body: Any) -> tuple[str | None, list[dict], list[Any], str | None]:
    """``{"batch": {...}}`` → (display name, request dicts, per-item metadata, input file id)."""
    batch = body.get("batch") if isinstance(body, dict) else None
    if not isinstance(batch, dict):
        raise ApiError(400, "batch is required")
    name = _pick(batch, "displayName", "display_name")
    cfg = _pick(batch, "inputConfig", "input_config")
    if not isinstance(cfg, dict):
        raise ApiError(400, "batch.inputConfig is required")
    file_name = _pick(cfg, "fileName", "file_name")
    items: list[dict] = []
    metas: list[Any] = []
    if file_name is not None:
        fid = file_id_from_uri(str(file_name))
        rec = services.files.get(fid) if fid else None
        if rec is None:
            raise ApiError(404, f"input file {file_name!r} does not exist")
        with open(services.files.path_of(rec.id), "rb") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    raise ApiError(400, f"{file_name} line {n}: not JSON") from None
                if not isinstance(obj, dict) or not isinstance(obj.get("request"), dict):
                    raise ApiError(400, f"{file_name} line {n}: expected {{\"key\": …, \"request\": {{…}}}}")
                items.append(obj["request"])
                metas.append({"key": obj.get("key")} if obj.get("key") is not None else None)
        file_id = rec.id
    else:
        reqs = cfg.get("requests")
        reqs = reqs.get("requests") if isinstance(reqs, dict) else reqs
        if not isinstance(reqs, list) or not reqs:
            raise ApiError(400, "batch.inputConfig.requests.requests must be a non-empty list")
        for i, r in enumerate(reqs):
            if not isinstance(r, dict):
                raise ApiError(400, f"requests[{i}] must be an object")
            req = r.get("request", r)
            items.append(req)
            metas.append(r.get("metadata"))
        file_id = None
    for i, req in enumerate(items):  # validate now: a malformed job is a 400, not a failed job later
        parse_request(req, f"requests[{i}].request", services.budget())
    return (name if isinstance(name, str) else None), items, metas, file_id


# --- routes ----------------------------------------------------------------------------------------
def create_router(services: "Services") -> APIRouter:
    r = APIRouter()
    catalog = services.catalog

    def ok(payload: dict) -> JSONResponse:
        return JSONResponse(payload, headers={"x-omniembed-model": services.profile.id})

    @r.get("/v1beta/models")
    async def list_models() -> dict:
        return catalog.gemini_list()

    @r.get("/v1beta/models/{name}")
    async def get_model(name: str) -> dict:
        catalog.resolve(name)
        return catalog.gemini_model(name.removeprefix("models/"))

    @r.post("/v1beta/models/{spec}")
    async def model_method(spec: str, request: Request) -> Response:
        model, _, method = spec.rpartition(":")
        if not model:
            raise ApiError(404, f"unknown method {spec!r}; use :embedContent, :batchEmbedContents or "
                                ":asyncBatchEmbedContent")
        catalog.resolve(model)
        body = await services.read_json(request)
        if method == "embedContent":
            if isinstance(body, dict):
                _check_model(services, body.get("model"), model, "request")
            req = parse_request(body, "request", services.budget())
            res = await services.embed(req)
            services.metrics.count_contents("gemini", 1)
            return ok({"embedding": embedding_json(res[0])})
        if method == "batchEmbedContents":
            reqs = parse_batch(services, body, model, services.budget())
            results = await services.embed_many(reqs)
            services.metrics.count_contents("gemini", len(reqs))
            return ok({"embeddings": [embedding_json(rs[0]) for rs in results]})
        if method == "asyncBatchEmbedContent":
            name, items, metas, file_id = _job_items(services, body)
            job = services.jobs.create(model=f"models/{model.removeprefix('models/')}", display_name=name,
                                       items=items, metas=metas, input_file=file_id)
            return ok(services.jobs.resource(job, with_output=False))
        raise ApiError(404, f"unknown method {method!r}; this server embeds: :embedContent, :batchEmbedContents, "
                            ":asyncBatchEmbedContent")

    # --- batches ---------------------------------------------------------------------------
    @r.get("/v1beta/batches")
    async def list_batches(request: Request) -> dict:
        q = request.query_params
        jobs, nxt = services.jobs.list(int(q.get("pageSize") or q.get("page_size") or 50),
                                       q.get("pageToken") or q.get("page_token"))
        out: dict = {"operations": [services.jobs.resource(j, with_output=False) for j in jobs]}
        if nxt:
            out["nextPageToken"] = nxt
        return out

    @r.get("/v1beta/batches/{job_id}")
    async def get_batch(job_id: str) -> dict:
        return services.jobs.resource(services.jobs.get(job_id), with_output=True)

    @r.post("/v1beta/batches/{spec}")
    async def batch_method(spec: str) -> dict:
        job_id, _, method = spec.rpartition(":")
        if method != "cancel":
            raise ApiError(404, f"unknown batch method {method!r}")
        services.jobs.cancel(job_id)
        return {}

    @r.delete("/v1beta/batches/{job_id}")
    async def delete_batch(job_id: str) -> dict:
        services.jobs.delete(job_id)
        return {}

    return r


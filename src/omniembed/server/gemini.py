"""The Gemini REST dialect (``/v1beta/…``): its routes over :class:`~omniembed.server.services.Services`.

The JSON itself (contents, requests, responses, errors) is read and written by the codec
:mod:`omniembed.wire.gemini`, which ``Client`` and the framework adapters share; this module adds only
what needs the server: the routes, batch-job resources and the job processor.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..errors import RequestCancelled
from ..wire import gemini as codec
from ..wire.gemini import RequestBudget, decode_base64
from .errors import ApiError, gemini_body, to_api_error
from .files import file_id_from_uri
from .services import Services

__all__ = ["RequestBudget", "parse_content", "parse_request", "parse_batch", "create_router", "decode_base64",
           "job_processor"]

#: The codec's parsers under the names the server used before the codec existed.
parse_content = codec.content_from_json
parse_request = codec.request_from_json
parse_batch = codec.batch_from_json


# --- async batch jobs ------------------------------------------------------------------------------
def job_processor(services: Services) -> Callable[[list[dict]], list[dict]]:
    """The job thread's callback: stored request JSON → Gemini responses (or per-item errors).

    The items run through :meth:`Services.embed_each_blocking`: the same queue, lanes, warm-up wait and
    worker pool as live requests, grouped so one bad item fails only itself. A chunk stopped by shutdown
    or cancellation raises instead, so it stays pending and is recomputed after a restart."""

    def process(items: list[dict]) -> list[dict]:
        out: list[dict | None] = [None] * len(items)
        reqs, where = [], []
        for i, item in enumerate(items):
            try:
                reqs.append(parse_request(item, "request", services.budget()))
                where.append(i)
            except Exception as exc:  # noqa: BLE001 - every item error is reported on the item
                out[i] = gemini_body(to_api_error(exc))
        for i, res in zip(where, services.embed_each_blocking(reqs)):
            if isinstance(res, RequestCancelled) or (isinstance(res, ApiError) and res.http_status == 503):
                raise res  # not the item's fault: leave the chunk pending
            if isinstance(res, BaseException):
                out[i] = gemini_body(to_api_error(res))
            else:
                out[i] = {"response": codec.embed_response_to_json(res[0])}
        services.metrics.job_items.inc(len(items))
        return out  # type: ignore[return-value]

    return process


def _job_items(services: Services, body: Any) -> tuple[str | None, list[dict], list[Any], str | None]:
    """``{"batch": {...}}`` → (display name, request dicts, per-item metadata, input file id)."""
    batch = body.get("batch") if isinstance(body, dict) else None
    if not isinstance(batch, dict):
        raise ApiError(400, "batch is required")
    name = codec.pick(batch, "displayName", "display_name")
    cfg = codec.pick(batch, "inputConfig", "input_config")
    if not isinstance(cfg, dict):
        raise ApiError(400, "batch.inputConfig is required")
    file_name = codec.pick(cfg, "fileName", "file_name")
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
def create_router(services: Services) -> APIRouter:
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
                codec.check_model(body.get("model"), model, "request")
            req = parse_request(body, "request", services.budget())
            res = await services.embed(req)
            services.metrics.count_contents("gemini", 1)
            return ok(codec.embed_response_to_json(res[0]))
        if method == "batchEmbedContents":
            reqs = parse_batch(body, model, services.budget())
            results = await services.embed_many(reqs)
            services.metrics.count_contents("gemini", len(reqs))
            return ok(codec.batch_response_to_json([rs[0] for rs in results]))
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


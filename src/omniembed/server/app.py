"""The ASGI app: Gemini and OpenAI dialects over one engine, behind a micro-batching queue.

>>> from omniembed.server.app import ServerConfig, create_app
>>> app = create_app(ServerConfig(api_keys=("secret",)))      # then: uvicorn.run(app)

Layers (each imports only from those below it; see ``server/services.py``): this module is the
composition root — an ASGI middleware (request id, API key, body-size limit, access log, metrics), error
rendering in the dialect of the path (``/v1/…`` OpenAI, TEI's and Ollama's paths theirs, everything else
Gemini) and :func:`create_app`. The dialect routers (``gemini``, ``openai``, ``tei``, ``ollama``) translate
JSON into :class:`omniembed.types.EmbedRequest` (Gemini's through the codec :mod:`omniembed.wire.gemini`),
:class:`~omniembed.server.services.Services` queues it on the
:class:`~omniembed.server.batching.MicroBatcher`, and the router renders the results. Gemini requests sent
to Google's stable ``/v1`` (google-genai ≥ 3 does by default) are recognised (:func:`gemini_v1_alias`) and
served by the ``/v1beta`` routes.

Extending the app (the search page of ``omniembed serve --store`` does this): pass ``extra_routers``, each
a FastAPI ``APIRouter`` or a callable ``(services: Services) -> APIRouter``. Handlers reach the shared
engine through ``request.app.state.services`` (``await services.embed(EmbedRequest(...))`` goes through
the batching queue); API keys, size limits, logs and metrics apply to their routes too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from typing import Callable, Sequence, Union

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ..engine import Engine
from ..errors import OmniEmbedError
from . import files as files_api
from . import gemini, ollama, openai, tei
from .batching import MicroBatcher
from .errors import ApiError, dialect_of, error_body, to_api_error
from .files import upload_session_id
from .openapi import install as install_openapi
from .services import CALLER, RECEIVE, ServerConfig, Services, default_data_dir

__all__ = ["ServerConfig", "Services", "create_app", "RouterLike", "default_data_dir"]

log = logging.getLogger("omniembed.server")
access_log = logging.getLogger("omniembed.server.access")

RouterLike = Union[APIRouter, Callable[["Services"], APIRouter]]

_OPEN_PATHS = ("/healthz", "/readyz", "/metrics", "/health")

_GEMINI_ONLY_V1 = ("/v1/files", "/v1/batches", "/upload/v1/files", "/download/v1/files")


def gemini_v1_alias(path: str, headers: dict[str, str], query: bytes) -> str | None:
    """The ``/v1beta`` path a Gemini request sent to Google's stable ``/v1`` means, else None.

    ``/v1`` is shared with the OpenAI dialect. What only Gemini has goes to Gemini: model methods
    (``/v1/models/NAME:embedContent``, the colon), files, uploads and batches. ``/v1/models`` and
    ``/v1/models/NAME`` exist in both; they are Gemini's when the caller speaks Gemini (an
    ``x-goog-api-key`` or ``x-goog-api-client`` header, or ``?key=``), OpenAI's otherwise.
    """
    gemini_only = path.startswith(_GEMINI_ONLY_V1) or (path.startswith("/v1/models/") and ":" in path.rsplit("/", 1)[-1])
    shared = path == "/v1/models" or path.startswith("/v1/models/")
    speaks_gemini = "x-goog-api-key" in headers or "x-goog-api-client" in headers or any(
        p.startswith(b"key=") for p in query.split(b"&"))
    return path.replace("/v1/", "/v1beta/", 1) if gemini_only or (shared and speaks_gemini) else None


class _Guard:
    """Pure ASGI middleware: request id, API key, body-size limit, access log, metrics."""

    def __init__(self, app, services: Services):
        self.app = app
        self.services = services
        self.keys = {k for k in services.config.api_keys if k}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        path: str = scope.get("path", "")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        alias = gemini_v1_alias(path, headers, scope.get("query_string", b""))
        if alias:  # Gemini's stable /v1 (google-genai ≥ 3 calls it by default): served as /v1beta
            path = alias
            scope = dict(scope, path=alias, raw_path=alias.encode())
        method = scope.get("method", "GET")
        dialect = dialect_of(path, method)
        rid = headers.get("x-request-id") or uuid.uuid4().hex[:16]
        status_box = [0]
        limit = self.services.config.max_body_bytes
        body = _Body(receive, None if path.startswith("/upload/") else limit)
        receive = body.receive
        expects_continue = "100-continue" in headers.get("expect", "").lower()

        async def send_wrapped(message):
            if message["type"] == "http.response.start":
                if not body.done and not expects_continue:
                    # answering before the body is read (413, 401, …): read and discard it, up to a bound,
                    # so clients that send the whole body first (Python's urllib) see the answer, not a reset
                    await body.drain(_DRAIN_BYTES, _DRAIN_SECONDS)
                status_box[0] = message["status"]
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + [(b"x-request-id", rid.encode())]
            await send(message)

        try:
            if self.keys and path not in _OPEN_PATHS and not self._authorized(scope, headers) and not (
                # a resumable upload's URL carries an unguessable session id minted for an authorized
                # caller (as with Google's API, the SDK sends no key with the chunks): keyless only for
                # exactly one upload_id naming an open session, parsed as the route parses it
                path == "/upload/v1beta/files" and self._open_upload(scope)
            ):
                raise ApiError(401, "missing or invalid API key (send x-goog-api-key, ?key= or "
                                    "Authorization: Bearer)")
            if not path.startswith("/upload/"):
                clen = headers.get("content-length")
                if clen and clen.isdigit() and int(clen) > limit:
                    raise ApiError(413, f"the request body is {int(clen):,} bytes; the limit is {limit:,} "
                                        "(upload large media with the Files API and send fileData)")
            client = scope.get("client") or ("local", 0)
            # a quota is per API key when keys are required, per client address otherwise
            key = self._key(scope, headers) if self.keys else None
            CALLER.set(f"key {hash(key) & 0xFFFFFFFF:08x}" if key else f"client {client[0]}")
            RECEIVE.set(receive)
            await self.app(scope, receive, send_wrapped)
        except Exception as exc:  # auth, size, and anything a handler did not expect
            err = to_api_error(exc)
            if err.http_status >= 500 and not isinstance(exc, ApiError):
                log.exception("unhandled error on %s", path, exc_info=exc)
            if status_box[0]:  # the response already started: nothing sensible left to send
                return
            await _send_error(err, path, send_wrapped, method)
        finally:
            route = scope.get("route")
            route_path = getattr(route, "path", None) or ("unmatched" if status_box[0] == 404 else path)
            dt = time.perf_counter() - t0
            if path != "/metrics":
                self.services.metrics.observe_request(dialect, route_path, status_box[0], dt)
            access_log.info(json.dumps({
                "event": "request", "id": rid, "method": scope.get("method"), "path": path,
                "status": status_box[0], "ms": round(dt * 1000, 2), "dialect": dialect,
            }))

    def _open_upload(self, scope) -> bool:
        upload_id = upload_session_id(scope.get("query_string", b""))
        return upload_id is not None and self.services.files.has_session(upload_id)

    def _authorized(self, scope, headers: dict[str, str]) -> bool:
        return self._key(scope, headers) in self.keys

    def _key(self, scope, headers: dict[str, str]) -> str | None:
        cand = headers.get("x-goog-api-key")
        if not cand:
            auth = headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                cand = auth[7:].strip()
        if not cand:
            from urllib.parse import parse_qs

            cand = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("key") or [None])[0]
        return cand


#: A request answered before its body was read has up to this much of the body read and discarded
#: first (and for at most this long), so the client is reading when the answer comes.
_DRAIN_BYTES = 64 * 1024**2
_DRAIN_SECONDS = 30.0


class _Body:
    """The request body as the app reads it: counted against ``limit`` (413 beyond), and whether it was
    read to its end (so an early answer can drain what is left)."""

    def __init__(self, receive, limit: int | None):
        self._receive = receive
        self.limit = limit
        self.seen = 0
        self.done = False

    async def receive(self):
        message = await self._receive()
        self._note(message)
        if self.limit is not None and self.seen > self.limit:
            raise ApiError(413, f"the request body exceeds the limit of {self.limit:,} bytes")
        return message

    def _note(self, message) -> None:
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.done = True
        elif message["type"] == "http.disconnect":
            self.done = True

    async def drain(self, max_bytes: int, max_seconds: float) -> None:
        async def run():
            start = self.seen
            while not self.done and self.seen - start <= max_bytes:
                self._note(await self._receive())

        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(run(), max_seconds)


def _error_response(err: ApiError, path: str, method: str = "POST") -> JSONResponse:
    body = error_body(err, path, method)
    headers = dict(err.headers)
    if path.startswith("/upload/"):
        headers["x-goog-upload-status"] = "final"  # the SDK's upload loop stops and raises
    return JSONResponse(body, status_code=err.http_status, headers=headers)


async def _send_error(err: ApiError, path: str, send, method: str = "POST") -> None:
    resp = _error_response(err, path, method)
    await resp({"type": "http"}, _no_receive, send)


async def _no_receive():  # pragma: no cover - a response never reads
    return {"type": "http.disconnect"}


def create_app(
    config: ServerConfig | None = None,
    *,
    engine: Engine | None = None,
    extra_routers: Sequence[RouterLike] = (),
) -> FastAPI:
    """Build the app. ``engine`` lets tests and embedders share an already-loaded engine;
    ``extra_routers`` adds routes (APIRouter, or ``services -> APIRouter``) under the same guards."""
    config = config or ServerConfig()
    services = Services(config, engine)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        services.batcher = MicroBatcher(services._run, config.batching, run_heavy=services._run_heavy,
                                        on_batch=services.metrics.observe_batch)
        if services.workers is not None:  # spawn the worker processes now, off the event loop
            threading.Thread(target=services.workers.start, name="omniembed-workers", daemon=True).start()
        services.metrics.bind(lambda: services.batcher.queue_depth if services.batcher else 0,
                              lambda: services.batcher.busy_workers if services.batcher else 0,
                              lambda: 1.0 if services.ready.is_set() and not services.warm_error else 0.0)
        if config.warm:
            threading.Thread(target=services.warm_up, name="omniembed-warm", daemon=True).start()
        else:
            services.ready.set()
        services.loop = asyncio.get_running_loop()
        if config.run_jobs:  # batch-job items go through the same queue, lanes and workers as live requests
            services.jobs.start(gemini.job_processor(services))
        log.info(json.dumps({"event": "start", "profile": services.profile.id, "data_dir": str(config.data_dir),
                             "auth": bool(config.api_keys), "batching": config.batching.__dict__}))
        try:
            yield
        finally:
            log.info(json.dumps({"event": "stopping", "queued": services.batcher.queue_depth}))
            # the job thread first: its chunk in progress still needs the queue (unfinished jobs resume)
            await asyncio.get_running_loop().run_in_executor(None, services.jobs.stop)
            await services.batcher.close()  # finish queued and in-flight work
            services.batcher = None
            if services.workers is not None:
                await asyncio.get_running_loop().run_in_executor(None, services.workers.close)
            log.info(json.dumps({"event": "stopped"}))

    app = FastAPI(
        title="omniembed",
        summary="Multimodal embeddings over the Gemini and OpenAI wire formats",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.services = services

    @app.exception_handler(ApiError)
    @app.exception_handler(OmniEmbedError)
    async def _api_error(request: Request, exc: Exception) -> JSONResponse:
        return _error_response(to_api_error(exc), request.url.path, request.method)

    from starlette.exceptions import HTTPException as StarletteHTTPException
    from fastapi.exceptions import RequestValidationError

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        msg = {404: f"no such endpoint: {request.method} {request.url.path}",
               405: f"method {request.method} is not allowed on {request.url.path}"}.get(exc.status_code,
                                                                                       str(exc.detail))
        return _error_response(ApiError(exc.status_code, msg), request.url.path, request.method)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error_response(ApiError(400, f"invalid request: {exc.errors()[:3]}"), request.url.path,
                               request.method)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        if services.warm_error:
            return JSONResponse({"status": "error", "error": services.warm_error}, status_code=503)
        if not services.ready.is_set():
            return JSONResponse({"status": "loading", "profile": services.profile.id}, status_code=503)
        return JSONResponse({"status": "ready", "profile": services.profile.id,
                             "dimensions": services.profile.native_dim})

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(services.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    app.include_router(gemini.create_router(services))
    app.include_router(openai.create_router(services))
    app.include_router(files_api.create_router(services.files))
    # other servers' wire formats: their clients switch by changing a URL
    app.include_router(tei.create_router(services))
    app.include_router(ollama.create_router(services))
    for extra in extra_routers:
        app.include_router(extra if isinstance(extra, APIRouter) else extra(services))

    install_openapi(app, auth=bool(config.api_keys), open_paths=_OPEN_PATHS)  # schemas and the API-key scheme
    app.add_middleware(_Guard, services=services)
    return app

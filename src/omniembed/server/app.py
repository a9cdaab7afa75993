"""The ASGI app: Gemini and OpenAI dialects over one engine, behind a micro-batching queue.

>>> from omniembed.server.app import ServerConfig, create_app
>>> app = create_app(ServerConfig(api_keys=("secret",)))      # then: uvicorn.run(app)

Layers: a request enters an ASGI middleware (request id, API key, body-size limit, access log,
metrics), a dialect router translates its JSON into :class:`omniembed.types.EmbedRequest`, the
:class:`~omniembed.server.batching.MicroBatcher` merges concurrent requests and runs the synchronous
engine in worker threads, and the router renders the results in its dialect. Errors from any layer are
rendered in the dialect of the path (``/v1/…`` OpenAI, everything else Gemini). Gemini requests sent to
Google's stable ``/v1`` (google-genai ≥ 3 does by default) are recognised (:func:`gemini_v1_alias`) and
served by the ``/v1beta`` routes.

Extending the app (the search page of ``omniembed serve --store`` does this): pass ``extra_routers``, each
a FastAPI ``APIRouter`` or a callable ``(services: Services) -> APIRouter``. Handlers reach the shared
engine through ``request.app.state.services`` (``await services.embed(EmbedRequest(...))`` goes through
the batching queue); API keys, size limits, logs and metrics apply to their routes too.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence, Union

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ..budget import DEFAULT_COST_MODEL, Budget, CancelToken, text_cost
from ..engine import Engine
from ..errors import OmniEmbedError
from ..media.source import Limits
from ..space import Profile
from ..types import EmbeddingResult, EmbedRequest, TaskType
from .batching import BatchingConfig, MicroBatcher
from .catalog import ModelCatalog
from .errors import ApiError, dialect_of, error_body, to_api_error
from .files import FileStore, ServerFileResolver
from .jobs import JobStore
from .metrics import Metrics
from .quota import KeyQuota

if TYPE_CHECKING:
    from .gemini import RequestBudget

__all__ = ["ServerConfig", "Services", "create_app", "RouterLike"]

log = logging.getLogger("omniembed.server")
access_log = logging.getLogger("omniembed.server.access")

RouterLike = Union[APIRouter, Callable[["Services"], APIRouter]]

_OPEN_PATHS = ("/healthz", "/readyz", "/metrics", "/health")

#: Set by the ASGI guard for the handler's task: who is calling (API key, or client address without
#: keys) and the ASGI ``receive`` (to notice a client that goes away while its request is computed).
_CALLER: contextvars.ContextVar[str] = contextvars.ContextVar("omniembed_caller", default="anonymous")
_RECEIVE: contextvars.ContextVar[Any] = contextvars.ContextVar("omniembed_receive", default=None)
_HOW_TO_RAISE = "raise it with omniembed serve --max-request-cpu-s, or send the work as an async batch job"
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


def default_data_dir() -> Path:
    import os

    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "omniembed" / "server"


@dataclass
class ServerConfig:
    """Everything ``omniembed serve`` can set. The defaults are safe on a laptop."""

    profile: str = "lite"
    api_keys: tuple[str, ...] = ()  # empty: no authentication (bind to 127.0.0.1 then)
    data_dir: Path = field(default_factory=default_data_dir)  # uploaded files and batch jobs (SQLite)
    store: Path | None = None  # an index store for the search page (omniembed serve --store)
    allow_file_roots: tuple[Path, ...] = ()  # local folders fileData may read; default: none
    model_aliases: tuple[str, ...] = ()  # extra names answered by the profile, e.g. gemini-embedding-2
    max_body_bytes: int = 64 * 1024**2  # JSON request bodies → 413 beyond
    max_upload_bytes: int = 2 * 1024**3  # one uploaded file
    max_parts: int = 2048  # parts (and requests) in one HTTP request → 400 beyond
    limits: Limits = field(default_factory=Limits)  # decoded sizes, pixels, pages, durations per part
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    job_chunk_size: int = 16  # batch-job items per engine call (and per committed transaction)
    asr_options: dict[str, Any] = field(default_factory=dict)  # speech recognition, e.g. {"languages": ["en", "de"]}
    speech_model: str | None = None  # a faster-whisper directory instead of Whisper base (hearing.py)
    sound_model: str | None = None  # a CLAP export directory: sound tags; the profile gets its own id
    run_jobs: bool = True
    warm: bool = True  # load the text encoder at startup, in the background
    max_request_cpu_s: float = 3600.0  # estimated CPU seconds one request may cost → 413 beyond (0: no limit)
    key_cpu_per_minute: float = 0.0  # estimated CPU seconds per API key per minute → 429 beyond (0: no limit)
    isolate: bool = True  # heavy requests (media, long text) run in worker processes with hard limits
    worker_timeout_s: float = 600.0  # one request inside a worker → killed, 400 beyond
    worker_memory_bytes: int = 3 * 1024**3  # resident memory of one worker → killed, 413 beyond
    worker_nice: int = 10  # CPU priority of workers below the server's (short requests stay fast)


def _audio_models(profile: Profile, config: ServerConfig) -> dict:
    """Worker engine kwargs for the audio models: a spawned worker rebuilds the profile from the base
    profile's id plus the model directories (a lite+CLAP id is only registered in this process)."""
    if not (config.speech_model or config.sound_model):
        return {}
    from ..hearing import base_profile_id

    return {"profile": base_profile_id(profile.id), "speech_model": config.speech_model, "sound_model": config.sound_model}


class Services:
    """What handlers share: config, engine, batcher, files, jobs, metrics. ``app.state.services``."""

    def __init__(self, config: ServerConfig, engine: Engine | None = None):
        self.config = config
        data = Path(config.data_dir).expanduser()
        data.mkdir(parents=True, exist_ok=True)
        self.files = FileStore(data / "files", max_bytes=config.max_upload_bytes, limits=config.limits)
        self.resolver = ServerFileResolver(self.files, config.allow_file_roots)
        self.engine = engine or Engine(config.profile, limits=config.limits, file_resolver=self.resolver,
                                       asr_options=config.asr_options, speech_model=config.speech_model,
                                       sound_model=config.sound_model)
        self.engine.file_resolver = self.resolver  # whoever built the engine, fileData goes through us
        self.profile: Profile = self.engine.profile
        self.catalog = ModelCatalog(self.profile, tuple(config.model_aliases), config.limits)
        self.jobs = JobStore(data / "jobs.sqlite3", self.files, chunk_size=config.job_chunk_size)
        self.metrics = Metrics()
        self.quota = KeyQuota(config.key_cpu_per_minute)
        self.workers = None
        if config.isolate:
            from ..workers import WorkerLimits, WorkerPool

            self.workers = WorkerPool(
                {**dict(profile=self.profile.id, limits=config.limits, asr_options=config.asr_options),
                 **_audio_models(self.profile, config)},
                size=config.batching.workers,
                limits=WorkerLimits(time_s=config.worker_timeout_s, memory_bytes=config.worker_memory_bytes,
                                   nice=config.worker_nice),
            )
        self._callers: dict[int, str] = {}  # id(request) → caller, for heavy requests in flight
        self.batcher: MicroBatcher | None = None
        self.ready = threading.Event()
        self.warm_error: str | None = None

    # --- embedding ------------------------------------------------------------------------------
    def _budget(self, caller: str | None = None) -> Budget:
        on_charge = (lambda s: self.quota.debit(caller, s)) if caller and self.quota.enabled else None
        return Budget(self.config.max_request_cpu_s, how_to_raise=_HOW_TO_RAISE, on_charge=on_charge)

    def _run(self, request: EmbedRequest, cancel: CancelToken | None = None) -> list[EmbeddingResult]:
        """The light lane: short text, in this process. Each request was checked against the per-request
        limit and debited from its caller's quota when it was queued; a merged batch is not re-checked."""
        if not self.ready.is_set() and self.config.warm:
            self.ready.wait(600)  # the warm-up thread is loading the encoder: do not load it twice
        return self.engine.embed(request, cancel=cancel)

    def _run_heavy(self, request: EmbedRequest, cancel: CancelToken) -> list[EmbeddingResult]:
        """The heavy lane: media and long text, in a worker process with hard limits (or here without)."""
        budget = self._budget(self._callers.pop(id(request), None))
        if self.workers is None:
            return self.engine.embed(request, cancel=cancel, budget=budget)
        # fileData is resolved (and access-checked) here; the worker only opens what we resolved
        sources = {p.file_data.file_uri: self.resolver(p.file_data, self.config.limits)
                   for c in request.contents for p in c.parts if p.file_data is not None}
        try:
            return self.workers.run(request, cancel, sources=sources, budget=budget)
        finally:
            self.metrics.worker_restarts.set(self.workers.restarts)

    async def embed(self, request: EmbedRequest, timeout: float | None = None) -> list[EmbeddingResult]:
        """Embed through the batching queue (one result per content, in order).

        Before queueing: the text's estimated cost is checked against the per-request limit (413) and the
        caller's quota (429). While waiting: a client that disconnects cancels the work."""
        if self.batcher is None:
            raise ApiError(503, "the server is starting or stopping", headers={"Retry-After": "2"})
        caller = _CALLER.get()
        cost = text_cost(request)
        self._budget().charge(cost, "the request's text")  # 413 now, before it is queued
        estimate = DEFAULT_COST_MODEL.seconds(cost)
        self.quota.check(caller, estimate)
        if self.batcher.is_heavy(request):
            self._callers[id(request)] = caller  # debited as the worker charges it
        else:
            self.quota.debit(caller, estimate)
        gone = asyncio.Event()
        watcher = _watch_disconnect(_RECEIVE.get(), gone)
        try:
            return await self.batcher.submit(request, timeout, disconnected=gone)
        except ApiError as exc:
            if exc.http_status in (499, 504):
                self.metrics.cancelled.inc()
            raise
        finally:
            self._callers.pop(id(request), None)
            if watcher is not None:
                watcher.cancel()

    async def embed_many(self, requests: list[EmbedRequest]) -> list[list[EmbeddingResult]]:
        """Several requests, possibly with different options; requests sharing options are queued as one."""
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            key = (TaskType.parse(r.task_type), r.output_dimensionality, r.title)
            groups.setdefault(key, []).append(i)
        merged = [
            EmbedRequest([c for i in idxs for c in requests[i].contents], task_type=key[0],
                         output_dimensionality=key[1], title=key[2])
            for key, idxs in groups.items()
        ]
        results = await asyncio.gather(*(self.embed(m) for m in merged))
        out: list[list[EmbeddingResult]] = [[] for _ in requests]
        for idxs, res in zip(groups.values(), results):
            pos = 0
            for i in idxs:
                n = len(requests[i].contents)
                out[i] = res[pos : pos + n]
                pos += n
        return out

    def budget(self) -> "RequestBudget":
        """A fresh per-HTTP-request budget (parts count, inline bytes)."""
        from .gemini import RequestBudget

        return RequestBudget(self.config.max_parts, self.config.limits.max_inline_bytes)

    async def read_json(self, request: Request) -> Any:
        body = await request.body()
        if not body.strip():
            raise ApiError(400, "the request body is empty; send JSON")
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise ApiError(400, f"malformed JSON: {exc}") from None

    # --- lifecycle ------------------------------------------------------------------------------
    def warm_up(self) -> None:
        try:
            t0 = time.perf_counter()
            self.engine.embed(_warm_request())
            log.info(json.dumps({"event": "ready", "profile": self.profile.id,
                                 "load_s": round(time.perf_counter() - t0, 3)}))
        except Exception as exc:  # noqa: BLE001 - reported by /readyz
            self.warm_error = f"{type(exc).__name__}: {exc}"
            log.exception("warm-up failed")
        finally:
            self.ready.set()


def _watch_disconnect(receive, gone: asyncio.Event) -> asyncio.Task | None:
    """Set ``gone`` when the client disconnects (the request body has been read by then, so the next ASGI
    message is ``http.disconnect``, or nothing until the response is sent)."""
    if receive is None:
        return None

    async def watch():
        try:
            for _ in range(4):  # the body is read: only a disconnect (or the response's end) comes next
                msg = await receive()
                if msg.get("type") == "http.disconnect":
                    gone.set()
                    return
        except Exception:  # noqa: BLE001 - a transport that cannot tell: never cancel on its account
            return

    return asyncio.get_running_loop().create_task(watch())


def _warm_request() -> EmbedRequest:
    from ..types import Content, Part

    return EmbedRequest([Content(parts=[Part(text="warm up")])])


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
            _CALLER.set(f"key {hash(key) & 0xFFFFFFFF:08x}" if key else f"client {client[0]}")
            _RECEIVE.set(receive)
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
        from .files import upload_session_id

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
        if config.run_jobs:
            from .gemini import make_job_processor

            process = make_job_processor(services)

            def counted(items: list[dict]) -> list[dict]:
                out = process(items)
                services.metrics.job_items.inc(len(items))
                return out

            services.jobs.start(counted)
        log.info(json.dumps({"event": "start", "profile": services.profile.id, "data_dir": str(config.data_dir),
                             "auth": bool(config.api_keys), "batching": config.batching.__dict__}))
        try:
            yield
        finally:
            log.info(json.dumps({"event": "stopping", "queued": services.batcher.queue_depth}))
            await services.batcher.close()  # finish queued and in-flight work
            services.batcher = None
            if services.workers is not None:
                await asyncio.get_running_loop().run_in_executor(None, services.workers.close)
            await asyncio.get_running_loop().run_in_executor(None, services.jobs.stop)
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

    from . import files as files_mod
    from . import gemini, openai

    app.include_router(gemini.create_router(services))
    app.include_router(openai.create_router(services))
    app.include_router(files_mod.create_router(services))
    from . import ollama, tei  # other servers' wire formats: their clients switch by changing a URL

    app.include_router(tei.create_router(services))
    app.include_router(ollama.create_router(services))
    for extra in extra_routers:
        app.include_router(extra if isinstance(extra, APIRouter) else extra(services))

    from .openapi import install as _openapi  # published request/response schemas and the API-key scheme

    _openapi(app, auth=bool(config.api_keys), open_paths=_OPEN_PATHS)
    app.add_middleware(_Guard, services=services)
    return app

"""What every route shares: the server's configuration and :class:`Services` (engine, batching queue,
files, jobs, metrics, quota, worker pool), the per-request budgets, and body reading.

The server's layers point down only (``tests/test_import_cycles.py`` fails on a cycle)::

    app.py            composition root: ASGI guard (keys, body size, logs, metrics), error rendering, create_app
      gemini.py · openai.py · tei.py · ollama.py · search_ui.py      dialects: JSON ⇄ EmbedRequest, routes
        services.py   config, Services (embed / embed_many / batch-job items), budgets, body reading
          batching.py · jobs.py · files.py · quota.py · metrics.py · catalog.py · errors.py
            omniembed.wire.gemini (the Gemini codec), the engine

Live requests and batch-job items take the same way: :meth:`Services.embed` → the batching queue's light
or heavy lane (warm-up wait, worker pool, cancellation). Batch-job items differ only in policy: no
per-request CPU ceiling and no per-key quota (a job is how a caller goes past them), no deadline (a job
is resumable), and they are grouped with :func:`~omniembed.server.batching.run_grouped` so one bad item
fails only itself.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request

from ..budget import DEFAULT_COST_MODEL, Budget, CancelToken, text_cost
from ..engine import Engine
from ..media.source import Limits
from ..space import Profile
from ..types import Content, EmbeddingResult, EmbedRequest, Part
from ..wire.gemini import RequestBudget
from .batching import BatchingConfig, MicroBatcher, group_requests, merge_requests, run_grouped, split_results
from .catalog import ModelCatalog
from .errors import ApiError
from .files import DEFAULT_MAX_STORED_BYTES, DEFAULT_TTL_S, FileStore, ServerFileResolver
from .jobs import JobStore
from .metrics import Metrics
from .quota import KeyQuota

__all__ = ["ServerConfig", "Services", "default_data_dir", "CALLER", "RECEIVE", "RequestBudget"]

log = logging.getLogger("omniembed.server")

#: Set by the ASGI guard for the handler's task: who is calling (API key, or client address without
#: keys) and the ASGI ``receive`` (to notice a client that goes away while its request is computed).
CALLER: contextvars.ContextVar[str] = contextvars.ContextVar("omniembed_caller", default="anonymous")
RECEIVE: contextvars.ContextVar[Any] = contextvars.ContextVar("omniembed_receive", default=None)
_HOW_TO_RAISE = "raise it with omniembed serve --max-request-cpu-s, or send the work as an async batch job"


def default_data_dir() -> Path:
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
    max_stored_bytes: int = DEFAULT_MAX_STORED_BYTES  # all uploaded files together → 413 beyond (0: no limit)
    file_ttl_s: float = DEFAULT_TTL_S  # an uploaded file is deleted after this (0: kept until deleted)
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


@dataclass(frozen=True)
class _Owner:
    """Whose a heavy request is, read by the worker lane when it builds the request's budget."""

    caller: str | None  # debited from this key's quota as the worker charges it (None: nobody's)
    limited: bool = True  # the per-request CPU ceiling applies (not to batch-job items)


def _worker_engine_args(profile: Profile, config: ServerConfig) -> dict:
    """How a spawned worker rebuilds the server's profile: its reference (a registered name or a model
    directory), or, with audio models, the configured base profile plus the model directories (a
    lite+CLAP id is only registered in this process)."""
    if not (config.speech_model or config.sound_model):
        return {"profile": profile.ref}
    return {"profile": config.profile, "speech_model": config.speech_model, "sound_model": config.sound_model}


class Services:
    """What handlers share: config, engine, batcher, files, jobs, metrics. ``app.state.services``."""

    def __init__(self, config: ServerConfig, engine: Engine | None = None):
        self.config = config
        data = Path(config.data_dir).expanduser()
        data.mkdir(parents=True, exist_ok=True)
        self.files = FileStore(data / "files", max_bytes=config.max_upload_bytes, limits=config.limits,
                               ttl_s=config.file_ttl_s, max_stored_bytes=config.max_stored_bytes)
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
                dict(limits=config.limits, asr_options=config.asr_options,
                     **_worker_engine_args(self.profile, config)),
                size=config.batching.workers,
                limits=WorkerLimits(time_s=config.worker_timeout_s, memory_bytes=config.worker_memory_bytes,
                                   nice=config.worker_nice),
            )
        self._owners: dict[int, _Owner] = {}  # id(request) → owner, for heavy requests in flight
        self.batcher: MicroBatcher | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the app's loop (batch jobs submit to it)
        self.ready = threading.Event()
        self.warm_error: str | None = None

    # --- the lanes (run by the batcher's threads) ------------------------------------------------
    def _budget(self, owner: _Owner | None = None) -> Budget:
        caller = owner.caller if owner else None
        on_charge = (lambda s: self.quota.debit(caller, s)) if caller and self.quota.enabled else None
        limit = self.config.max_request_cpu_s if owner is None or owner.limited else 0.0
        return Budget(limit, how_to_raise=_HOW_TO_RAISE, on_charge=on_charge)

    def _run(self, request: EmbedRequest, cancel: CancelToken | None = None) -> list[EmbeddingResult]:
        """The light lane: short text, in this process. Each request was checked against the per-request
        limit and debited from its caller's quota when it was queued; a merged batch is not re-checked."""
        if not self.ready.is_set() and self.config.warm:
            self.ready.wait(600)  # the warm-up thread is loading the encoder: do not load it twice
        return self.engine.embed(request, cancel=cancel)

    def _run_heavy(self, request: EmbedRequest, cancel: CancelToken) -> list[EmbeddingResult]:
        """The heavy lane: media and long text, in a worker process with hard limits (or here without)."""
        budget = self._budget(self._owners.pop(id(request), None))
        if self.workers is None:
            return self.engine.embed(request, cancel=cancel, budget=budget)
        # fileData is resolved (and access-checked) here; the worker only opens what we resolved
        sources = {p.file_data.file_uri: self.resolver(p.file_data, self.config.limits)
                   for c in request.contents for p in c.parts if p.file_data is not None}
        try:
            return self.workers.run(request, cancel, sources=sources, budget=budget)
        finally:
            self.metrics.worker_restarts.set(self.workers.restarts)

    # --- embedding ------------------------------------------------------------------------------
    async def embed(self, request: EmbedRequest, timeout: float | None = None, *,
                    background: bool = False) -> list[EmbeddingResult]:
        """Embed through the batching queue (one result per content, in order).

        Before queueing: the text's estimated cost is checked against the per-request limit (413) and the
        caller's quota (429). While waiting: a client that disconnects cancels the work.
        ``background=True`` (batch-job items): none of these, and no deadline."""
        if self.batcher is None:
            raise ApiError(503, "the server is starting or stopping", headers={"Retry-After": "2"})
        if background:
            self._owners[id(request)] = _Owner(None, limited=False)
            try:
                return await self.batcher.submit(request, math.inf)
            finally:
                self._owners.pop(id(request), None)
        caller = CALLER.get()
        cost = text_cost(request)
        self._budget().charge(cost, "the request's text")  # 413 now, before it is queued
        estimate = DEFAULT_COST_MODEL.seconds(cost)
        self.quota.check(caller, estimate)
        if self.batcher.is_heavy(request):
            self._owners[id(request)] = _Owner(caller)  # debited as the worker charges it
        else:
            self.quota.debit(caller, estimate)
        gone = asyncio.Event()
        watcher = _watch_disconnect(RECEIVE.get(), gone)
        try:
            return await self.batcher.submit(request, timeout, disconnected=gone)
        except ApiError as exc:
            if exc.http_status in (499, 504):
                self.metrics.cancelled.inc()
            raise
        finally:
            self._owners.pop(id(request), None)
            if watcher is not None:
                watcher.cancel()

    async def embed_many(self, requests: list[EmbedRequest]) -> list[list[EmbeddingResult]]:
        """Several requests of one HTTP call, possibly with different options: each group of requests
        sharing options is queued as one request (:func:`~omniembed.server.batching.group_requests`), so a
        bulk call is one unit of work (a large one takes the heavy lane and leaves short queries alone)."""
        groups = group_requests(requests)
        results = await asyncio.gather(*(self.embed(merge_requests(requests, idxs)) for idxs in groups))
        out: list[list[EmbeddingResult]] = [[] for _ in requests]
        for idxs, res in zip(groups, results):
            for i, part in zip(idxs, split_results(res, requests, idxs)):
                out[i] = part
        return out

    def embed_each_blocking(self, requests: list[EmbedRequest]) -> list[list[EmbeddingResult] | BaseException]:
        """Batch-job items, from the job thread: grouped like a light batch (one bad item fails only
        itself), each group queued on the app's loop as a background request. Blocks until done."""
        loop = self.loop
        if loop is None or loop.is_closed():
            raise ApiError(503, "the server is starting or stopping")

        def run(request: EmbedRequest) -> list[EmbeddingResult]:
            return asyncio.run_coroutine_threadsafe(self.embed(request, background=True), loop).result()

        return run_grouped(run, requests)

    def budget(self) -> RequestBudget:
        """A fresh per-HTTP-request budget (parts count, inline bytes)."""
        return RequestBudget(self.config.max_parts, self.config.limits.max_inline_bytes)

    async def read_json(self, request: Request) -> Any:
        """The body as JSON (400 when empty or malformed); the guard has already bounded its size."""
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
            self.engine.embed(EmbedRequest([Content(parts=[Part(text="warm up")])]))
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

"""Dynamic (micro-)batching in front of the synchronous engine.

Requests from concurrent HTTP calls wait in one bounded queue. A dispatcher hands the queue to a small
pool of worker threads: whenever a worker is free it takes everything queued (up to ``max_batch_size``
contents, waiting at most ``max_wait_ms`` for more to arrive), merges the contents that share the same
options — (task type, output size, title) — into ONE :class:`EmbedRequest`, runs the engine once per
group, and splits the results back to the callers in order.

Why this shape:

* An idle server adds no wait: with ``max_wait_ms=0`` (the default) a lone request is dispatched at
  once; batches form by themselves while the workers are busy, which is exactly when they help.
* Text-only batches all need the one text encoder, so at most one is in flight: while it runs, text
  requests queue up and leave together as the next, larger batch. Media batches (decoding, OCR, ASR)
  use every worker, so their slow extraction overlaps.
* A bounded queue turns overload into an immediate 429 / ``RESOURCE_EXHAUSTED`` instead of unbounded
  memory and latency. Its ``Retry-After`` is the time the measured throughput needs to make room
  (:class:`~omniembed.server.throughput.ThroughputMeter`), not a constant.
* One caller's bad input never fails its batch-mates: when a merged call raises, each request of the
  group is re-run alone so the error lands on the request that caused it.
* Per-request timeouts answer 504 / ``DEADLINE_EXCEEDED``; a request that times out before it was
  dispatched is dropped from its batch.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from ..errors import OmniEmbedError
from ..types import EmbeddingResult, EmbedRequest
from .errors import ApiError
from .throughput import ThroughputMeter

__all__ = ["BatchingConfig", "MicroBatcher", "run_grouped"]

log = logging.getLogger("omniembed.server")


@dataclass(frozen=True)
class BatchingConfig:
    """Knobs of the batching queue (``omniembed serve --help`` shows them as options)."""

    max_batch_size: int = 32  # contents merged into one engine call
    max_wait_ms: float = 0.0  # extra wait for batch-mates once a worker is free (0: greedy, no added latency)
    max_queue: int = 4096  # contents waiting for a worker; beyond this → 429
    workers: int = 2  # engine calls in flight (media decoding / OCR overlap with text encoding)
    request_timeout_s: float = 600.0  # per HTTP request → 504


@dataclass
class _Item:
    request: EmbedRequest
    future: asyncio.Future
    size: int
    enqueued: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    """Queue + dispatcher + worker pool. Create inside a running event loop (the app's lifespan)."""

    def __init__(
        self,
        run: Callable[[EmbedRequest], list[EmbeddingResult]],
        config: BatchingConfig = BatchingConfig(),
        *,
        on_batch: Callable[[int, int, float], None] | None = None,
    ):
        self._run_engine = run
        self.config = config
        self._on_batch = on_batch  # (contents, requests, seconds in the engine) → metrics
        self._queue: collections.deque[_Item] = collections.deque()
        self._queued_contents = 0
        self._nonempty = asyncio.Event()
        self._slots = asyncio.Semaphore(max(1, config.workers))
        self._pool = ThreadPoolExecutor(max_workers=max(1, config.workers), thread_name_prefix="omniembed-engine")
        self._inflight: set[asyncio.Task] = set()
        self._text_busy = 0  # text-only batches in flight
        self._text_idle = asyncio.Event()
        self._text_idle.set()
        self._closing = False
        self.throughput = ThroughputMeter()  # finished contents per second → Retry-After of a 429
        self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch())

    # ------------------------------------------------------------------------------------------
    @property
    def queue_depth(self) -> int:
        """Contents waiting for a worker."""
        return self._queued_contents

    @property
    def busy_workers(self) -> int:
        return len(self._inflight)

    async def submit(self, request: EmbedRequest, timeout: float | None = None) -> list[EmbeddingResult]:
        """Queue a request and wait for its results (one per content, in order)."""
        if self._closing:
            raise ApiError(503, "the server is shutting down")
        size = len(request.contents)
        if self._queued_contents and self._queued_contents + size > self.config.max_queue:
            wait = self.throughput.retry_after(self._queued_contents + size - self.config.max_queue)
            raise ApiError(
                429,
                f"the embedding queue is full ({self._queued_contents:,} contents waiting, limit "
                f"{self.config.max_queue:,}); retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        fut = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(request, fut, size))
        self._queued_contents += size
        self._nonempty.set()
        timeout = self.config.request_timeout_s if timeout is None else timeout
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            fut.cancel()
            raise ApiError(504, f"the request did not finish within {timeout:g} s") from None
        except asyncio.CancelledError:  # the client went away: do not compute for nobody
            fut.cancel()
            raise

    def run_sync(self, request: EmbedRequest) -> list[EmbeddingResult]:
        """Run the engine directly in the caller's thread (for background jobs, bypassing the queue)."""
        return self._run_engine(request)

    async def close(self) -> None:
        """Finish everything queued and in flight, then stop the workers."""
        self._closing = True
        while self._queue or self._inflight:
            self._nonempty.set()
            await asyncio.sleep(0.01)
        self._dispatcher.cancel()
        try:
            await self._dispatcher
        except asyncio.CancelledError:
            pass
        self._pool.shutdown(wait=True)

    # ------------------------------------------------------------------------------------------
    async def _take(self) -> _Item:
        while not self._queue:
            self._nonempty.clear()
            await self._nonempty.wait()
        item = self._queue.popleft()
        self._queued_contents -= item.size
        return item

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        max_wait = self.config.max_wait_ms / 1000.0
        while True:
            await self._slots.acquire()
            while not self._queue:
                self._nonempty.clear()
                await self._nonempty.wait()
            if self._text_busy and _text_only(self._queue[0].request):
                # Text batches all wait on the one text encoder: a second one now would only hold a
                # small batch. Let the queue grow until the running text batch is done.
                await self._text_idle.wait()
            first = await self._take()
            batch, size = [first], first.size
            deadline = loop.time() + max_wait
            while size < self.config.max_batch_size:
                if not self._queue:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    self._nonempty.clear()
                    try:
                        await asyncio.wait_for(self._nonempty.wait(), remaining)
                    except asyncio.TimeoutError:
                        break
                    continue
                if size + self._queue[0].size > self.config.max_batch_size:
                    break  # it goes into the next batch
                item = await self._take()
                batch.append(item)
                size += item.size
            text_only = all(_text_only(it.request) for it in batch)
            if text_only:
                self._text_busy += 1
                self._text_idle.clear()
            task = loop.create_task(self._run_batch(batch, text_only))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _run_batch(self, batch: list[_Item], text_only: bool = False) -> None:
        try:
            live = [it for it in batch if not it.future.done()]
            if not live:
                return
            loop = asyncio.get_running_loop()
            t0 = time.perf_counter()
            outcomes = await loop.run_in_executor(self._pool, self._work, [it.request for it in live])
            spent = time.perf_counter() - t0
            self.throughput.observe(sum(it.size for it in live), spent)
            if self._on_batch is not None:
                self._on_batch(sum(it.size for it in live), len(live), spent)
            for it, out in zip(live, outcomes):
                if it.future.done():
                    continue
                if isinstance(out, BaseException):
                    it.future.set_exception(out)
                else:
                    it.future.set_result(out)
        except BaseException as exc:  # never leave a caller waiting forever
            for it in batch:
                if not it.future.done():
                    it.future.set_exception(exc if isinstance(exc, Exception) else ApiError(500, "worker stopped"))
            if not isinstance(exc, Exception):
                raise
            log.exception("batch failed")
        finally:
            if text_only:
                self._text_busy -= 1
                if not self._text_busy:
                    self._text_idle.set()
            self._slots.release()

    def _work(self, requests: list[EmbedRequest]) -> list[list[EmbeddingResult] | BaseException]:
        return run_grouped(self._run_engine, requests)


def _text_only(request: EmbedRequest) -> bool:
    return all(p.text is not None for c in request.contents for p in c.parts)


def run_grouped(
    run: Callable[[EmbedRequest], list[EmbeddingResult]], requests: list[EmbedRequest]
) -> list[list[EmbeddingResult] | BaseException]:
    """Run requests as few engine calls as possible: one per (task type, output size, title) group.

    Returns, per request, its results or the exception it caused: when a merged call fails, each request
    of that group is re-run alone so one caller's bad input never fails the others.
    """
    outcomes: list[list[EmbeddingResult] | BaseException | None] = [None] * len(requests)
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(requests):
        key = (getattr(r.task_type, "value", r.task_type), r.output_dimensionality, r.title)
        groups.setdefault(key, []).append(i)
    for idxs in groups.values():
        first = requests[idxs[0]]
        if len(idxs) > 1:
            merged = EmbedRequest(
                contents=[c for i in idxs for c in requests[i].contents],
                task_type=first.task_type,
                output_dimensionality=first.output_dimensionality,
                title=first.title,
            )
            try:
                results = run(merged)
            except Exception:
                pass  # someone's bad input: fall through and run each alone
            else:
                pos = 0
                for i in idxs:
                    n = len(requests[i].contents)
                    outcomes[i] = results[pos : pos + n]
                    pos += n
                continue
        for i in idxs:
            outcomes[i] = _safe(run, requests[i])
    return outcomes  # type: ignore[return-value]


def _safe(run: Callable[[EmbedRequest], list[EmbeddingResult]], request: EmbedRequest):
    try:
        return run(request)
    except OmniEmbedError as exc:
        return exc
    except Exception as exc:
        log.exception("engine error")
        return exc

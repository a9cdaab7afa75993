"""Dynamic (micro-)batching and fair scheduling in front of the synchronous engine.

Requests from concurrent HTTP calls wait in one of two bounded lanes, chosen by their estimated cost
before any work starts (``is_heavy``, by default: media, or more than ``light_max_tokens`` of text):

* **Light lane** (short text): one batch in flight at a time. When it is free, the dispatcher takes
  everything queued (up to ``max_batch_size`` contents, waiting at most ``max_wait_ms`` for more),
  merges the contents that share options — (task type, output size, title) — into ONE
  :class:`EmbedRequest`, runs the engine once per group and splits the results back in order.
* **Heavy lane** (long text, PDFs, images, audio, video): up to ``workers`` requests in flight, each run
  alone (the server runs them in low-priority worker processes, ``omniembed/workers.py``), so a long
  request never sits in front of a short one and never holds the light lane.

Why this shape (measured, 2 cores): one 512-token chunk takes 1–3 s in the encoder and a one-word query
8 ms, so a short request queued behind even ONE unit of a long one waits 100× its own latency. Before
this split, text ran one batch at a time and a 140 KB text held every short request for minutes.

* An idle server adds no wait: with ``max_wait_ms=0`` (the default) a lone request is dispatched at
  once; batches form by themselves while the lane is busy, which is exactly when they help.
* A bounded queue turns overload into an immediate 429 / ``RESOURCE_EXHAUSTED`` instead of unbounded
  memory and latency. Its ``Retry-After`` is the time the measured throughput needs to make room
  (:class:`~omniembed.server.throughput.ThroughputMeter`), not a constant.
* One caller's bad input never fails its batch-mates: when a merged call raises, each request of the
  group is re-run alone so the error lands on the request that caused it.
* Every request carries a :class:`~omniembed.budget.CancelToken`. A timeout answers 504 /
  ``DEADLINE_EXCEEDED`` and cancels the token, as does a client that goes away; the engine stops at the
  next unit boundary and the slot is free again. A request cancelled before dispatch never runs.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
import math
from typing import Callable, Sequence

from ..budget import CancelToken, estimate_text_tokens
from ..errors import InvalidInput, OmniEmbedError, RequestCancelled
from ..types import EmbeddingResult, EmbedRequest, TaskType
from .errors import ApiError
from .throughput import ThroughputMeter

__all__ = ["BatchingConfig", "MicroBatcher", "run_grouped", "group_requests", "merge_requests", "split_results",
           "is_heavy_request"]

log = logging.getLogger("omniembed.server")

#: ``run(request, cancel)``: the engine call a lane makes.
Runner = Callable[[EmbedRequest, CancelToken], list[EmbeddingResult]]


@dataclass(frozen=True)
class BatchingConfig:
    """Knobs of the batching queue (``omniembed serve --help`` shows them as options)."""

    max_batch_size: int = 32  # contents merged into one engine call
    max_wait_ms: float = 0.0  # extra wait for batch-mates once a worker is free (0: greedy, no added latency)
    max_queue: int = 4096  # contents waiting for a worker; beyond this → 429
    workers: int = 2  # heavy requests in flight (long text and media), besides the light lane
    request_timeout_s: float = 600.0  # per HTTP request → 504, and the work is cancelled
    light_max_tokens: int = 512  # estimated text tokens of a request still served by the light lane


def is_heavy_request(request: EmbedRequest, light_max_tokens: int = 512) -> bool:
    """Media, or more estimated text tokens than one encoder window: the heavy lane."""
    tokens = 0
    for c in request.contents:
        for p in c.parts:
            if p.text is None:
                return True
            tokens += estimate_text_tokens(p.text)
            if tokens > light_max_tokens:
                return True
    return False


@dataclass
class _Item:
    request: EmbedRequest
    future: asyncio.Future
    size: int
    token: CancelToken
    enqueued: float = field(default_factory=time.perf_counter)


class _AllCancelled:
    """The cancel flag of a merged batch: set once every request in it is cancelled."""

    def __init__(self, items: list[_Item]):
        self.items = items

    def is_set(self) -> bool:
        return all(it.token.cancelled or it.future.done() for it in self.items)


class MicroBatcher:
    """Two lanes + dispatchers + a thread pool. Create inside a running event loop (the app's lifespan).

    ``run(request, cancel)`` serves the light lane (in this process); ``run_heavy(request, cancel)`` the
    heavy lane (default: ``run``). ``is_heavy(request)`` picks the lane (default :func:`is_heavy_request`).
    """

    def __init__(
        self,
        run: Runner,
        config: BatchingConfig = BatchingConfig(),
        *,
        run_heavy: Runner | None = None,
        is_heavy: Callable[[EmbedRequest], bool] | None = None,
        on_batch: Callable[[int, int, float], None] | None = None,
    ):
        self._run_engine = run
        self._run_heavy = run_heavy or run
        self.config = config
        self.is_heavy = is_heavy or (lambda r: is_heavy_request(r, config.light_max_tokens))
        self._on_batch = on_batch  # (contents, requests, seconds in the engine) → metrics
        self._light: collections.deque[_Item] = collections.deque()
        self._heavy: collections.deque[_Item] = collections.deque()
        self._queued_contents = 0
        self._light_ready = asyncio.Event()
        self._heavy_ready = asyncio.Event()
        self._heavy_slots = asyncio.Semaphore(max(1, config.workers))
        self._pool = ThreadPoolExecutor(max_workers=max(1, config.workers) + 1, thread_name_prefix="omniembed-engine")
        self._inflight: set[asyncio.Task] = set()
        self._closing = False
        self.throughput = ThroughputMeter()  # finished contents per second → Retry-After of a 429
        self.cancelled = 0  # requests whose work was stopped (timeout or client gone)
        loop = asyncio.get_running_loop()
        self._dispatchers = [loop.create_task(self._dispatch_light()), loop.create_task(self._dispatch_heavy())]

    # ------------------------------------------------------------------------------------------
    @property
    def queue_depth(self) -> int:
        """Contents waiting for a worker."""
        return self._queued_contents

    @property
    def busy_workers(self) -> int:
        return len(self._inflight)

    async def submit(self, request: EmbedRequest, timeout: float | None = None, *,
                     disconnected: asyncio.Event | None = None) -> list[EmbeddingResult]:
        """Queue a request and wait for its results (one per content, in order).

        ``disconnected`` (set by the transport when the client goes away) cancels the work as a timeout
        does: at the next unit boundary, or before it starts. ``timeout=math.inf``: no deadline (batch-job
        items, which are resumable and have no caller waiting on a socket).
        """
        if self._closing:
            raise ApiError(503, "the server is shutting down")
        size = len(request.contents)
        if self._queued_contents and self._queued_contents + size > self.config.max_queue:
            wait = self.throughput.retry_after(self._queued_contents + size - self.config.max_queue)
            raise ApiError(
                429,
                f"the embedding queue is full ({self._queued_contents:,} contents waiting, limit "
                f"{self.config.max_queue:,}; omniembed serve --max-queue); retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        timeout = self.config.request_timeout_s if timeout is None else timeout
        wait_s = None if math.isinf(timeout) else timeout
        token = CancelToken.with_timeout(wait_s)
        fut = asyncio.get_running_loop().create_future()
        item = _Item(request, fut, size, token)
        if self.is_heavy(request):
            self._heavy.append(item)
            self._heavy_ready.set()
        else:
            self._light.append(item)
            self._light_ready.set()
        self._queued_contents += size
        waiters = [asyncio.ensure_future(asyncio.shield(fut))]
        if disconnected is not None:
            waiters.append(asyncio.ensure_future(disconnected.wait()))
        try:
            done, _ = await asyncio.wait(waiters, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the handler was cancelled: do not compute for nobody
            self._cancel(item, "the client went away")
            raise
        finally:
            for w in waiters[1:]:
                w.cancel()
        if waiters[0] in done:  # read the shield's outcome: an error left unread on it is logged at exit
            return waiters[0].result()
        waiters[0].cancel()
        if not done:
            self._cancel(item, f"no result within the {timeout:g} s timeout")
            raise ApiError(504, f"the request did not finish within {timeout:g} s and was stopped "
                                "(omniembed serve --timeout)")
        self._cancel(item, "the client went away")
        raise ApiError(499, "the client closed the connection; the request was cancelled")

    def _cancel(self, item: _Item, reason: str) -> None:
        item.token.cancel(reason)
        if not item.future.done():
            item.future.cancel()
        self.cancelled += 1

    async def close(self) -> None:
        """Finish everything queued and in flight, then stop the workers."""
        self._closing = True
        while self._light or self._heavy or self._inflight:
            self._light_ready.set()
            self._heavy_ready.set()
            await asyncio.sleep(0.01)
        for d in self._dispatchers:
            d.cancel()
        for d in self._dispatchers:
            try:
                await d
            except asyncio.CancelledError:
                pass
        self._pool.shutdown(wait=True)

    # ------------------------------------------------------------------------------------------
    async def _take(self, lane: collections.deque, ready: asyncio.Event) -> _Item:
        while not lane:
            ready.clear()
            await ready.wait()
        item = lane.popleft()
        self._queued_contents -= item.size
        return item

    def _start(self, batch: list[_Item], runner: Runner, release: Callable[[], None]) -> None:
        task = asyncio.get_running_loop().create_task(self._run_batch(batch, runner, release))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _dispatch_heavy(self) -> None:
        while True:
            await self._heavy_slots.acquire()
            item = await self._take(self._heavy, self._heavy_ready)
            self._start([item], self._run_heavy, self._heavy_slots.release)

    async def _dispatch_light(self) -> None:
        loop = asyncio.get_running_loop()
        max_wait = self.config.max_wait_ms / 1000.0
        idle = asyncio.Event()
        while True:
            first = await self._take(self._light, self._light_ready)
            batch, size = [first], first.size
            deadline = loop.time() + max_wait
            while size < self.config.max_batch_size:
                if not self._light:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    self._light_ready.clear()
                    try:
                        await asyncio.wait_for(self._light_ready.wait(), remaining)
                    except asyncio.TimeoutError:
                        break
                    continue
                if size + self._light[0].size > self.config.max_batch_size:
                    break  # it goes into the next batch
                item = await self._take(self._light, self._light_ready)
                batch.append(item)
                size += item.size
            idle.clear()
            self._start(batch, self._run_engine, idle.set)
            # One light batch in flight: they all need the one text encoder, so a second one now would only
            # hold a small batch. The queue grows meanwhile and leaves as the next, larger batch.
            await idle.wait()

    async def _run_batch(self, batch: list[_Item], runner: Runner, release: Callable[[], None]) -> None:
        try:
            live = [it for it in batch if not it.future.done()]
            if not live:
                return
            loop = asyncio.get_running_loop()
            t0 = time.perf_counter()
            token = live[0].token if len(live) == 1 else CancelToken(flag=_AllCancelled(live))
            outcomes = await loop.run_in_executor(self._pool, self._work, runner, [it.request for it in live], token)
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
            release()

    @staticmethod
    def _work(runner: Runner, requests: list[EmbedRequest], token: CancelToken):
        return run_grouped(lambda r: runner(r, token), requests)


def group_requests(requests: Sequence[EmbedRequest]) -> list[list[int]]:
    """Indexes of the requests that may share one engine call: same (task type, output size, title, fine).

    The ONE grouping rule of the server: the light lane's batches (:func:`run_grouped`) and a multi-request
    HTTP call (``Services.embed_many``) both group with it, and merge / split with :func:`merge_requests`
    and :func:`split_results`."""
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(requests):
        key = (_task_key(r.task_type), r.output_dimensionality, r.title, r.fine)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _task_key(task: object) -> object:
    try:
        return TaskType.parse(task)  # type: ignore[arg-type]
    except InvalidInput:  # the engine reports it, on the request that carries it
        return task


def merge_requests(requests: Sequence[EmbedRequest], idxs: Sequence[int]) -> EmbedRequest:
    """One request holding the contents of ``requests[i]`` for ``i`` in ``idxs`` (one group), in order."""
    first = requests[idxs[0]]
    return EmbedRequest(contents=[c for i in idxs for c in requests[i].contents], task_type=first.task_type,
                        output_dimensionality=first.output_dimensionality, title=first.title, fine=first.fine)


def split_results(results: Sequence[EmbeddingResult], requests: Sequence[EmbedRequest],
                  idxs: Sequence[int]) -> list[list[EmbeddingResult]]:
    """The merged call's results back per request of the group (one result per content, in order)."""
    out, pos = [], 0
    for i in idxs:
        n = len(requests[i].contents)
        out.append(list(results[pos : pos + n]))
        pos += n
    return out


def run_grouped(
    run: Callable[[EmbedRequest], list[EmbeddingResult]], requests: list[EmbedRequest]
) -> list[list[EmbeddingResult] | BaseException]:
    """Run requests as few engine calls as possible: one per :func:`group_requests` group.

    Returns, per request, its results or the exception it caused: when a merged call fails, each request
    of that group is re-run alone so one caller's bad input never fails the others.
    """
    outcomes: list[list[EmbeddingResult] | BaseException | None] = [None] * len(requests)
    for idxs in group_requests(requests):
        if len(idxs) > 1:
            try:
                results = run(merge_requests(requests, idxs))
            except RequestCancelled as exc:  # nobody waits for this group any more: do not re-run it
                for i in idxs:
                    outcomes[i] = exc
                continue
            except Exception:
                pass  # someone's bad input: fall through and run each alone
            else:
                for i, res in zip(idxs, split_results(results, requests, idxs)):
                    outcomes[i] = res
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

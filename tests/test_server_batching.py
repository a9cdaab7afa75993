"""The micro-batching queue, in process, around a real engine on the dummy profile (no model: the queue is
the point, not the vectors): merging, error attribution,
429 on a full queue, 504 on timeouts, and the order of results."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from omniembed.server.batching import BatchingConfig, MicroBatcher
from omniembed.server.errors import ApiError
from omniembed.types import Content, EmbedRequest, Part, TaskType


def _req(*texts: str, task=TaskType.RETRIEVAL_DOCUMENT, dims=None) -> EmbedRequest:
    return EmbedRequest([Content(parts=[Part(text=t)]) for t in texts], task_type=task, output_dimensionality=dims)


class Recorder:
    """The real engine, recording how many contents each call carried (and optionally slowed down)."""

    def __init__(self, engine, delay: float = 0.0):
        self.engine = engine
        self.delay = delay
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, request: EmbedRequest, cancel=None):
        with self.lock:
            self.calls.append(len(request.contents))
        if self.delay:
            time.sleep(self.delay)
        return self.engine.embed(request, cancel=cancel)


def test_concurrent_requests_merge_by_options_and_keep_order(dummy_embedder):
    rec = Recorder(dummy_embedder.engine, delay=0.2)  # the first call holds the worker while the rest queue up

    async def main():
        b = MicroBatcher(rec, BatchingConfig(max_batch_size=64, workers=1))
        texts = [f"sentence number {i} about the sea" for i in range(12)]
        jobs = [b.submit(_req(t)) for t in texts]
        jobs.append(b.submit(_req("a query about the sea", task=TaskType.RETRIEVAL_QUERY, dims=128)))
        out = await asyncio.gather(*jobs)
        await b.close()
        return texts, out

    texts, out = asyncio.run(main())
    ref = dummy_embedder.embed(texts)
    for res, want in zip(out[:12], ref):
        assert len(res) == 1 and float(res[0].vector @ want) > 0.999
    assert out[12][0].vector.shape == (128,)
    assert len(rec.calls) < 13 and max(rec.calls) >= 2  # requests were merged into fewer engine calls
    assert sum(rec.calls) == 13


def test_bad_request_fails_alone(dummy_embedder):
    rec = Recorder(dummy_embedder.engine, delay=0.2)

    async def main():
        b = MicroBatcher(rec, BatchingConfig(workers=1))
        good = [b.submit(_req(f"good text {i}")) for i in range(3)]
        bad = b.submit(_req("   "))  # empty after cleaning: InvalidInput
        res = await asyncio.gather(*good, bad, return_exceptions=True)
        await b.close()
        return res

    res = asyncio.run(main())
    assert all(isinstance(r, list) and r[0].vector.shape == (384,) for r in res[:3])
    assert res[3].__class__.__name__ == "InvalidInput"


def test_full_queue_is_429_and_timeout_is_504(dummy_embedder):
    rec = Recorder(dummy_embedder.engine, delay=0.5)

    async def main():
        b = MicroBatcher(rec, BatchingConfig(workers=1, max_queue=3, max_batch_size=1))
        first = asyncio.ensure_future(b.submit(_req("occupies the worker")))
        await asyncio.sleep(0.05)
        queued = [asyncio.ensure_future(b.submit(_req(f"queued {i}"))) for i in range(3)]
        await asyncio.sleep(0.01)
        with pytest.raises(ApiError) as full:
            await b.submit(_req("one too many"))
        await asyncio.gather(first, *queued)
        busy = asyncio.ensure_future(b.submit(_req("busy again")))
        await asyncio.sleep(0.05)
        with pytest.raises(ApiError) as late:
            await b.submit(_req("too slow"), timeout=0.05)
        await busy
        await b.close()
        return full.value, late.value

    full, late = asyncio.run(main())
    assert full.http_status == 429 and late.http_status == 504
    assert len(rec.calls) == 5  # the timed-out request was dropped before it ran


def test_close_finishes_queued_work(dummy_embedder):
    rec = Recorder(dummy_embedder.engine, delay=0.05)

    async def main():
        b = MicroBatcher(rec, BatchingConfig(workers=1, max_batch_size=2))
        futs = [asyncio.ensure_future(b.submit(_req(f"text {i}"))) for i in range(6)]
        await asyncio.sleep(0.01)
        await b.close()
        assert all(f.done() for f in futs)
        with pytest.raises(ApiError) as closed:
            await b.submit(_req("after close"))
        return [f.result() for f in futs], closed.value

    results, closed = asyncio.run(main())
    assert len(results) == 6 and closed.http_status == 503
    assert np.allclose(results[0][0].vector, dummy_embedder.embed("text 0")[0], atol=1e-4)

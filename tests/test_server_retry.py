"""Overload, the way clients meet it: ``Retry-After`` from the backlog and the measured throughput, and
clients that wait it out — omniembed's adapters (one connection pool, tenacity) and google-genai with its
own retry options — against a real ``omniembed serve`` whose queue is tiny."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from google import genai
from google.genai import types

from omniembed.integrations._backend import retry_after_seconds
from omniembed.integrations.langchain import OmniEmbedEmbeddings
from omniembed.server.throughput import ThroughputMeter

from server_harness import SLOW_ENV, ServerProcess

KEY = "retry-key"
LONG = " ".join(["The committee reviewed the quarterly budget, the travel policy and the hiring plan."] * 4)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # the dummy profile, slowed to ~0.5 s per request of 4 contents (what e5 takes): the queue fills
    with ServerProcess(tmp_path_factory.mktemp("busy"), "--api-key", KEY, "--workers", "1", "--max-queue", "4",
                       "--max-batch-size", "4", dummy=True, env={SLOW_ENV: "0.002"}) as srv:
        yield srv


def _texts(tag: str, n: int = 4) -> list[str]:
    return [f"{tag} {i} {LONG}" for i in range(n)]


def test_meter_turns_backlog_and_measured_rate_into_seconds():
    now = [100.0]
    m = ThroughputMeter(window_s=60, clock=lambda: now[0])
    assert m.rate() is None and m.retry_after(1000) == m.unknown_s  # nothing measured yet
    for _ in range(5):  # one worker: 10 contents every 2 s → 5 contents/s
        now[0] += 2.0
        m.observe(10, 2.0)
    assert m.rate() == pytest.approx(5.0)
    assert m.retry_after(100) == 20 and m.retry_after(3) == 1  # ceil(backlog / rate), at least 1 s
    assert m.retry_after(10**9) == m.max_s
    now[0] += 120  # old batches leave the window; the last one still tells the rate
    assert m.rate() == pytest.approx(5.0)
    m.observe(40, 2.0)  # a faster batch (text merged into one encoder call)
    assert m.retry_after(100) == 5


def test_retry_after_header_forms():
    assert retry_after_seconds("7") == 7.0 and retry_after_seconds("0.5") == 0.5
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: go now


def _flood(server, n: int = 12) -> list[httpx.Response]:
    async def go():
        async with httpx.AsyncClient(base_url=server.url, timeout=300, headers={"x-goog-api-key": KEY}) as c:
            body = lambda i: {"requests": [{"content": {"parts": [{"text": t}]}} for t in _texts(f"flood{i}")]}  # noqa: E731
            return await asyncio.gather(*(c.post("/v1beta/models/omniembed-lite:batchEmbedContents",
                                                 json=body(i)) for i in range(n)))
    return asyncio.run(go())


def test_a_full_queue_says_how_long_to_wait(server):
    codes = [r.status_code for r in _flood(server)]
    assert 429 in codes and 200 in codes
    limited = [r for r in _flood(server) if r.status_code == 429]
    for r in limited:
        wait = int(r.headers["retry-after"])
        assert 1 <= wait <= 300 and r.json()["error"]["status"] == "RESOURCE_EXHAUSTED"


def test_langchain_adapter_waits_out_429_over_one_connection_pool(server, dummy_embedder):
    lc = OmniEmbedEmbeddings(base_url=server.url, api_key=KEY)
    batches = [_texts(f"worker{i}") for i in range(6)]
    with ThreadPoolExecutor(6) as pool:  # 6 callers × 4 contents against a queue of 4
        results = list(pool.map(lc.embed_documents, batches))
    assert [len(r) for r in results] == [4] * 6
    ref = dummy_embedder.embed(batches[3])
    assert all(float(np.dot(a, b)) > 0.999 for a, b in zip(results[3], ref))
    assert lc.backend.retries > 0  # some calls met a 429 and came back after Retry-After
    client = lc.backend.client
    lc.embed_query("one more")
    assert lc.backend.client is client  # the same pool, call after call

    async def concurrent():
        return await asyncio.gather(*(lc.aembed_documents(b) for b in batches))

    assert [len(r) for r in asyncio.run(concurrent())] == [4] * 6


def test_google_genai_with_its_retry_options_gets_through(server):
    """google-genai does not retry by default; with ``HttpRetryOptions`` it backs off on 429 (it does not
    read Retry-After, so its own delays apply)."""
    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(
        base_url=server.url, retry_options=types.HttpRetryOptions(attempts=10, initial_delay=0.5, max_delay=8)))

    def one(i: int):
        return client.models.embed_content(model="omniembed-lite", contents=_texts(f"genai{i}"))

    with ThreadPoolExecutor(6) as pool:
        out = list(pool.map(one, range(6)))
    assert [len(r.embeddings) for r in out] == [4] * 6

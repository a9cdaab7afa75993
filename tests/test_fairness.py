"""Compute budgets and fairness (issue 11): cancellation at unit boundaries, short requests never queued
behind long ones, cost limits (413) and per-key quotas (429), and isolated workers that are killed and
replaced when a decoder hangs or balloons.

None of these tests depends on how fast the machine is: they assert order (the short request finished
while the long one was still held), counts (units of work after a cancel) and outcomes, never latency.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from omniembed.budget import Budget, CancelToken, Cost, estimate_text_tokens
from omniembed.errors import CostLimitExceeded, RequestCancelled
from omniembed.server.batching import BatchingConfig, MicroBatcher
from omniembed.server.errors import ApiError
from omniembed.types import Content, EmbedRequest, Part
from omniembed.workers import TEST_HOOK_ENV

from server_harness import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
LONG = " ".join(f"Sentence {i} says that the compressor needs oil every {i % 7 + 2} weeks." for i in range(900))


def _req(text: str) -> EmbedRequest:
    return EmbedRequest([Content(parts=[Part(text=text)])])


class _CancelAfter(CancelToken):
    """Cancels itself when the engine asks to start unit ``n + 1``."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def check(self) -> None:
        if self.units >= self.n and not self.flag.is_set():
            self.cancel("test")
        super().check()


def test_engine_stops_at_the_next_unit_boundary(dummy_embedder):
    """The dummy profile: the engine's units and cancel checks are the point, not e5's vectors."""
    token = _CancelAfter(2)
    with pytest.raises(RequestCancelled):
        dummy_embedder.engine.embed(_req(LONG), cancel=token)
    assert token.units == 2  # two units ran; the third never started
    assert token.units_at_cancel == 2


def test_budget_refuses_before_work_and_says_how_to_raise(embedder):
    budget = Budget(max_seconds=1.0, how_to_raise="omniembed serve --max-request-cpu-s")
    token = CancelToken()
    with pytest.raises(CostLimitExceeded) as exc:
        embedder.engine.embed(_req(LONG), cancel=token, budget=budget)
    assert "--max-request-cpu-s" in str(exc.value) and "tokens" in str(exc.value)
    assert exc.value.http_status == 413 and token.units == 0  # nothing was computed
    assert estimate_text_tokens("😀" * 100) == 101 and 20 < estimate_text_tokens("hello there " * 10) < 60
    assert Budget(10.0).model.seconds(Cost(pages=10)) > 5


def test_short_request_is_not_queued_behind_a_long_one(dummy_embedder):
    """The heavy lane holds a long request (blocked until the test releases it): a short one submitted
    after it must still complete. Before issue 11, text ran one batch at a time and this deadlocked.
    The dummy profile: the lanes are the point (the order is forced by the test, not by timing)."""
    embedder = dummy_embedder
    release = threading.Event()
    order: list[str] = []

    def heavy(request, cancel):
        release.wait(120)
        order.append("long")
        return embedder.engine.embed(request, cancel=cancel)

    def light(request, cancel):
        out = embedder.engine.embed(request, cancel=cancel)
        order.append("short")
        return out

    async def main():
        b = MicroBatcher(light, BatchingConfig(workers=1), run_heavy=heavy)
        long = asyncio.ensure_future(b.submit(_req(LONG[:3000])))
        await asyncio.sleep(0)
        short = await asyncio.wait_for(b.submit(_req("a short query")), 120)
        release.set()
        await long
        await b.close()
        return short

    short = asyncio.run(main())
    assert short[0].vector.shape == (384,) and order == ["short", "long"]


def test_timeout_cancels_the_work_and_frees_the_slot(embedder):
    tokens: list[CancelToken] = []
    raised: list[BaseException] = []

    def heavy(request, cancel):
        tokens.append(cancel)
        try:
            return embedder.engine.embed(request, cancel=cancel)
        except BaseException as exc:
            raised.append(exc)
            raise

    async def main():
        b = MicroBatcher(heavy, BatchingConfig(workers=1), run_heavy=heavy)
        with pytest.raises(ApiError) as late:
            await b.submit(_req(LONG * 2), timeout=0.5)  # ~25 units of work; far more than 0.5 s anywhere
        while b.busy_workers:  # the slot is freed once the engine reaches its next unit boundary
            await asyncio.sleep(0.05)
        after = await b.submit(_req(LONG[:2000]), timeout=600)  # the one heavy slot serves again
        await b.close()
        return late.value, after

    late, after = asyncio.run(main())
    assert late.http_status == 504 and "--timeout" in late.message
    assert isinstance(raised[0], RequestCancelled)
    t = tokens[0]
    assert t.units_at_cancel is not None and t.units - t.units_at_cancel <= 1  # stopped within one unit
    assert after[0].vector.shape == (384,)


# --- the real server (on the dummy profile: the workers, limits and decoders are the point) --------
def _inline(data: bytes, mime: str = "text/plain") -> dict:
    return {"content": {"parts": [{"inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode()}}]}}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    os.environ[TEST_HOOK_ENV] = "1"  # inherited by the server and its workers
    # --worker-timeout: each hanging decoder below waits it out (the clock starts when a worker takes the
    # request, after its start-up); the real work here (dummy texts, a 3-page text PDF) takes well under
    # a second. 6 s instead of 20 s: ~14 s less per hang, and the hung worker is gone sooner at teardown.
    try:
        srv = ServerProcess(tmp_path_factory.mktemp("fair"), "--worker-timeout", "6", "--worker-memory-mb", "900",
                            "--max-request-cpu-s", "5", "--timeout", "300", "--workers", "1", dummy=True).start()
    finally:
        del os.environ[TEST_HOOK_ENV]
    yield srv
    srv.stop()


URL = "/v1beta/models/omniembed-lite-1:embedContent"


def _restarts(srv) -> float:
    for line in httpx.get(srv.url + "/metrics").text.splitlines():
        if line.startswith("omniembed_worker_restarts "):
            return float(line.split()[1])
    return 0.0


def test_hanging_decoder_is_killed_and_the_server_answers_the_next_request(server):
    before = _restarts(server)
    r = httpx.post(server.url + URL, json=_inline(b"OMNIEMBED-TEST-HANG in a text file"), timeout=120)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["status"] == "INVALID_ARGUMENT" and "--worker-timeout" in err["message"]
    assert _restarts(server) == before + 1
    ok = httpx.post(server.url + URL, json=_inline(b"the manual of the compressor, first chapter"), timeout=120)
    assert ok.status_code == 200 and len(ok.json()["embedding"]["values"]) == 384
    assert httpx.post(server.url + URL, json={"content": {"parts": [{"text": "hi"}]}}, timeout=60).status_code == 200


def test_batch_job_items_run_in_the_worker_pool(server):
    """A job item whose decoder hangs is killed by --worker-timeout like a live request (batch jobs once
    called the engine in the server's own job thread: no worker, no limit, the job thread hung)."""
    # the hanging item has options of its own, so it is not merged with the others (a failed merged call is
    # re-run item by item, which would hang it twice)
    items = [{**_inline(b"OMNIEMBED-TEST-HANG inside a batch job"), "taskType": "RETRIEVAL_QUERY"},
             _inline(b"a plain text file in the same job"), {"content": {"parts": [{"text": "and a short text"}]}}]
    body = {"batch": {"inputConfig": {"requests": {"requests": [{"request": r} for r in items]}}}}
    job = httpx.post(server.url + "/v1beta/models/omniembed-lite:asyncBatchEmbedContent", json=body, timeout=60).json()
    deadline = time.monotonic() + 180
    while not job.get("done") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = httpx.get(f"{server.url}/v1beta/{job['name']}", timeout=60).json()
    assert job["metadata"]["state"] == "BATCH_STATE_SUCCEEDED", job
    out = job["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]
    assert out[0]["error"]["code"] == 400 and "--worker-timeout" in out[0]["error"]["message"]
    assert [len(o["response"]["embedding"]["values"]) for o in out[1:]] == [384, 384]


def test_ballooning_decoder_is_killed_with_413(server):
    r = httpx.post(server.url + URL, json=_inline(b"OMNIEMBED-TEST-BALLOON"), timeout=120)
    assert r.status_code == 413, r.text
    assert "--worker-memory-mb" in r.json()["error"]["message"]
    ok = httpx.post(server.url + URL, json=_inline(b"after the balloon, a plain text file"), timeout=120)
    assert ok.status_code == 200


def test_cost_limit_is_413_in_both_dialects(server):
    g = httpx.post(server.url + URL, json={"content": {"parts": [{"text": LONG}]}}, timeout=60)
    assert g.status_code == 413
    assert "--max-request-cpu-s" in g.json()["error"]["message"] and g.json()["error"]["status"] == "INVALID_ARGUMENT"
    o = httpx.post(server.url + "/v1/embeddings", json={"input": LONG, "model": "omniembed-lite-1"}, timeout=60)
    assert o.status_code == 413 and o.json()["error"]["code"] == "request_too_large"
    assert "--max-request-cpu-s" in o.json()["error"]["message"]
    # media: the PDF's pages are counted from its header in the worker, before anything is rendered
    pdf = (ROOT / "samples" / "compressor-manual.pdf").read_bytes()
    p = httpx.post(server.url + URL, json=_inline(pdf, "application/pdf"), timeout=120)
    if p.status_code == 200:  # a short PDF fits in 5 s: then two of them must not
        body = {"content": {"parts": [_inline(pdf, "application/pdf")["content"]["parts"][0]] * 8}}
        p = httpx.post(server.url + URL, json=body, timeout=120)
    assert p.status_code == 413 and "PDF pages" in p.json()["error"]["message"], p.text


def test_client_that_disconnects_cancels_its_work(server):
    def cancelled() -> float:
        for line in httpx.get(server.url + "/metrics").text.splitlines():
            if line.startswith("omniembed_cancelled_requests_total "):
                return float(line.split()[1])
        return 0.0

    before = cancelled()
    import json

    body = json.dumps(_inline(b"OMNIEMBED-TEST-HANG until the client leaves")).encode()  # never finishes
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall(b"POST " + URL.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        time.sleep(0.5)
    deadline = time.monotonic() + 120
    while cancelled() <= before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cancelled() == before + 1
    assert httpx.post(server.url + URL, json={"content": {"parts": [{"text": "still here"}]}}, timeout=60).status_code == 200


def test_per_key_quota_is_429_with_retry_after(tmp_path):
    with ServerProcess(tmp_path, "--api-key", "k1", "--api-key", "k2", "--key-cpu-per-minute", "1", "--no-isolate",
                       dummy=True) as srv:
        h = {"x-goog-api-key": "k1"}
        # ~2,000 tokens ≈ 6 s estimated: served (the bucket is full), leaving the key ~5 s in debt, which a
        # refill of 1 s a minute takes 5 minutes to repay: every request until then is refused
        text = {"content": {"parts": [{"text": LONG[:6000]}]}}
        assert httpx.post(srv.url + URL, json=text, headers=h, timeout=120).status_code == 200
        r = httpx.post(srv.url + URL, json=text, headers=h, timeout=60)
        assert r.status_code == 429 and r.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
        assert int(r.headers["retry-after"]) >= 1 and "--key-cpu-per-minute" in r.json()["error"]["message"]
        o = httpx.post(srv.url + "/v1/embeddings", json={"input": "a tiny one", "model": "omniembed-lite-1"},
                       headers={"Authorization": "Bearer k1"}, timeout=60)
        assert o.status_code == 429 and o.json()["error"]["type"] == "rate_limit_error"
        other = httpx.post(srv.url + URL, json={"content": {"parts": [{"text": "hi"}]}},
                           headers={"x-goog-api-key": "k2"}, timeout=60)
        assert other.status_code == 200  # another key has its own bucket


def test_media_cost_is_read_from_headers_before_decoding(tmp_path):
    from PIL import Image

    from omniembed.media.probe import probe_cost
    from omniembed.media.source import Limits, MediaSource

    limits = Limits()
    pdf = MediaSource.from_path(ROOT / "samples" / "compressor-manual.pdf", None, limits)
    assert probe_cost(pdf, limits).pages == 3
    png = tmp_path / "wide.png"
    Image.new("RGB", (3000, 2000), "white").save(png)
    cost = probe_cost(MediaSource.from_path(png, None, limits), limits)
    assert cost.pixels == 6_000_000 and cost.images == 1
    mp3 = MediaSource.from_path(ROOT / "samples" / "nota-de-voz-es.mp3", None, limits)
    assert 6 < probe_cost(mp3, limits).media_seconds < 8
    # the budget refuses a PDF before any page is read, and says what it counted
    budget = Budget(max_seconds=1.0, how_to_raise="the flag")
    with pytest.raises(CostLimitExceeded, match="3 PDF pages"):
        budget.charge(probe_cost(pdf, limits), "the PDF")

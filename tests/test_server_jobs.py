"""Async batch jobs: SQLite persistence, resumption after SIGKILL with nothing lost or duplicated,
cancellation, JSONL file in → file out, clean shutdown that finishes in-flight requests.

The servers run the dummy profile slowed to ~5 ms a token (:data:`SLOW`): jobs take seconds, so a kill,
a cancel or a SIGTERM lands mid-way, and no model loads in any of the five server processes."""

from __future__ import annotations

import json
import sqlite3
import threading
import time

import httpx
import numpy as np

from server_harness import SLOW_ENV, ServerProcess

CREATE = "/v1beta/models/omniembed-lite:asyncBatchEmbedContent"
WORDS = ["river", "granite", "violin", "orbit", "harvest", "lantern", "glacier", "compiler", "saffron", "tundra"]


SLOW = {SLOW_ENV: "0.005"}


def _texts(n: int) -> list[str]:
    # long enough that a job of n items takes several seconds, so the kill lands mid-job
    return [f"Item {i}: a report on the {WORDS[i % 10]} and the {WORDS[(i * 7 + 3) % 10]}. " * 6 for i in range(n)]


def _job_body(texts: list[str], **extra) -> dict:
    return {"batch": {"displayName": "resumable", "inputConfig": {"requests": {"requests": [
        {"request": {"content": {"parts": [{"text": t}]}, **extra}, "metadata": {"i": i}} for i, t in enumerate(texts)
    ]}}}}


def _wait(http: httpx.Client, name: str, until, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"/v1beta/{name}").json()
        if until(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job did not reach the state in {timeout} s: {job['metadata']}")


def _stats(job: dict) -> dict:
    return {k: int(v) for k, v in job["metadata"]["batchStats"].items()}


def test_sigkill_mid_job_resumes_without_loss_or_duplicates(tmp_path, dummy_embedder):
    data = tmp_path / "data"
    texts = _texts(24)
    srv = ServerProcess(data, "--job-chunk-size", "2", dummy=True, env=SLOW).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            job = http.post(CREATE, json=_job_body(texts, outputDimensionality=256)).json()
            name = job["name"]
            assert job["metadata"]["state"] == "BATCH_STATE_PENDING" and _stats(job)["requestCount"] == 24
            mid = _wait(http, name, lambda j: _stats(j)["successfulRequestCount"] >= 4)
            srv.kill()  # SIGKILL: no shutdown code runs
    finally:
        if srv.alive():
            srv.kill()
    done_before = _stats(mid)["successfulRequestCount"]
    assert mid["metadata"]["state"] == "BATCH_STATE_RUNNING" and done_before < 24

    with ServerProcess(data, "--job-chunk-size", "2", dummy=True, env=SLOW) as srv2, httpx.Client(base_url=srv2.url, timeout=60) as http:
        job = _wait(http, name, lambda j: j["metadata"]["state"] in ("BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED"))
    assert job["metadata"]["state"] == "BATCH_STATE_SUCCEEDED" and job["done"] is True
    assert _stats(job) == {"requestCount": 24, "successfulRequestCount": 24, "failedRequestCount": 0,
                           "pendingRequestCount": 0}
    out = job["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]
    assert len(out) == 24
    assert [o["metadata"]["i"] for o in out] == list(range(24))  # order kept, each exactly once
    got = np.array([o["response"]["embedding"]["values"] for o in out], dtype=np.float32)
    want = dummy_embedder.embed(texts, output_dimensionality=256)
    assert np.min(np.sum(got * want, axis=1)) > 0.999  # each result is its own item's vector
    with sqlite3.connect(data / "jobs.sqlite3") as db:
        rows = db.execute("SELECT COUNT(*), COUNT(DISTINCT idx), SUM(state='DONE') FROM items").fetchone()
    assert rows == (24, 24, 24)


def test_cancel_file_input_and_errors_per_item(tmp_path):
    with ServerProcess(tmp_path / "data", "--job-chunk-size", "2", dummy=True, env=SLOW) as srv, \
            httpx.Client(base_url=srv.url, timeout=60) as http:
        # cancel: the state is final, results computed so far are kept, the rest marked cancelled
        job = http.post(CREATE, json=_job_body(_texts(60))).json()
        _wait(http, job["name"], lambda j: _stats(j)["successfulRequestCount"] >= 2)
        assert http.post(f"/v1beta/{job['name']}:cancel").status_code == 200
        time.sleep(1.0)
        cancelled = http.get(f"/v1beta/{job['name']}").json()
        assert cancelled["metadata"]["state"] == "BATCH_STATE_CANCELLED"
        kept = _stats(cancelled)["successfulRequestCount"]
        assert 2 <= kept < 60
        statuses = [("error" in o) for o in cancelled["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]]
        assert statuses.count(False) == kept
        assert http.delete(f"/v1beta/{job['name']}").status_code == 200
        assert http.get(f"/v1beta/{job['name']}").status_code == 404

        # JSONL file in → JSONL file out; a bad item fails alone
        lines = [{"key": "a", "request": {"content": {"parts": [{"text": "alpha centauri"}]}}},
                 {"key": "b", "request": {"content": {"parts": [{"inlineData": {"mimeType": "image/png",
                                                                                  "data": "iVBORw0KGgo"}}]}}},
                 {"key": "c", "request": {"content": {"parts": [{"text": "beta pictoris"}]}, "taskType":
                                          "RETRIEVAL_QUERY"}}]
        up = http.post("/upload/v1beta/files", content="\n".join(json.dumps(x) for x in lines).encode(),
                       headers={"content-type": "application/jsonl"}).json()["file"]
        job = http.post(CREATE, json={"batch": {"inputConfig": {"fileName": up["name"]}}}).json()
        job = _wait(http, job["name"], lambda j: j["done"])
        assert job["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"
        assert _stats(job)["failedRequestCount"] == 1 and _stats(job)["successfulRequestCount"] == 2
        out_name = job["metadata"]["output"]["responsesFile"]
        body = http.get(f"/download/v1beta/{out_name}:download", params={"alt": "media"}).text
        recs = [json.loads(x) for x in body.splitlines()]
        assert [r["key"] for r in recs] == ["a", "b", "c"]
        assert "error" in recs[1] and recs[1]["error"]["code"] == 400
        assert len(recs[0]["response"]["embedding"]["values"]) == 384

        # a malformed job is refused at creation, not failed later
        bad = http.post(CREATE, json={"batch": {"inputConfig": {"requests": {"requests": [{"request": {}}]}}}})
        assert bad.status_code == 400

        processed = [ln for ln in http.get("/metrics").text.splitlines()
                     if ln.startswith("omniembed_batch_job_items_total")]
        assert processed and float(processed[0].split()[-1]) >= 5  # 2+ cancelled-job items and 3 file items


def test_sigterm_finishes_in_flight_requests(tmp_path):
    srv = ServerProcess(tmp_path / "data", "--workers", "1", dummy=True, env=SLOW).start()
    text = " ".join(["A long paragraph about the migration of birds across the northern sea."] * 20)
    results: list[int] = []

    def call(i: int) -> None:
        r = httpx.post(srv.url + "/v1beta/models/omniembed-lite:embedContent", timeout=120,
                       json={"content": {"parts": [{"text": f"{i} {text}"}]}})
        results.append(r.status_code)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)  # the requests are queued or running
    code = srv.stop()
    for t in threads:
        t.join(120)
    assert code in (0, -15)  # uvicorn re-raises the signal after its graceful shutdown
    assert results == [200] * 4
    assert '"event": "stopped"' in srv.log()

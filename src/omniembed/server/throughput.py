"""How long a refused caller should wait: ``Retry-After`` from queue depth and measured throughput.

A fixed ``Retry-After: 1`` sends every refused client back while the queue is just as full, so under a
sustained overload all their retries fail too (openai's client gives up after two). The honest answer is
the time the server needs to make room: the contents that must finish before this request fits, divided
by the rate the engine has actually been finishing contents lately. The rate is measured, not
configured, because it varies by two orders of magnitude with the modality (a short text: ~2 ms of the
encoder; a minute of audio: seconds of Whisper).
"""

from __future__ import annotations

import collections
import math
import threading
import time
from typing import Callable

__all__ = ["ThroughputMeter"]


class ThroughputMeter:
    """Contents finished per second over the last ``window_s`` seconds of finished batches.

    ``observe`` is called when a batch finishes (``contents`` embedded in ``seconds`` of engine time);
    ``retry_after(backlog)`` is the whole seconds until ``backlog`` more contents should be finished.
    """

    def __init__(self, window_s: float = 60.0, *, clock: Callable[[], float] = time.monotonic,
                 min_s: int = 1, max_s: int = 300, unknown_s: int = 5):
        self.window_s = window_s
        self.clock = clock
        self.min_s, self.max_s, self.unknown_s = min_s, max_s, unknown_s
        self._done: collections.deque[tuple[float, int, float]] = collections.deque()  # (end, contents, seconds)
        self._lock = threading.Lock()

    def observe(self, contents: int, seconds: float) -> None:
        now = self.clock()
        with self._lock:
            self._done.append((now, int(contents), max(0.0, float(seconds))))
            self._trim(now)

    def _trim(self, now: float) -> None:
        while len(self._done) > 1 and now - self._done[0][0] > self.window_s:
            self._done.popleft()

    def rate(self) -> float | None:
        """Contents per second lately, or None before anything finished.

        Over wall-clock time from the first batch's start to the last batch's end in the window (so
        concurrent workers count), and never below what one batch alone shows."""
        with self._lock:
            self._trim(self.clock())
            if not self._done:
                return None
            contents = sum(n for _, n, _ in self._done)
            start = min(end - s for end, _, s in self._done)
            span = self._done[-1][0] - start
            best_single = max((n / s for _, n, s in self._done if s > 0), default=0.0)
        wall = contents / span if span > 0 else 0.0
        return max(wall, best_single) or None

    def retry_after(self, backlog: int) -> int:
        """Whole seconds (``min_s``..``max_s``) until ``backlog`` contents should have finished."""
        r = self.rate()
        if r is None:
            return self.unknown_s
        return int(min(self.max_s, max(self.min_s, math.ceil(max(0, backlog) / r))))

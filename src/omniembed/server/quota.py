"""Per-API-key compute quota: a token bucket of estimated CPU seconds (``--key-cpu-per-minute``).

Every key (or, without ``--api-key``, every client address) owns a bucket that holds at most one
minute's allowance and refills continuously. A request is refused with 429 / ``RESOURCE_EXHAUSTED``
(``Retry-After`` set) when the key's bucket is empty or cannot cover the request's estimate made
before any work starts (text length; media is estimated from its header in the worker and debited
as it is charged). A single request larger than a whole minute's allowance is still served when the
bucket is full, and leaves the key in debt, so the per-request limit (``--max-request-cpu-s``) is what
bounds one request and this is what bounds one key's share over time.
"""

from __future__ import annotations

import math
import threading
import time

from .errors import ApiError

__all__ = ["KeyQuota"]


class KeyQuota:
    def __init__(self, cpu_seconds_per_minute: float):
        self.capacity = float(cpu_seconds_per_minute)
        self.rate = self.capacity / 60.0
        self._levels: dict[str, tuple[float, float]] = {}  # key → (level, as of monotonic time)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def _level(self, key: str, now: float) -> float:
        level, then = self._levels.get(key, (self.capacity, now))
        return min(self.capacity, level + (now - then) * self.rate)

    def check(self, key: str, estimate_s: float) -> None:
        """Raise 429 if ``key`` cannot afford ``estimate_s`` now."""
        if not self.enabled:
            return
        with self._lock:
            now = time.monotonic()
            level = self._level(key, now)
            self._levels[key] = (level, now)
        if level <= 0 or (estimate_s > level and level < self.capacity):
            need = max(estimate_s if level > 0 else 0.0, 0.0) - level
            wait = max(1, math.ceil(min(need, self.capacity) / self.rate)) if self.rate else 60
            raise ApiError(
                429,
                f"this API key has used its compute budget ({self.capacity:,.0f} s of estimated CPU per minute; "
                f"{max(level, 0):,.0f} s left, this request needs ~{estimate_s:,.0f} s); retry in {wait} s "
                "(the server's limit: omniembed serve --key-cpu-per-minute)",
                headers={"Retry-After": str(wait)},
            )

    def debit(self, key: str, seconds: float) -> None:
        """Take ``seconds`` of estimated CPU from ``key``'s bucket (never raises: the work is decided)."""
        if not self.enabled or seconds <= 0:
            return
        with self._lock:
            now = time.monotonic()
            self._levels[key] = (self._level(key, now) - seconds, now)

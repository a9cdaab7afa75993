"""Prometheus metrics (text exposition at ``GET /metrics``), one registry per app."""

from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]

_LATENCY = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 300)
_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("omniembed_http_requests", "HTTP requests", ["dialect", "route", "status"], registry=r)
        self.latency = Histogram("omniembed_http_request_seconds", "HTTP request latency", ["dialect", "route"],
                                 buckets=_LATENCY, registry=r)
        self.contents = Counter("omniembed_contents", "Contents embedded (one vector each)", ["dialect"], registry=r)
        self.batch_contents = Histogram("omniembed_batch_contents", "Contents per engine call (dynamic batching)",
                                        buckets=_SIZES, registry=r)
        self.batch_requests = Histogram("omniembed_batch_requests", "HTTP requests merged per engine call",
                                        buckets=_SIZES, registry=r)
        self.engine_seconds = Histogram("omniembed_engine_seconds", "Time in the engine per batch",
                                        buckets=_LATENCY, registry=r)
        self.queue_depth = Gauge("omniembed_queue_depth", "Contents waiting for an engine worker", registry=r)
        self.busy = Gauge("omniembed_busy_workers", "Engine workers busy", registry=r)
        self.ready = Gauge("omniembed_ready", "1 when the text encoder is loaded", registry=r)
        self.cancelled = Counter("omniembed_cancelled_requests", "Requests stopped by a timeout or a client that "
                                 "went away (their work stops at the next unit boundary)", registry=r)
        self.worker_restarts = Gauge("omniembed_worker_restarts", "Worker processes killed for time, memory, a "
                                     "crash or a hang after a cancel (and replaced)", registry=r)
        self.job_items = Counter("omniembed_batch_job_items", "Async batch-job items processed", registry=r)

    def bind(self, queue_depth: Callable[[], float], busy: Callable[[], float], ready: Callable[[], float]) -> None:
        self.queue_depth.set_function(queue_depth)
        self.busy.set_function(busy)
        self.ready.set_function(ready)

    def observe_request(self, dialect: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(dialect, route, str(status)).inc()
        self.latency.labels(dialect, route).observe(seconds)

    def observe_batch(self, contents: int, requests: int, seconds: float) -> None:
        self.batch_contents.observe(contents)
        self.batch_requests.observe(requests)
        self.engine_seconds.observe(seconds)

    def count_contents(self, dialect: str, n: int) -> None:
        self.contents.labels(dialect).inc(n)

    def render(self) -> bytes:
        return generate_latest(self.registry)

"""Compute budgets: what a request will cost before work starts, and how work stops when nobody waits.

Three small, transport-free pieces the engine accepts (the server builds them from HTTP facts —
deadlines, disconnects, API keys — the engine never sees those):

* :class:`Cost` — the work a request asks for: text tokens, PDF pages, seconds of audio/video, image
  pixels, converted into **estimated CPU seconds** on 2 cores by :class:`CostModel`. Text is estimated
  from its characters before anything runs (:func:`estimate_text_tokens`); media is probed from its
  header (page count, duration, pixel size) before it is decoded (``media/probe.py``).
* :class:`Budget` — a per-request ceiling on that estimate: :meth:`Budget.charge` raises
  :class:`~omniembed.errors.CostLimitExceeded` (HTTP 413) before the work it would pay for starts.
* :class:`CancelToken` — a deadline and a cancel flag, checked by the engine between **work units**
  (one encoder call of at most ``Engine.unit_chunks`` chunks, one PDF page, one audio block, one video
  frame), so a request that timed out or lost its client stops within one unit and frees its slot.

Measured unit sizes (2 cores, lite profile, load ≈ 2): one 512-token chunk through e5 ≈ 1–3 s, a 150-token
chunk ≈ 0.3 s, a one-word query ≈ 8 ms. That is why short requests cannot merely wait "one unit" behind
a long one (a unit is 100× their own latency); the server runs long work in low-priority worker processes
instead (``omniembed/workers.py``) and keeps the short lane in-process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from .errors import CostLimitExceeded, DeadlineExceeded, RequestCancelled

if TYPE_CHECKING:
    from .types import EmbedRequest

__all__ = ["Cost", "CostModel", "Budget", "CancelToken", "estimate_text_tokens", "text_cost", "DEFAULT_COST_MODEL"]


def estimate_text_tokens(text: str) -> int:
    """e5 tokens a text will take, estimated without tokenizing (O(n) in C, ~1 GB/s).

    Measured with e5's tokenizer: English prose 3.2 characters/token (README.md), emoji and CJK ≈ 1
    character/token. ASCII characters count 1/3, everything else 1: within ±30 % on prose, an upper bound
    on emoji and CJK. Exact counting runs at ~0.6 MB/s, too slow to do before deciding to do work at all.
    """
    n = len(text)
    ascii_n = len(text.encode("ascii", "ignore")) if n else 0
    return int(ascii_n / 3 + (n - ascii_n)) + (1 if n else 0)


@dataclass
class Cost:
    """The work one request (or part) asks for."""

    tokens: int = 0  # text tokens (estimated, see estimate_text_tokens)
    pages: int = 0  # PDF pages
    media_seconds: float = 0.0  # audio and video duration
    pixels: int = 0  # image pixels (decoded size)
    images: int = 0  # images (each is one OCR pass)

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.tokens + other.tokens, self.pages + other.pages,
                    self.media_seconds + other.media_seconds, self.pixels + other.pixels, self.images + other.images)

    def describe(self) -> str:
        bits = []
        if self.tokens:
            bits.append(f"~{self.tokens:,} tokens")
        if self.pages:
            bits.append(f"{self.pages:,} PDF pages")
        if self.media_seconds:
            bits.append(f"{self.media_seconds:,.0f} s of audio/video")
        if self.images:
            bits.append(f"{self.images:,} image(s), {self.pixels / 1e6:,.1f} MP")
        return ", ".join(bits) or "nothing"


def text_cost(request: "EmbedRequest") -> Cost:
    """The estimated cost of a request's text parts (media is estimated later, from its headers): what
    the server checks before queueing and the engine charges before any media is opened."""
    return Cost(tokens=sum(estimate_text_tokens(p.text) for c in request.contents for p in c.parts
                           if p.text is not None))


@dataclass(frozen=True)
class CostModel:
    """Estimated CPU seconds (2 cores, lite profile) per unit of work.

    Measured on the development machine (docs/engine.md, docs/audio-video.md): e5 encodes ~512 tokens in
    1–1.5 s (0.003 s/token); PDF text-layer pages 2.8/s, OCR pages 1.2/s (0.8 s a page is charged, since
    whether a page needs OCR is known only after reading it); speech 20–23× real time (0.05 s per second,
    0.1 for video, which adds frame OCR); an image is one OCR pass, ~0.5 s plus 0.05 s per megapixel.
    """

    per_token: float = 0.003
    per_page: float = 0.8
    per_media_second: float = 0.1
    per_image: float = 0.5
    per_megapixel: float = 0.05

    def seconds(self, cost: Cost) -> float:
        return (cost.tokens * self.per_token + cost.pages * self.per_page + cost.media_seconds * self.per_media_second
                + cost.images * self.per_image + cost.pixels / 1e6 * self.per_megapixel)


DEFAULT_COST_MODEL = CostModel()


@dataclass
class Budget:
    """A request's ceiling on estimated CPU seconds. ``max_seconds <= 0`` means no ceiling.

    ``how_to_raise`` ends the error message (the server says which flag raises the limit). ``on_charge``
    is called with every charge (the server's per-key accounting); it may raise to refuse the work.
    """

    max_seconds: float = 0.0
    model: CostModel = DEFAULT_COST_MODEL
    how_to_raise: str = "raise Budget.max_seconds"
    on_charge: Callable[[float], None] | None = None
    spent: Cost = field(default_factory=Cost)

    @property
    def seconds(self) -> float:
        return self.model.seconds(self.spent)

    def charge(self, cost: Cost, where: str = "the request") -> None:
        """Add ``cost`` before doing the work it stands for; raise CostLimitExceeded past the ceiling."""
        total = self.spent + cost
        est = self.model.seconds(total)
        if self.max_seconds > 0 and est > self.max_seconds:
            raise CostLimitExceeded(
                f"{where} would cost about {est:,.0f} s of CPU ({total.describe()}); the limit is "
                f"{self.max_seconds:,.0f} s per request ({self.how_to_raise})"
            )
        if self.on_charge is not None:
            self.on_charge(self.model.seconds(cost))
        self.spent = total


class CancelToken:
    """A deadline and a cancel flag, checked between work units (:meth:`check`).

    ``flag`` may be any object with ``is_set()`` (a ``threading.Event`` here, a ``multiprocessing.Event``
    in a worker process), so the same token works across the process boundary.
    """

    def __init__(self, deadline: float | None = None, flag: Any = None):
        self.deadline = deadline  # time.monotonic() value, or None
        self.flag = flag if flag is not None else threading.Event()
        self.reason = "the client went away"
        self.units = 0  # work units started (for tests and metrics)
        self.units_at_cancel: int | None = None  # units started when cancel() was called

    @classmethod
    def with_timeout(cls, seconds: float | None) -> "CancelToken":
        return cls(None if seconds is None else time.monotonic() + seconds)

    def cancel(self, reason: str = "the client went away") -> None:
        self.reason = reason
        if self.units_at_cancel is None:
            self.units_at_cancel = self.units
        self.flag.set()

    @property
    def cancelled(self) -> bool:
        return self.flag.is_set() or (self.deadline is not None and time.monotonic() > self.deadline)

    def raise_if_cancelled(self) -> None:
        """Raise :class:`DeadlineExceeded` / :class:`RequestCancelled` if the work should stop."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise DeadlineExceeded("the request ran past its deadline and was stopped")
        if self.flag.is_set():
            raise RequestCancelled(f"the request was cancelled ({self.reason})")

    def check(self) -> None:
        """Called before each work unit: raise if the work should stop, else count the unit."""
        self.raise_if_cancelled()
        self.units += 1

"""A fast, deterministic fake text encoder: the ``dummy`` profile (``omniembed serve --profile dummy``).

Like Infinity's dummy model, it exists so tests of everything AROUND the model — the wire formats, the
server's queue, lanes, workers, jobs, limits and error paths — run without loading one. Its vectors are
a bag of hashed words: each word (``\\w+``, lower-cased; a text without word characters uses its
characters) maps to a fixed pseudo-random unit direction (seeded from the word's BLAKE2b hash), a text
is the normalised sum. So equal texts give equal vectors, texts sharing words are close, and nothing
else means anything: never use it where retrieval quality is the point.

``OMNIEMBED_DUMMY_SECONDS_PER_TOKEN`` (read when the encoder is built; inherited by worker processes)
makes each call sleep that long per token: tests of queueing, cancellation, back-pressure and crash
recovery then have work to interrupt, without spending CPU (a sleep holds no core and no GIL).

Measured on the development machine (2 cores): encoding 32 short texts takes ~0.3 ms, against 20–60 ms
for multilingual-e5; loading it takes nothing, against ~1.5 s for e5 in every process (the server, each
worker, each test's server subprocess).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from functools import lru_cache

import numpy as np

__all__ = ["HashTextEncoder"]

_WORD = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=65536)
def _direction(token: str, dim: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    v /= np.linalg.norm(v)
    v.setflags(write=False)
    return v


def _tokens(text: str) -> list[str]:
    words = _WORD.findall(text.lower())
    return words or [c for c in text if not c.isspace()]


class HashTextEncoder:
    """The :class:`~omniembed.encoders.base.TextEncoder` of the dummy profile (see the module docstring).

    ``max_tokens`` and ``overhead`` mirror e5's (512; 2 specials + a 1–2 token prefix), so long texts are
    chunked and pooled by the engine exactly as with the real model: a token here is one word."""

    max_tokens = 512

    def __init__(self, dim: int = 384, seconds_per_token: float | None = None):
        self.dim = int(dim)
        if seconds_per_token is None:
            seconds_per_token = float(os.environ.get("OMNIEMBED_DUMMY_SECONDS_PER_TOKEN") or 0.0)
        self.seconds_per_token = max(0.0, seconds_per_token)

    def encode(self, texts: list[str], mode: str) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        tokens = 0
        for i, text in enumerate(texts):
            toks = _tokens(text)
            tokens += len(toks)
            for tok in toks:
                out[i] += _direction(tok, self.dim)
            norm = float(np.linalg.norm(out[i]))
            if norm > 0:
                out[i] /= norm
            else:  # no token at all: one fixed direction, still a unit row
                out[i] = _direction("", self.dim)
        if self.seconds_per_token:
            time.sleep(tokens * self.seconds_per_token)
        return out

    def token_count(self, text: str, mode: str = "passage") -> int:
        return len(_tokens(text)) if text.strip() else 0

    def overhead(self, mode: str) -> int:
        return 4 if mode == "query" else 5

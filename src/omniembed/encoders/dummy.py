"""Fast, deterministic fake encoders: the ``dummy`` profile (``omniembed serve --profile dummy``).

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

The profile also fakes the two readers of media, so that no model loads at all:

* :class:`EnergySpeech` replaces Whisper: it "hears" a segment wherever the sound is louder than a
  threshold (no model, no language identification: the language is the one the options name, else
  ``en``) and writes pseudo-words derived from the samples, so the same audio gives the same transcript
  and different audio different ones. A tone is speech to it; silence is not.
* :class:`PatternReader` replaces OCR: a blank picture has no text; any other gets pseudo-words
  derived from a thumbnail of its pixels.

Decoding, limits, blocks, windows, timestamps, clip packing's bookkeeping, budgets and cancellation stay
the real ones; what the words mean is not tested through them. Whisper base costs ~1 s to load and
~0.5–2 s of CPU per short clip, RapidOCR ~0.3–1 s per picture; these take microseconds.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from functools import lru_cache

import numpy as np

__all__ = ["HashTextEncoder", "EnergySpeech", "PatternReader"]

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


def _pseudo_words(values: np.ndarray, n: int) -> str:
    """``n`` deterministic pseudo-words drawn from a hash of ``values`` (already quantised)."""
    digest = hashlib.blake2b(np.ascontiguousarray(values).tobytes(), digest_size=16).digest()
    rng = np.random.default_rng(int.from_bytes(digest, "little"))
    syllables = ("ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "da", "pe", "zu", "fo")
    return " ".join("".join(rng.choice(syllables, size=2 + int(rng.integers(0, 2)))) for _ in range(max(1, n)))


class EnergySpeech:
    """The dummy profile's :class:`~omniembed.encoders.base.SpeechRecognizer` (see the module docstring).

    Sound is cut in ``FRAME_S`` frames; a frame whose RMS exceeds ``THRESHOLD`` is voiced, voiced runs
    closer than ``GAP_S`` merge, and each run (at most ``MAX_SEGMENT_S`` long) becomes one segment with
    ~2.5 pseudo-words a second. Same guard as Whisper's: under 0.1 s or digital silence → no segment."""

    FRAME_S = 0.1
    THRESHOLD = 0.01
    GAP_S = 0.5
    MAX_SEGMENT_S = 10.0

    def transcribe_block(self, audio: np.ndarray, offset_s: float, opts) -> list:
        from .asr import SAMPLE_RATE, AsrSegment

        audio = np.asarray(audio, dtype=np.float32)
        if audio.size < SAMPLE_RATE // 10 or not np.any(np.abs(audio) > 1e-4):
            return []
        hop = int(SAMPLE_RATE * self.FRAME_S)
        n = audio.size // hop
        rms = np.sqrt(np.mean(audio[: n * hop].reshape(n, hop) ** 2, axis=1)) if n else np.zeros(0)
        runs: list[list[int]] = []
        for i in np.flatnonzero(rms > self.THRESHOLD):
            if runs and (i - runs[-1][1]) * self.FRAME_S <= self.GAP_S and \
                    (i + 1 - runs[-1][0]) * self.FRAME_S <= self.MAX_SEGMENT_S:
                runs[-1][1] = int(i) + 1
            else:
                runs.append([int(i), int(i) + 1])
        language = opts.language or (opts.languages[0] if opts.languages else "en")
        out = []
        for a, b in runs:
            level = np.round(np.log2(rms[a:b] + 1e-6)).astype(np.int8)  # coarse loudness contour
            seconds = (b - a) * self.FRAME_S
            out.append(AsrSegment(start=round(offset_s + a * self.FRAME_S, 2), end=round(offset_s + b * self.FRAME_S, 2),
                                  text=_pseudo_words(level, round(2.5 * seconds)), language=language))
        return out

    def transcribe_clips(self, clips, opts) -> list[list]:
        return [self.transcribe_block(c, 0.0, opts) for c in clips]


class PatternReader:
    """The dummy profile's :class:`~omniembed.encoders.base.TextReader` (see the module docstring): a
    picture whose pixels barely vary (standard deviation < 2 grey levels) reads as no text; any other
    as four pseudo-words from its 8×8 grey thumbnail quantised to 4 levels."""

    def read(self, image: np.ndarray):
        from PIL import Image

        from .ocr import OcrResult

        arr = np.asarray(image)
        if arr.size == 0:
            return OcrResult("", 0.0, 0, "dummy")
        grey = np.asarray(Image.fromarray(arr.astype(np.uint8)).convert("L").resize((8, 8)), dtype=np.float32)
        if float(np.asarray(arr, np.float32).std()) < 2.0:
            return OcrResult("", 0.0, 0, "dummy")
        return OcrResult(_pseudo_words((grey // 64).astype(np.uint8), 4), 1.0, 1, "dummy")

"""CLAP's audio features in numpy: the log-mel input of a CLAP (HTSAT) audio tower, without torch.

A reimplementation of transformers' ``ClapFeatureExtractor`` (whose class refuses to load without torch
since transformers 5, although its maths is numpy; its fusion "shrink" calls torch's bilinear
interpolation). Proven against it in ``tests/test_audio_models.py``: every mode the published CLAP models
use agrees within 1e-4 dB on the stored reference features, and the embeddings computed from these
features agree with transformers' PyTorch ``ClapModel`` within 1e-4.

What a clip becomes (``max_length_s`` = 10 s at 48 kHz for every published CLAP):

* **shorter than max_length**: ``padding="repeatpad"`` tiles the clip whole as many times as fits, then
  pads with zeros (``"repeat"`` tiles and cuts, ``"pad"`` only pads); one log-mel of 1001 × 64. A fused
  model (``truncation="fusion"``) gets that mel four times.
* **longer**, ``truncation="rand_trunc"`` (clap-htsat-unfused, larger_clap_*): one max_length crop.
  transformers draws the crop position at random; here it is the ``crop`` argument, by default the
  middle of the clip, so the same file always gives the same vector.
* **longer**, ``truncation="fusion"`` (clap-htsat-fused): the whole clip's mel shrunk to 1001 frames
  (bilinear, as torch's ``interpolate(..., align_corners=False)``) plus three 1001-frame crops, one from
  each third of the clip (random in transformers; here ``crops`` or the middle of each third).

Fusion models also take ``is_longer``: transformers sets it for a longer clip and, when no clip of a
batch is longer, for one random clip. omniembed embeds clips one at a time, so a fused model always gets
``True`` (what transformers does for a batch of one).

Mel filters: HTK scale without norm for fusion, Slaney scale and norm otherwise (the original
implementation's torchaudio vs librosa defaults); Hann window (periodic), centred frames with reflect
padding, power spectrum, ``10·log10(max(1e-10, ·))`` dB, no ``top_db`` clipping.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Sequence

import numpy as np

__all__ = ["ClapFeatures", "mel_filter_bank", "bilinear_resize"]


def _hz_to_mel(f: np.ndarray, scale: str) -> np.ndarray:
    f = np.asarray(f, np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    mels = 3.0 * f / 200.0  # slaney: linear below 1 kHz, logarithmic above
    log = f >= 1000.0
    return np.where(log, 15.0 + np.log(np.maximum(f, 1e-12) / 1000.0) * (27.0 / np.log(6.4)), mels)


def _mel_to_hz(m: np.ndarray, scale: str) -> np.ndarray:
    m = np.asarray(m, np.float64)
    if scale == "htk":
        return 700.0 * (np.power(10.0, m / 2595.0) - 1.0)
    return np.where(m >= 15.0, 1000.0 * np.exp(np.log(6.4) / 27.0 * (m - 15.0)), 200.0 * m / 3.0)


def mel_filter_bank(n_freqs: int, n_mels: int, fmin: float, fmax: float, rate: int, scale: str,
                    slaney_norm: bool) -> np.ndarray:
    """Triangular mel filters, shape (n_freqs, n_mels), float64."""
    mel_pts = np.linspace(_hz_to_mel(fmin, scale), _hz_to_mel(fmax, scale), n_mels + 2)
    hz_pts = _mel_to_hz(mel_pts, scale)
    fft_freqs = np.linspace(0, rate // 2, n_freqs)
    diff = np.diff(hz_pts)
    slopes = hz_pts[None, :] - fft_freqs[:, None]
    down = -slopes[:, :-2] / diff[:-1]
    up = slopes[:, 2:] / diff[1:]
    bank = np.maximum(0.0, np.minimum(down, up))
    if slaney_norm:
        bank *= (2.0 / (hz_pts[2 : n_mels + 2] - hz_pts[:n_mels]))[None, :]
    return bank


def bilinear_resize(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)`` of a 2-D array."""

    def axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scale = np.float32(n_in / n_out)
        src = np.maximum((np.arange(n_out, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5), 0)
        i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, (src - i0).astype(np.float32)

    h0, h1, hl = axis(img.shape[0], out_h)
    w0, w1, wl = axis(img.shape[1], out_w)
    x = img.astype(np.float32)
    top = x[h0][:, w0] * (1 - wl) + x[h0][:, w1] * wl
    bottom = x[h1][:, w0] * (1 - wl) + x[h1][:, w1] * wl
    return (top * (1 - hl)[:, None] + bottom * hl[:, None]).astype(np.float32)


@dataclass(frozen=True)
class ClapFeatures:
    """The feature extractor of one CLAP model (from its ``preprocessor_config.json``)."""

    feature_size: int = 64
    sampling_rate: int = 48_000
    hop_length: int = 480
    max_length_s: float = 10
    fft_window_size: int = 1024
    frequency_min: float = 0
    frequency_max: float = 14_000
    truncation: str = "fusion"
    padding: str = "repeatpad"

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "ClapFeatures":
        known = set(cls.__dataclass_fields__)
        out = cls(**{k: v for k, v in cfg.items() if k in known})
        if out.truncation not in ("fusion", "rand_trunc") or out.padding not in ("repeatpad", "repeat", "pad"):
            raise ValueError(f"unsupported CLAP truncation/padding {out.truncation!r}/{out.padding!r}")
        if cfg.get("top_db") is not None:
            raise ValueError("CLAP preprocessor with top_db is not supported")
        return out

    @property
    def max_samples(self) -> int:
        return int(self.max_length_s * self.sampling_rate)

    @cached_property
    def _filters(self) -> dict[str, np.ndarray]:
        n_freqs = (self.fft_window_size >> 1) + 1
        args = (n_freqs, self.feature_size, self.frequency_min, self.frequency_max, self.sampling_rate)
        return {"htk": mel_filter_bank(*args, "htk", False), "slaney": mel_filter_bank(*args, "slaney", True)}

    @cached_property
    def _window(self) -> np.ndarray:
        return np.hanning(self.fft_window_size + 1)[:-1]  # periodic Hann

    def log_mel(self, wave: np.ndarray, filters: str) -> np.ndarray:
        """(frames, feature_size) float32 dB log-mel of ``wave`` (centred frames, reflect padding)."""
        n = self.fft_window_size
        x = np.pad(np.asarray(wave, np.float64), (n // 2, n // 2), mode="reflect")
        frames = 1 + (x.size - n) // self.hop_length
        idx = np.arange(n)[None, :] + self.hop_length * np.arange(frames)[:, None]
        spec = np.empty((frames, n // 2 + 1), np.float64)
        for lo in range(0, frames, 512):  # bounded memory for long clips
            part = np.fft.rfft(x[idx[lo : lo + 512]] * self._window, axis=1).astype(np.complex64)
            spec[lo : lo + 512] = np.abs(part, dtype=np.float64) ** 2
        mel = np.maximum(1e-10, spec @ self._filters[filters])
        return (10.0 * np.log10(np.maximum(mel, 1e-10))).astype(np.float32)

    def __call__(self, wave: np.ndarray, *, crop: int | None = None,
                 crops: Sequence[int] | None = None) -> tuple[np.ndarray, bool]:
        """``(input_features (C, frames, feature_size), is_longer)`` of one mono clip at ``sampling_rate``;
        C is 4 for fusion, else 1. ``crop`` / ``crops`` fix the positions transformers draws at random."""
        wave = np.asarray(wave, np.float64).reshape(-1)
        max_len = self.max_samples
        if wave.size > max_len:
            if self.truncation == "rand_trunc":
                start = (wave.size - max_len) // 2 if crop is None else int(crop)
                return self.log_mel(wave[start : start + max_len], "slaney")[None], True
            mel = self.log_mel(wave, "htk")
            chunk = max_len // self.hop_length + 1
            total = mel.shape[0]
            if chunk == total:  # longer by less than a hop: the whole clip, as a short one
                return np.stack([mel] * 4), False
            thirds = [r if len(r) else np.array([0]) for r in np.array_split(np.arange(total - chunk + 1), 3)]
            picks = list(crops) if crops is not None else [int(r[len(r) // 2]) for r in thirds]
            shrunk = bilinear_resize(mel, chunk, mel.shape[1])
            return np.stack([shrunk] + [mel[i : i + chunk] for i in picks]), True
        if wave.size < max_len:
            if wave.size == 0:
                raise ValueError("an empty clip has no features")
            if self.padding == "repeat":
                wave = np.tile(wave, max_len // wave.size + 1)[:max_len]
            elif self.padding == "repeatpad":
                wave = np.tile(wave, max_len // wave.size)
            wave = np.pad(wave, (0, max_len - wave.size))
        if self.truncation == "fusion":
            return np.stack([self.log_mel(wave, "htk")] * 4), False
        return self.log_mel(wave, "slaney")[None], False

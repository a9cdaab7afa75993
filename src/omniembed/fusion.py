"""Fusion: many piece vectors → one part vector → one content vector.

The rules, in the encoder's own space (before the Matryoshka rotation):

1. **Pieces of one part** (chunks of a long text, pages of a PDF, windows of a recording) are pooled
   by a weighted mean: weight = tokens × segment weight, and the first piece of a document counts
   ``lead_weight`` (2) times (titles, abstracts, README openings and NAME lines live there).
   Description-only pieces (no text found) weigh half. For text, PDFs and transcripts the first
   piece also never weighs less than ``lead_share`` (25 %) of the whole: without that floor a
   50-page PDF's opening gets 2 % of its vector and the document reads like its appendix (issue 19).
   A first piece of fewer than ``min_tokens`` tokens gets no floor (a page whose text layer is only
   its number: a quarter of the vector would be the vector of "1").
   Documents of up to 7 full pieces (~3,500 tokens) are pooled exactly as before. Measured on
   ``bench/longdocs.py`` (package summaries → their READMEs as PDFs, 77 documents, same run): R@1
   0.831 against 0.727 for the first 512 tokens and 0.779 for the rule before; 1.000 vs 0.625 on
   4–10 pages. No alternative (lead blends, position decays, a title/outline summary vector) beat it
   held out on both renderings; numbers and protocol
   in docs/engine.md, "Long documents". Video keeps the plain token mean (``plain``): its first window
   is no title, and its pipeline balances its own channels (on-screen text against speech).
   Which modality gets which first-piece rule is the modality table's ``lead`` (``modalities.py``);
   this module is the one place that applies it, with the configured values. ``channel_power`` lets
   fusion weigh a video's channels (what it shows, what it says) by length instead (issue 20: a
   trade-off between description and speech queries, measured on ``bench/narrated_videos.py`` and D4,
   docs/audio-video.md).
2. **Parts of one content** (interleaved input) are normalised, then summed with their modality's
   weight (``modality_weights``; all 1.0 by default, so each part counts equally whatever its length),
   and the sum is normalised: ONE vector per content, as in Gemini's interleaved input.

Both are configurable through :class:`FusionConfig` (``Embedder(fusion=FusionConfig(...))``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .modalities import modalities
from .space import normalize

__all__ = ["FusionConfig", "pool_pieces", "fuse_parts", "piece_weights", "channel_weights"]


def _leads(kind: str) -> frozenset[str]:
    return frozenset(m.name for m in modalities() if m.lead == kind)


@dataclass(frozen=True)
class FusionConfig:
    modality_weights: dict[str, float] = field(default_factory=lambda: {m.name: m.weight for m in modalities()})
    #: the least share of a part's pooled weight its first piece keeps (text, PDF, audio); on
    #: bench/longdocs.py (77 PDFs) R@1 0.779 / 0.805 / 0.831 / 0.818 / 0.831 for 0.1 / 0.2 / 0.25 / 0.33 / 0.5
    lead_share: float = 0.25
    #: modalities whose first piece gets the ``lead_share`` floor (the table's ``lead="share"``)
    positional: frozenset[str] = field(default_factory=lambda: _leads("share"))
    #: modalities whose first piece counts like any other: no ``lead_weight`` (the table's ``lead="none"``)
    plain: frozenset[str] = field(default_factory=lambda: _leads("none"))
    lead_weight: float = 2.0  # extra weight of a multi-piece part's first piece
    min_tokens: int = 8  # short pieces count as if they had this many tokens
    #: the channels of a video (what it shows, what it says) that :func:`channel_weights` balances
    channels: tuple[str, ...] = ("ocr", "asr")
    #: ``None`` (default): a video's pieces keep the weights its pipeline gave them (OCR and ASR equal,
    #: by characters). A number p: fusion sets each channel's share ∝ (its tokens) ** p instead — 0 =
    #: equal shares, 1 = plain token weighting (a page on screen outweighs one spoken sentence ~13:1).
    #: Measured on bench/narrated_videos.py (100 videos, eval-dev D4 scored in the same run;
    #: docs/audio-video.md, "Narrated documents"): p = 0.5 retrieves narrated documents by their
    #: description best (R@1 0.740, held-out 0.740, vs 0.660 today and 0.720 for the join-then-embed
    #: cascade; p = 1: 0.720) but costs spoken-sentence queries (the task's own: 0.980 → 0.800; D4
    #: video-speech ranks 14,1,1 → 18,12,2, D4 R@1 0.756 → 0.732). No p, gate or blend measured serves
    #: both, so the default is unchanged and p is the caller's choice.
    channel_power: float | None = None

    def weight_of(self, modality: str) -> float:
        return float(self.modality_weights.get(modality, 1.0))


def channel_weights(tokens: np.ndarray, weights: np.ndarray, sources: list[str], cfg: FusionConfig) -> np.ndarray:
    """A video's piece weights under ``cfg.channel_power`` = p: each channel (``cfg.channels``) gets a
    share of the total ∝ (its tokens) ** p, token proportions kept inside a channel; the pipeline's
    channel balance (segment weights) is replaced, pieces of no channel keep tokens × weight, and no
    piece gets the lead bonus (a video's first window is no title). One channel alone: tokens only."""
    src = np.asarray(sources)
    w = tokens * weights
    mass = {c: float(tokens[src == c].sum()) for c in cfg.channels}
    present = [c for c in cfg.channels if mass[c] > 0]
    total = sum(mass[c] for c in present)
    norm = sum(mass[c] ** float(cfg.channel_power) for c in present)
    for c in present:
        m = src == c
        w[m] = tokens[m] * (mass[c] ** float(cfg.channel_power) / norm) * total / mass[c]
    return w


def piece_weights(
    tokens: list[int], weights: list[float], cfg: FusionConfig, modality: str = "text", sources: list[str] | None = None
) -> np.ndarray:
    """Each piece's weight in its part's mean (rules in the module docstring). With ``sources`` (each
    piece's ``Segment.source``) and ``cfg.channel_power`` set, a video's channels are weighed by
    :func:`channel_weights` instead."""
    t = np.maximum(np.asarray(tokens, dtype=np.float64), cfg.min_tokens)
    if sources is not None and modality == "video" and cfg.channel_power is not None:
        return channel_weights(t, np.asarray(weights, dtype=np.float64), sources, cfg)
    w = t * np.asarray(weights, dtype=np.float64)
    if len(w) > 1 and modality not in cfg.plain:
        w[0] *= cfg.lead_weight
        # the floor needs an opening that says something: a first piece under min_tokens (a page whose
        # text layer is just its number, "1") keeps the ×2 lead but not a quarter of the vector
        if modality in cfg.positional and 0.0 < cfg.lead_share < 1.0 and tokens[0] >= cfg.min_tokens:
            w[0] = max(w[0], cfg.lead_share / (1.0 - cfg.lead_share) * w[1:].sum())
    return w


def pool_pieces(
    vectors: np.ndarray,
    tokens: list[int],
    weights: list[float],
    cfg: FusionConfig,
    modality: str = "text",
    sources: list[str] | None = None,
) -> np.ndarray:
    """Weighted mean of one part's piece vectors (n, d) → (d,), unit norm."""
    if len(vectors) == 1:
        return normalize(vectors)[0]
    w = piece_weights(tokens, weights, cfg, modality, sources).astype(np.float32)
    return normalize((w[:, None] * vectors).sum(0, keepdims=True))[0]


def fuse_parts(part_vectors: list[np.ndarray], modalities: list[str], cfg: FusionConfig) -> np.ndarray:
    """Modality-weighted sum of normalised part vectors → the content vector, unit norm."""
    if len(part_vectors) == 1:
        return normalize(part_vectors[0][None])[0]
    stacked = normalize(np.stack(part_vectors))
    w = np.asarray([cfg.weight_of(m) for m in modalities], dtype=np.float32)
    return normalize((w[:, None] * stacked).sum(0, keepdims=True))[0]

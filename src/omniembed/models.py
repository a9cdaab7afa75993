"""Known image-text models: where they are published, fetching them once, and listing what is installed.

omniembed never downloads at embed time. ``omniembed models pull NAME`` fetches a known model's ONNX
export into the models home (``OMNIEMBED_MODELS_DIR``, default ``~/.cache/omniembed/models``) with
``huggingface_hub`` when a hub is reachable, checks that every file the family needs arrived and that the
directory opens as a profile; after that, ``--profile <home>/<name>`` (or just ``--profile <name>``, see
:func:`resolve`) works offline. Where no hub is reachable (an air gap, this project's CI) pull fails within
seconds with a message saying how to copy a directory in by hand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidInput, MissingDependency, ModelCorrupt

__all__ = ["KNOWN", "KnownModel", "models_home", "installed", "pull", "resolve"]


@dataclass(frozen=True)
class KnownModel:
    name: str
    repo: str  # the hub repository holding the ONNX export (as published; not reachable from here)
    files: tuple[str, ...]
    family: str
    licence: str
    note: str = ""


_COMMON = ("config.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json")
KNOWN: dict[str, KnownModel] = {m.name: m for m in (
    KnownModel("jina-clip-v2", "jinaai/jina-clip-v2", _COMMON + ("onnx/model.onnx", "onnx/model.onnx_data"),
               "jina-clip", "CC BY-NC 4.0 (non-commercial; commercial use via Jina AI)",
               "multilingual text tower (89 languages, 8,192 tokens), 512 px images, Matryoshka 64-1024"),
    KnownModel("siglip2-base-patch16-224", "onnx-community/siglip2-base-patch16-224-ONNX",
               _COMMON + ("onnx/text_model.onnx", "onnx/vision_model.onnx"), "siglip", "Apache-2.0",
               "multilingual Gemma tokenizer, 64 text tokens, 768-d"),
    KnownModel("clip-vit-base-patch32", "Xenova/clip-vit-base-patch32",
               _COMMON + ("onnx/text_model.onnx", "onnx/vision_model.onnx"), "clip", "MIT",
               "English only, 77 text tokens, 512-d"),
)}


def models_home() -> Path:
    return Path(os.environ.get("OMNIEMBED_MODELS_DIR") or Path.home() / ".cache" / "omniembed" / "models").expanduser()


def resolve(name: str) -> str:
    """A known model's name → its installed directory, when installed; anything else unchanged."""
    d = models_home() / name
    return str(d) if name in KNOWN and d.is_dir() else name


def installed() -> list[dict]:
    """Model directories in the models home that a registered family recognises, with their profiles."""
    from .profiles import get_profile

    home = models_home()
    out = []
    for d in sorted(p for p in home.iterdir() if p.is_dir()) if home.is_dir() else []:
        size = sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
        try:
            p = get_profile(str(d))
            out.append({"name": d.name, "path": str(d), "profile": p.id, "dims": p.native_dim,
                        "min_dims": p.min_dimensionality, "bytes": size, "ok": True, "error": None})
        except (InvalidInput, ModelCorrupt) as exc:
            out.append({"name": d.name, "path": str(d), "profile": None, "dims": None, "min_dims": None,
                        "bytes": size, "ok": False, "error": str(exc)})
    return out


def pull(name: str, *, timeout_s: float = 10.0) -> Path:
    """Fetch a known model into the models home and check it opens; fail fast without a hub."""
    model = KNOWN.get(name)
    if model is None:
        raise InvalidInput(f"unknown model {name!r}; known: {', '.join(KNOWN)} (or copy any CLIP, SigLIP or "
                           "jina-clip ONNX directory in by hand and pass it to --profile)")
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise MissingDependency(
            "omniembed models pull needs huggingface_hub (pip install huggingface_hub); or download "
            f"{model.repo} elsewhere and copy {', '.join(model.files)} into {models_home() / name}"
        ) from None
    _check_reachable(model, timeout_s)
    dest = models_home() / name
    for f in model.files:
        hf_hub_download(model.repo, f, local_dir=str(dest))  # hub files are checked against their etag
    missing = [f for f in model.files if not (dest / f).is_file() or (dest / f).stat().st_size == 0]
    if missing:
        raise ModelCorrupt(f"{dest}: {', '.join(missing)} did not arrive")
    from .profiles import get_profile

    get_profile(str(dest)).load_encoders()  # the graphs load: the download is usable
    return dest


def _check_reachable(model: KnownModel, timeout_s: float) -> None:
    import socket
    from urllib.parse import urlparse

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    host = urlparse(endpoint).hostname or "huggingface.co"
    port = urlparse(endpoint).port or (443 if endpoint.startswith("https") else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise MissingDependency(
            f"cannot reach the model hub at {endpoint} ({exc.__class__.__name__}: {exc}); models are never "
            f"fetched at embed time. On a connected machine run `omniembed models pull {model.name}` (or "
            f"download {model.repo}) and copy the directory to {models_home() / model.name}"
        ) from None

"""Media decoding and the per-modality pipelines of the lite profile.

``PIPELINES`` maps a modality to the function that turns a :class:`MediaSource` into
:class:`~omniembed.evidence.Evidence`. Pipelines are imported lazily so that a text-only call
never loads image, PDF, audio or video libraries.
"""

from __future__ import annotations

import importlib
from typing import Callable

from ..errors import MissingDependency, OmniEmbedError, RequestCancelled
from ..evidence import Evidence, MediaContext
from .source import Limits, MediaSource, sniff

__all__ = ["Limits", "MediaSource", "sniff", "extract", "extract_many", "PIPELINES", "BATCHED",
           "OPTIONAL_MODULES", "missing_extra", "extract_each"]

PIPELINES: dict[str, str] = {
    "text": "omniembed.media.text:extract",
    "image": "omniembed.media.image:extract",
    "pdf": "omniembed.media.pdf:extract",
    "audio": "omniembed.media.audio:extract",
    "video": "omniembed.media.video:extract",
}


#: Pipelines that gain from seeing many sources at once (audio: short clips share Whisper windows).
BATCHED: dict[str, str] = {
    "audio": "omniembed.media.audio:extract_many",
}


#: Top-level modules that only an optional extra brings, and that extra. Pipelines import them lazily
#: (inside functions, so a text-only call never loads them); :func:`extract` turns their absence into
#: :class:`MissingDependency` naming the extra instead of a raw ``ModuleNotFoundError``.
OPTIONAL_MODULES: dict[str, str] = {"av": "media", "faster_whisper": "media", "ctranslate2": "media"}


def missing_extra(exc: ImportError, what: str) -> MissingDependency | None:
    """``MissingDependency`` for an ImportError of an optional module, or None for anything else."""
    root = (getattr(exc, "name", None) or "").split(".")[0]
    extra = OPTIONAL_MODULES.get(root)
    if extra is None:
        return None
    return MissingDependency(f"{what} needs the {root!r} package of the {extra!r} extra; "
                             f"install it with: pip install 'omniembed[{extra}]'")


def _pipeline(modality: str, table: dict[str, str] = PIPELINES) -> Callable:
    module, _, attr = table[modality].partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise missing_extra(exc, f"the {modality} pipeline") or MissingDependency(
            f"the {modality} pipeline needs an optional dependency ({exc.name or exc}); "
            "install it with: pip install 'omniembed[media]'"
        ) from None


def extract(src: MediaSource, ctx: MediaContext) -> Evidence:
    """Run the pipeline for the source's sniffed modality."""
    try:
        return _pipeline(src.modality)(src, ctx)
    except ImportError as exc:
        err = missing_extra(exc, f"embedding {src.modality} ({src.mime})")
        if err is None:
            raise
        raise err from None


def extract_many(srcs: list[MediaSource], ctx: MediaContext) -> list[Evidence | OmniEmbedError]:
    """Run the pipelines for many sources; per source its evidence, or the typed error it raised.

    Sources of a modality in ``BATCHED`` go to that pipeline together (a list of short voice notes is
    transcribed in shared Whisper windows, several times faster than one by one); the others one by
    one, as :func:`extract`."""
    out: list[Evidence | OmniEmbedError | None] = [None] * len(srcs)
    by_modality: dict[str, list[int]] = {}
    for i, src in enumerate(srcs):
        by_modality.setdefault(src.modality, []).append(i)
    for modality, idx in by_modality.items():
        if modality in BATCHED and len(idx) > 1:
            for i, res in zip(idx, _pipeline(modality, BATCHED)([srcs[i] for i in idx], ctx)):
                out[i] = res
            continue
        for i, res in zip(idx, extract_each([srcs[i] for i in idx], ctx)):
            out[i] = res
    return out  # type: ignore[return-value]


def extract_each(
    srcs: list[MediaSource], ctx: MediaContext, run: Callable[[MediaSource, MediaContext], Evidence] = extract
) -> list[Evidence | OmniEmbedError]:
    """``run`` on each source alone; per source its evidence, or the typed error it raised (a stopped
    request stops here, not after the other files)."""
    out: list[Evidence | OmniEmbedError] = []
    for src in srcs:
        try:
            out.append(run(src, ctx))
        except RequestCancelled:
            raise
        except OmniEmbedError as exc:
            out.append(exc)
    return out

"""Media decoding and the per-modality pipelines of the lite profile.

The modality table (``omniembed.modalities``) names, per modality, the function that turns a
:class:`MediaSource` into :class:`~omniembed.evidence.Evidence` (and, for audio and video, the router
that decides from the streams which of the two reads a container). Pipelines are imported lazily so
that a text-only call never loads image, PDF, audio or video libraries.
"""

from __future__ import annotations

import importlib
from functools import partial
from typing import Callable

from ..errors import MissingDependency, OmniEmbedError, RequestCancelled
from ..evidence import Evidence, MediaContext
from ..modalities import get_modality
from .source import Limits, MediaSource, sniff

__all__ = ["Limits", "MediaSource", "sniff", "extract", "extract_many", "routed_modality",
           "OPTIONAL_MODULES", "missing_extra", "extract_each"]

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


def _resolve(ref: str | Callable, what: str) -> Callable:
    """A table entry's function: itself, or its ``"module:function"`` imported now."""
    if callable(ref):
        return ref
    module, _, attr = ref.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise missing_extra(exc, what) or MissingDependency(
            f"{what} needs an optional dependency ({exc.name or exc}); "
            "install it with: pip install 'omniembed[media]'"
        ) from None


def _pipeline(modality: str, batched: bool = False) -> Callable:
    m = get_modality(modality)
    return _resolve(m.batched if batched and m.batched else m.pipeline, f"the {modality} pipeline")


def routed_modality(src: MediaSource) -> str:
    """The modality whose pipeline reads ``src``: its sniffed one, unless the table gives that modality
    a router that looks inside (an MP4 without pictures is audio; a silent ``audio/mp4`` is video)."""
    m = get_modality(src.modality)
    if m.route is None:
        return src.modality
    try:
        return _resolve(m.route, f"reading {src.modality} ({src.mime})")(src)
    except ImportError as exc:
        err = missing_extra(exc, f"embedding {src.modality} ({src.mime})")
        if err is None:
            raise
        raise err from None


def extract(src: MediaSource, ctx: MediaContext, modality: str | None = None) -> Evidence:
    """Run the pipeline for ``modality`` (default: the source's, as routed by :func:`routed_modality`)."""
    try:
        return _pipeline(modality or routed_modality(src))(src, ctx)
    except ImportError as exc:
        err = missing_extra(exc, f"embedding {src.modality} ({src.mime})")
        if err is None:
            raise
        raise err from None


def extract_many(srcs: list[MediaSource], ctx: MediaContext) -> list[Evidence | OmniEmbedError]:
    """Run the pipelines for many sources; per source its evidence, or the typed error it raised.

    Sources of a modality with a batched pipeline in the table go to it together (a list of short voice
    notes is transcribed in shared Whisper windows, several times faster than one by one); the others
    one by one, as :func:`extract`."""
    out: list[Evidence | OmniEmbedError | None] = [None] * len(srcs)
    by_modality: dict[str, list[int]] = {}
    for i, src in enumerate(srcs):
        try:
            modality = routed_modality(src)
        except RequestCancelled:
            raise
        except OmniEmbedError as exc:
            out[i] = exc
            continue
        by_modality.setdefault(modality, []).append(i)
    for modality, idx in by_modality.items():
        if get_modality(modality).batched:  # even for one source: it reads as it would among others
            for i, res in zip(idx, _pipeline(modality, batched=True)([srcs[i] for i in idx], ctx)):
                out[i] = res
            continue
        for i, res in zip(idx, extract_each([srcs[i] for i in idx], ctx, partial(extract, modality=modality))):
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

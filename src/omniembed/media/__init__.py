"""Media decoding and the per-modality pipelines of the lite profile.

``PIPELINES`` maps a modality to the function that turns a :class:`MediaSource` into
:class:`~omniembed.evidence.Evidence`. Pipelines are imported lazily so that a text-only call
never loads image, PDF, audio or video libraries.
"""

from __future__ import annotations

import importlib
from typing import Callable

from ..errors import MissingDependency
from ..evidence import Evidence, MediaContext
from .source import Limits, MediaSource, sniff

__all__ = ["Limits", "MediaSource", "sniff", "extract", "PIPELINES"]

PIPELINES: dict[str, str] = {
    "text": "omniembed.media.text:extract",
    "image": "omniembed.media.image:extract",
    "pdf": "omniembed.media.pdf:extract",
    "audio": "omniembed.media.audio:extract",
    "video": "omniembed.media.video:extract",
}


def _pipeline(modality: str) -> Callable[[MediaSource, MediaContext], Evidence]:
    module, _, attr = PIPELINES[modality].partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise MissingDependency(
            f"the {modality} pipeline needs an optional dependency ({exc.name or exc}); "
            "install it with: pip install 'omniembed[media]'"
        ) from None


def extract(src: MediaSource, ctx: MediaContext) -> Evidence:
    """Run the pipeline for the source's sniffed modality."""
    return _pipeline(src.modality)(src, ctx)

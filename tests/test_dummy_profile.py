"""The dummy profile's fake media readers (encoders/dummy.py): deterministic, located where the sound and
the pixels are, and wired through the profile's encoder slots so no model loads; a named speech model
puts real Whisper back. Real media: espeak-ng speech and ffmpeg silence, Pillow pictures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from media_factory import text_image
from media_gen import concat, ffmpeg, speak, with_silence
from omniembed import Embedder
from omniembed.encoders import asr
from omniembed.encoders.asr import SAMPLE_RATE, AsrOptions
from omniembed.encoders.dummy import EnergySpeech, PatternReader


@pytest.fixture(scope="module")
def padded(tmp_path_factory) -> Path:
    """Two sentences: 2 s of silence, the first, 3 s of silence, the second (16 kHz mono)."""
    d = tmp_path_factory.mktemp("dummy")
    a = with_silence(speak(d / "a.wav", "The quarterly budget meeting moved to Thursday."), d / "a2.wav", 2.0, 3.0)
    return concat([a, speak(d / "b.wav", "Water the tomato plants every evening.")], d / "padded.wav")


def _samples(path: Path) -> np.ndarray:
    from faster_whisper.audio import decode_audio

    return decode_audio(str(path))


def test_fake_speech_is_located_deterministic_and_hears_no_silence(padded):
    fake = EnergySpeech()
    samples = _samples(padded)
    segs = fake.transcribe_block(samples, 10.0, AsrOptions())
    assert len(segs) == 2  # the 3 s pause separates the sentences
    first, second = segs
    assert 11.8 <= first.start <= 12.2 and first.end < second.start - 2.5  # absolute: offset + 2 s of silence
    assert second.end <= 10.0 + len(samples) / SAMPLE_RATE + 1e-6
    assert first.text and first.text != second.text and {s.language for s in segs} == {"en"}
    assert [s.text for s in fake.transcribe_block(samples, 10.0, AsrOptions())] == [s.text for s in segs]
    assert fake.transcribe_block(np.zeros(SAMPLE_RATE * 3, np.float32), 0.0, AsrOptions()) == []
    assert fake.transcribe_block(samples, 0.0, AsrOptions(language="de"))[0].language == "de"
    # clips: seconds from each clip's start, the same as one by one
    clips = fake.transcribe_clips([samples, samples[: 4 * SAMPLE_RATE]], AsrOptions())
    assert [s.start for s in clips[0]] == [round(s.start - 10.0, 2) for s in segs]


def test_fake_reader_reads_patterns_not_blank_pictures():
    reader = PatternReader()
    page = np.asarray(text_image(["Quarterly invoice approval"], size=(500, 120)))
    res = reader.read(page)
    assert res.text and res.confidence == 1.0 and reader.read(page).text == res.text
    other = np.asarray(text_image(["Kubernetes cluster upgrade", "second line"], size=(500, 120)))
    assert reader.read(other).text != res.text
    assert reader.read(np.full((120, 500, 3), 255, np.uint8)).text == ""


def test_dummy_profile_loads_no_model_and_a_speech_model_brings_whisper_back(padded, tmp_path):
    picture = tmp_path / "slide.png"
    text_image(["Kubernetes cluster upgrade"], size=(500, 120)).save(picture)
    tone = tmp_path / "tone.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "2", str(tone))  # digital silence
    loaded = set(asr._shared)
    dummy = Embedder("dummy")
    speech, slide, silent = dummy.embed_detailed([padded, picture, tone])
    assert set(asr._shared) == loaded  # no Whisper was loaded for it
    assert [p.source for p in speech.pieces] == ["asr"] and speech.pieces[0].start_s >= 1.8
    assert [p.source for p in slide.pieces] == ["ocr"]
    assert "no_speech" in silent.flags
    assert np.allclose(dummy.embed(padded), dummy.embed(padded))

    profile = Embedder("dummy", speech_model=asr.model_dir()).engine.profile.load_encoders()
    assert profile.speech is None and profile.speech_model is not None and profile.reader is not None

"""Profiles that hear, end to end with the tiny models: a folder of speech, sounds and a video is indexed
with a sound model (and a speech model directory), searched, and served.

Real media (espeak-ng speech, ffmpeg video and tones), the real store, real CLI subprocesses, a real
server. The tiny CLAP has random weights, so its tags name arbitrary AudioSet classes; what is checked is
the path — tags made, shown as piece text, embedded through e5, found by a query and by an audio query —
not the tags' meaning (the models' correctness is proven in test_audio_models.py).
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from audio_signals import tiny_whisper_dir, tone_mix  # noqa: E402
from media_gen import slide_video, speak  # noqa: E402
from test_cli import cli  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "tiny_models"
CLAP = FIXTURES / "clap-unfused"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    import soundfile as sf

    d = tmp_path_factory.mktemp("hearing") / "media"
    d.mkdir()
    speak(d / "backup.wav", "The backup server failed twice during the night.")
    sf.write(d / "tones.wav", tone_mix(14.0, 44_100, 11), 44_100)
    rng = np.random.default_rng(5)
    sf.write(d / "hiss.flac", (0.2 * rng.standard_normal(6 * 48_000)).astype(np.float32), 48_000)
    narration = speak(d.parent / "narration.wav", "Quarterly budget review")
    slide_video(d / "slides.mp4", [(0, 4, "Budget 2026")], 5.0, narration=narration)
    return d


@pytest.fixture(scope="module")
def heard(folder):
    """lite + CLAP in this process, and its results for tones, hiss, backup and the video (in that order):
    made once, read by the profile test and by the server test (the server's tones vector)."""
    from omniembed import Embedder

    emb = Embedder(sound_model=CLAP)
    return emb, emb.embed_detailed([folder / "tones.wav", folder / "hiss.flac", folder / "backup.wav",
                                    folder / "slides.mp4"])


def test_sound_model_profile_and_pieces(folder, heard):
    """lite + CLAP: its own profile id; non-speech audio is tagged, the tags are the pieces' text; a
    recording with speech keeps its transcript as the main channel (sound share 1/4)."""
    from omniembed import Embedder, get_profile
    from omniembed.media.sounds import SOUND_SHARE

    emb, (tones, hiss, backup, video) = heard
    assert emb.profile.id.startswith("omniembed-lite-clap-") and emb.profile.id != "omniembed-lite-1"
    assert get_profile(CLAP).id == emb.profile.id  # the directory as --profile: the same profile
    assert get_profile(emb.profile.id) is not None
    for r in (tones, hiss):
        assert r.profile == emb.profile.id and {"sounds", "no_speech"} <= r.flags
        assert r.pieces and all(p.source == "sound" and p.text.startswith("sounds like: ") for p in r.pieces)
        assert any("sounds (tag score)" in n for n in r.notes)
    assert tones.pieces[0].start_s == 0.0 and tones.pieces[-1].end_s == pytest.approx(14.0, abs=0.05)
    speech = [p for p in backup.pieces if p.source == "asr"]
    sound = [p for p in backup.pieces if p.source == "sound"]
    assert speech and sound and "server" in speech[0].text.lower()
    mass = lambda ps: sum(len(p.text) * p.weight for p in ps)  # noqa: E731
    assert mass(sound) / (mass(sound) + mass(speech)) == pytest.approx(SOUND_SHARE, rel=0.3)
    assert {"asr", "sound"} <= {p.source for p in video.pieces}
    # lite alone is unchanged: the same tones file is a "no speech" description there
    lite = Embedder().embed_detailed([folder / "tones.wav"])[0]
    assert lite.profile == "omniembed-lite-1" and [p.source for p in lite.pieces] == ["description"]


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory) -> Path:
    return tiny_whisper_dir(tmp_path_factory.mktemp("w") / "tiny-whisper")


def test_bad_model_directories(tmp_path):
    from omniembed import Embedder
    from omniembed.errors import InvalidInput

    with pytest.raises(InvalidInput, match="not a CLAP model directory"):
        Embedder(sound_model=tmp_path)
    with pytest.raises(InvalidInput, match="lacks model.bin"):
        Embedder(speech_model=tmp_path)
    with pytest.raises(InvalidInput, match="not a directory"):
        Embedder(speech_model="large-v3")  # a hub name would mean a download: refused


def test_speech_model_directory_replaces_whisper_base(folder, tiny_whisper):
    """lite + another Whisper (here the tiny random one): same profile id, its transcript comes from that
    model through the same Asr path (blocks, VAD, language id), no image model involved."""
    from omniembed import Embedder
    from omniembed.encoders.asr import AsrOptions, get_asr
    from omniembed.media.audio import decode_blocks
    from omniembed.media.source import Limits, MediaSource

    emb = Embedder(speech_model=tiny_whisper, asr_options={"language": "en", "vad": False})
    assert emb.profile.id == "omniembed-lite-1"
    assert emb.engine.encoders.image is None and emb.engine.encoders.speech_model == str(tiny_whisper.resolve())
    res = emb.embed_detailed([folder / "backup.wav"])[0]
    src = MediaSource.from_path(folder / "backup.wav", None, Limits())
    (_, block), = list(decode_blocks(src, Limits()))
    # a short file, alone: the batched clip path (AsrOptions.pack_clips), as for Whisper base
    want = get_asr(tiny_whisper).transcribe_clips([block], AsrOptions(language="en", vad=False))[0]
    got = [p for p in res.pieces if p.source == "asr"]
    assert want and " ".join(p.text for p in got) == " ".join(s.text for s in want)
    assert "server" not in got[0].text.lower()  # random weights: not Whisper base's reading


def _here(*args: str):
    """The same ``omniembed`` command in this process (typer's CliRunner), for the status and the four
    searches: the command code is the one a ``python -m omniembed`` subprocess runs, but e5, Whisper and
    CLAP, loaded here already, are not loaded again for each query. The index run and the two refusals
    stay real processes with their exit codes (as does tests/test_cli.py)."""
    from typer.testing import CliRunner

    from omniembed.cli import app

    return CliRunner().invoke(app, list(args))


def test_index_search_and_audio_query(folder, tmp_path):
    """omniembed index --sound-model, then search by words, by a recording, and refusal to mix profiles."""
    store = tmp_path / "store"
    r = cli("index", str(folder), "--store", str(store), "--sound-model", str(CLAP), "--json")
    assert r.returncode == 0, r.stderr.decode()
    report = json.loads(r.stdout)
    assert report["indexed"] == 4 and not report["failed"]
    status = _here("status", "--store", str(store), "--json")
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["profile"].startswith("omniembed-lite-clap-")

    def search(*args):
        out = _here("search", *args, "--store", str(store), "--sound-model", str(CLAP), "--json")
        assert out.exit_code == 0, out.output
        return json.loads(out.stdout)

    hits = search("backup server failed")
    assert Path(hits[0]["path"]).name == "backup.wav"
    hits = search("--audio", str(folder / "tones.wav"))  # "find recordings like this one"
    assert Path(hits[0]["path"]).name == "tones.wav"
    tag_text = next(h for h in search("--audio", str(folder / "hiss.flac"), "--chunks")
                    if Path(h["path"]).name == "hiss.flac")["snippet"]
    assert tag_text.startswith("sounds like: ")  # search shows the tags
    hits = search(tag_text.removeprefix("sounds like: "), "--type", "audio")
    assert Path(hits[0]["path"]).name == "hiss.flac"
    # the store's profile names the sound model: without it, or with plain lite, no mixing
    r = cli("search", "backup", "--store", str(store))
    assert r.returncode != 0 and b"omniembed-lite-clap-" in r.stderr
    r = cli("index", str(folder), "--store", str(store))
    assert r.returncode != 0


def test_serve_with_a_sound_model(folder, heard, tmp_path):
    """omniembed serve --sound-model: the profile's model name is served and an audio part's vector (made
    in a spawned worker process) equals the library's."""
    import httpx

    from server_harness import ServerProcess

    emb, (tones, *_) = heard
    data = base64.b64encode((folder / "tones.wav").read_bytes()).decode()
    body = {"content": {"parts": [{"inlineData": {"mimeType": "audio/wav", "data": data}}]}}
    with ServerProcess(tmp_path / "srv", "--sound-model", str(CLAP)) as srv:
        models = httpx.get(f"{srv.url}/v1beta/models", timeout=30).json()
        assert any(emb.profile.model_name in m["name"] for m in models["models"])
        r = httpx.post(f"{srv.url}/v1beta/models/{emb.profile.model_name}:embedContent", json=body, timeout=120)
    assert r.status_code == 200, r.text
    got = np.asarray(r.json()["embedding"]["values"], np.float32)
    assert float(got @ tones.vector) > 0.999

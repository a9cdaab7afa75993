"""Audio on real speech (espeak-ng): model assembly, streaming decode, transcripts, timestamps,
languages, retrieval, no-speech audio and bad input. Clips are a few seconds long."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from media_gen import concat, convert, ffmpeg, speak, with_silence
from media_gen import context as _ctx
from media_gen import source as _src
from omniembed import Part
from omniembed.encoders.asr import SAMPLE_RATE, AsrOptions, model_dir
from omniembed.errors import DecodeError, DecodeTimeout, InvalidInput, MediaTooLarge, UnsupportedMediaType
from omniembed.media import audio, av
from omniembed.media.source import Limits, MediaSource

BUDGET = "The quarterly budget meeting moved to Thursday afternoon."
GARDEN = "Water the tomato plants in the garden every evening."
DE = "Der Zug nach Berlin hat heute zwanzig Minuten Verspätung."
FR = "Le musée ferme ses portes à six heures ce soir."


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("audio")
    m = {
        "budget": speak(d / "budget.wav", BUDGET),
        "garden": speak(d / "garden.wav", GARDEN),
        "de": speak(d / "de.wav", DE, "de"),
        "fr": speak(d / "fr.wav", FR, "fr-fr"),
    }
    # two sentences with silence around them: timestamps must be absolute
    m["padded"] = concat(
        [with_silence(m["budget"], d / "b1.wav", 2.0, 3.0), m["garden"]], d / "padded.wav"
    )
    return m


def _words(text: str) -> set[str]:
    return {w.strip(".,!?").lower() for w in text.split()}


# --------------------------------------------------------------------------------- the model ---


def test_model_is_assembled_once_verified_and_reused(tmp_path):
    shared = model_dir()
    manifest = json.loads((shared / "omniembed-manifest.json").read_text())
    assert (shared / "model.bin").stat().st_size == manifest["files"]["model.bin"]["size"] > 140_000_000
    assert {"config.json", "tokenizer.json", "vocabulary.json"} <= set(manifest["files"])

    # a fresh cache: assembled atomically (no temp directory left), then reused as is
    cache = tmp_path / "whisper"
    assert model_dir(cache) == cache
    mtime = (cache / "model.bin").stat().st_mtime_ns
    assert model_dir(cache) == cache and (cache / "model.bin").stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.iterdir()] == ["whisper"]
    got = json.loads((cache / "omniembed-manifest.json").read_text())["files"]["model.bin"]["sha256"]
    assert got == manifest["files"]["model.bin"]["sha256"]

    # a damaged cache (truncated model.bin) is detected by size and rebuilt
    with open(cache / "model.bin", "r+b") as fh:
        fh.truncate(1000)
    assert model_dir(cache) == cache
    assert (cache / "model.bin").stat().st_size == manifest["files"]["model.bin"]["size"]


def test_asr_options_are_validated():
    assert AsrOptions.from_dict({"languages": "de"}).languages == ("de",)
    with pytest.raises(InvalidInput, match="unknown ASR option"):
        AsrOptions.from_dict({"langauge": "de"})
    with pytest.raises(InvalidInput, match="translate"):
        AsrOptions.from_dict({"task": "summarise"})
    with pytest.raises(InvalidInput, match="lid_candidates"):
        AsrOptions.from_dict({"lid_candidates": 9})
    with pytest.raises(InvalidInput, match="lid_keep"):
        AsrOptions.from_dict({"lid_keep": "first"})
    with pytest.raises(InvalidInput, match="german"):
        AsrOptions.from_dict({"language": "german"})
    with pytest.raises(InvalidInput, match="at least one"):
        AsrOptions.from_dict({"languages": []})


# ------------------------------------------------------------------------------------ decode ---


@pytest.mark.parametrize(
    "suffix,codec",
    [
        (".mp3", ("-c:a", "libmp3lame", "-b:a", "32k")),
        (".flac", ("-c:a", "flac", "-ar", "44100", "-ac", "2")),
        (".ogg", ("-c:a", "libopus", "-b:a", "24k")),
        (".m4a", ("-c:a", "aac", "-b:a", "48k", "-ar", "48000", "-ac", "2")),
        (".webm", ("-c:a", "libopus", "-vn")),
    ],
)
def test_any_ffmpeg_format_decodes_to_16k_mono(media, tmp_path, suffix, codec):
    f = convert(media["budget"], tmp_path / f"budget{suffix}", *codec)
    src = _src(f)
    blocks = list(av.decode_blocks(src, Limits()))
    assert len(blocks) == 1 and blocks[0][0] == 0.0
    samples = blocks[0][1]
    assert samples.dtype == np.float32 and samples.ndim == 1
    ref = list(av.decode_blocks(_src(media["budget"]), Limits()))[0][1]
    assert abs(len(samples) - len(ref)) < 0.1 * SAMPLE_RATE  # same duration after resampling (codec padding aside)
    assert 0.05 < float(np.abs(samples).max()) <= 1.0


def test_long_audio_is_decoded_in_bounded_blocks_cut_in_silence(media, tmp_path):
    # 40 s of silence, a sentence, 30 s of silence, a sentence: ~80 s in 30 s blocks
    silence = tmp_path / "silence.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "40", str(silence))
    short = tmp_path / "silence30.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "30", str(short))
    long = concat([silence, media["budget"], short, media["garden"]], tmp_path / "long.wav")
    blocks = list(av.decode_blocks(_src(long), Limits(), block_s=30.0))
    assert len(blocks) >= 3
    expected = 0.0
    for start, samples in blocks:
        assert start == pytest.approx(expected, abs=1e-6)  # contiguous, absolute
        assert len(samples) <= 40 * SAMPLE_RATE  # one block + the 10 s search margin at most
        expected = start + len(samples) / SAMPLE_RATE
    total = sum(len(b) for _, b in blocks)
    assert total == pytest.approx(sum(len(b) for _, b in av.decode_blocks(_src(long), Limits(), 600.0)))

    ev = audio.extract(_src(long), _ctx(block_s=30.0, window_s=10.0))
    assert [s.source for s in ev.segments] == ["asr", "asr"]
    first, second = ev.segments
    assert {"budget", "thursday"} <= _words(first.text)
    assert 39.0 <= first.start_s <= 41.5, first  # absolute time, across block boundaries
    assert "tomato" in _words(second.text) or "garden" in _words(second.text)
    assert second.start_s > first.end_s + 25


# ------------------------------------------------------------------------------- transcripts ---


def test_english_transcript_windows_have_absolute_timestamps(media):
    ev = audio.extract(_src(media["padded"]), _ctx(window_s=5.0))
    assert ev.modality == "audio" and not ev.flags
    assert all(s.source == "asr" and s.language == "en" for s in ev.segments)
    assert len(ev.segments) == 2  # one window per sentence: they are > 5 s apart
    first, second = ev.segments
    assert {"quarterly", "budget", "meeting", "thursday"} <= _words(first.text)
    assert {"tomato", "garden", "evening"} & _words(second.text)
    assert 1.4 <= first.start_s <= 2.6  # 2 s of leading silence
    assert first.end_s <= second.start_s
    assert second.start_s >= first.start_s + 5.5  # after the first sentence and 3 s of silence


@pytest.fixture(scope="module")
def de_default(media):
    """The German clip with the default options (one Whisper reading, shared by two tests)."""
    return audio.extract(_src(media["de"]), _ctx())


def test_german_is_identified_and_transcribed(de_default):
    (seg,) = de_default.segments
    assert seg.language == "de"
    assert {"zug", "berlin"} <= _words(seg.text)


def test_language_hints_and_translation(media):
    """espeak's French voice is heard as Spanish, Thai or English by Whisper base's language id; a caller
    who knows the language says so, one who knows the candidates restricts them, and Whisper's
    translate task turns any language into English text."""
    forced = audio.extract(_src(media["fr"]), _ctx(language="fr"))
    assert {s.language for s in forced.segments} == {"fr"}
    # French text (function words), not Spanish; espeak's French stays hard for Whisper base (docs)
    assert {"le", "la", "les", "de", "et", "ses", "ce"} & _words(forced.segments[0].text)

    restricted = audio.extract(_src(media["de"]), _ctx(languages=["fr", "de"]))
    assert {s.language for s in restricted.segments} == {"de"}

    translated = audio.extract(_src(media["de"]), _ctx(task="translate"))
    words = _words(translated.segments[0].text)
    assert {"berlin", "minutes"} <= words and not {"zug", "nach", "hat", "minuten"} & words
    assert any("translated" in n for n in translated.notes)


def test_same_audio_same_transcript(tmp_path):
    """Hard audio (espeak's French, which Whisper base mis-hears and is unsure about) gives the same
    transcript every time: an embedding must be a function of its input. Whisper's temperature
    fallback samples tokens and is not seedable, so it is off by default; it stays available."""
    # a clip on which the fallback (temperatures=[0.0, 0.2, …, 1.0]) gave 3 transcripts in 3 runs: two
    # runs tell a sampled transcript from a deterministic one (a run costs ~16 s of CPU, measured 2026-12-01)
    hard = speak(tmp_path / "hard.wav", "Les chercheurs ont mesuré la température du glacier pendant six semaines.", "fr-fr")
    runs = [audio.extract(_src(hard), _ctx()).segments for _ in range(2)]
    assert len({tuple((s.text, s.language, s.start_s, s.end_s) for s in segs) for segs in runs}) == 1
    assert AsrOptions.from_dict({"temperatures": 0.2}).temperatures == (0.2,)
    with pytest.raises(InvalidInput, match="temperatures"):
        AsrOptions.from_dict({"temperatures": [1.5]})


def test_unsure_language_is_kept_in_both_readings(media, de_default):
    """When language identification is unsure (here forced: threshold 1.0), the block is decoded in
    the top two languages; ``lid_keep="all"`` embeds both readings in one window (the transcript in the
    most probable language first), ``"best"`` keeps the one Whisper scores best."""
    one = de_default  # the default options: identification is sure (no note below), so one reading
    ev = audio.extract(_src(media["de"]), _ctx(lid_candidates=2, lid_threshold=1.0))
    (seg,) = ev.segments
    assert seg.language == "de" and seg.text.startswith(one.segments[0].text)
    assert len(seg.text) > len(one.segments[0].text) + 10  # the other reading follows
    assert (seg.start_s, seg.end_s) == (one.segments[0].start_s, one.segments[0].end_s)
    assert any("language unsure for 0:0" in n for n in ev.notes)
    assert not any("unsure" in n for n in one.notes)

    best = audio.extract(_src(media["de"]), _ctx(lid_candidates=2, lid_threshold=1.0, lid_keep="best"))
    (b,) = best.segments
    assert b.text == one.segments[0].text or b.language != "de"  # one reading, whichever scores best
    assert not any("unsure" in n for n in best.notes)


def test_audio_without_speech_still_gets_a_vector(embedder, tmp_path):
    tone = tmp_path / "tone.ogg"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=4", "-c:a", "libvorbis", str(tone))
    (res,) = embedder.embed_detailed([tone])
    assert "no_speech" in res.flags
    assert any("heard no words" in n for n in res.notes)
    assert res.pieces[0].source == "description" and res.pieces[0].end_s == pytest.approx(4.0, abs=0.2)
    assert np.linalg.norm(res.vector) == pytest.approx(1.0, abs=1e-5)


# --------------------------------------------------------------------------------- retrieval ---


def test_text_query_ranks_the_right_clip_first(embedder, media, tmp_path):
    mp3 = convert(media["budget"], tmp_path / "budget.mp3", "-c:a", "libmp3lame", "-b:a", "32k")
    webm = convert(media["garden"], tmp_path / "garden.webm", "-c:a", "libopus", "-vn")  # sniffed video/webm
    clips = [mp3, webm, media["de"]]
    docs = embedder.embed_detailed(clips)
    assert [r.modalities for r in docs] == [["audio"], ["audio"], ["audio"]]
    assert docs[0].pieces[0].start_s is not None and docs[0].pieces[0].language == "en"
    matrix = np.stack([r.vector for r in docs])
    queries = ["when is the budget meeting", "how often should I water the tomatoes", "train delay to Berlin"]
    q = embedder.embed(queries, task_type="RETRIEVAL_QUERY")
    assert list(np.argmax(q @ matrix.T, axis=1)) == [0, 1, 2]


# ------------------------------------------------------------------------------------ bad input ---


def _wav_header(n_data: int, rate: int = 16000) -> bytes:
    return (
        b"RIFF" + struct.pack("<I", 36 + n_data) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data" + struct.pack("<I", n_data)
    )


def test_bad_audio_gives_typed_errors(embedder, media, tmp_path):
    limits = Limits()
    # claims MP3 (ID3 tag) but the rest is noise
    fake = b"ID3\x03\x00\x00\x00\x00\x00\x0a" + bytes(range(256)) * 40
    with pytest.raises(DecodeError):
        audio.extract(MediaSource.from_bytes(fake, "audio/mpeg", limits), _ctx())
    # text declared as MP3
    with pytest.raises((DecodeError, UnsupportedMediaType)):
        embedder.embed([Part.from_bytes(b"not an mp3 at all, just text\n" * 20, "audio/mpeg")])
    # a WAV with a header and zero samples
    with pytest.raises(DecodeError, match="zero length|no samples|cannot"):
        audio.extract(MediaSource.from_bytes(_wav_header(0), "audio/wav", limits), _ctx())
    # truncated container
    m4a = convert(media["budget"], tmp_path / "x.m4a", "-c:a", "aac")
    with pytest.raises(DecodeError):
        audio.extract(MediaSource.from_bytes(m4a.read_bytes()[:300], None, limits), _ctx())


def test_duration_and_time_limits(media):
    # a header that claims ~37 hours on a 200 KB file is implausible: the decoded samples decide
    data = media["budget"].read_bytes()
    lying = data[:40] + struct.pack("<I", 0xFFFFFF00) + data[44:]
    blocks = list(av.decode_blocks(MediaSource.from_bytes(lying, "audio/wav", Limits()), Limits()))
    assert 3.0 < sum(len(b) for _, b in blocks) / SAMPLE_RATE < 8.0
    # a real duration above the limit
    with pytest.raises(MediaTooLarge):
        audio.extract(_src(media["padded"]), _ctx(Limits(max_media_seconds=3.0)))
    # the decoder's time limit
    with pytest.raises(DecodeTimeout):
        audio.extract(_src(media["padded"]), _ctx(Limits(decode_timeout_s=0.0)))


def test_cli_transcribe_prints_timestamped_windows(media):
    from typer.testing import CliRunner

    from omniembed.cli import app

    res = CliRunner().invoke(app, ["transcribe", "--json", "--language", "de", str(media["de"])])
    assert res.exit_code == 0, res.output
    (out,) = json.loads(res.stdout)
    assert out["modality"] == "audio"
    (seg,) = out["segments"]
    assert seg["language"] == "de" and seg["source"] == "asr" and 0 <= seg["start_s"] < seg["end_s"] < 6
    assert "berlin" in seg["text"].lower()


def test_cli_speech_language_options(media):
    """embed / index / serve take the language of the recordings (--speech-language) or the set they
    use (--speech-languages); a bad value stops the command before any work."""
    from typer.testing import CliRunner

    from omniembed.cli import app

    res = CliRunner().invoke(app, ["embed", "--detailed", "--speech-language", "fr", str(media["de"])])
    assert res.exit_code == 0, res.output
    (out,) = json.loads(res.stdout)
    assert {p["language"] for p in out["pieces"]} == {"fr"}  # forced, although the clip is German
    res = CliRunner().invoke(app, ["embed", "--detailed", "--speech-languages", "fr,de", str(media["de"])])
    (out,) = json.loads(res.stdout)
    assert {p["language"] for p in out["pieces"]} == {"de"}
    res = CliRunner().invoke(app, ["index", "--speech-languages", ",", str(media["de"].parent)])
    assert res.exit_code != 0 and "languages" in res.output.lower()


def test_server_speech_language_reaches_the_engine(media, tmp_path):
    """``omniembed serve --speech-language fr``: audio sent to the server is decoded as French, the
    vector equals the library's with the same option; an unknown code stops the server at start. On the
    dummy profile with Whisper base named as its speech model (real Whisper; the text vector is a bag of
    the transcript's words, so equal vectors still mean the same French transcript): the server loads no
    e5 for an option's wiring."""
    import base64

    import httpx

    from omniembed import Embedder
    from server_harness import ServerProcess

    data = base64.b64encode(media["de"].read_bytes()).decode()
    body = {"content": {"parts": [{"inlineData": {"mimeType": "audio/wav", "data": data}}]}}
    whisper = str(model_dir())
    with ServerProcess(tmp_path / "srv", "--speech-language", "fr", "--speech-model", whisper, dummy=True) as srv:
        r = httpx.post(f"{srv.url}/v1beta/models/omniembed-lite:embedContent", json=body, timeout=120)
    assert r.status_code == 200, r.text
    got = np.asarray(r.json()["embedding"]["values"], np.float32)
    forced = Embedder("dummy", speech_model=whisper, asr_options={"language": "fr"}).embed(media["de"])[0]
    assert float(got @ forced) > 0.999

    bad = ServerProcess(tmp_path / "bad", "--speech-language", "german", ready=False, dummy=True)
    with pytest.raises(RuntimeError, match="german"):
        bad.start()


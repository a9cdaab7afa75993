"""Many short recordings at once (issue 18): clips transcribed together (one encode per clip, one
batched beam search; or, ``clip_context_s=None``, packed into shared Whisper windows) must mean what
each clip transcribed alone means — text, language, seconds relative to the clip, no-speech, hedged
readings — on real espeak-ng speech. Also the list path of ``Embedder.embed`` and ``omniembed index``
across files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from media_gen import concat, ffmpeg, speak, with_silence
from media_gen import context as _ctx
from media_gen import source as _src
from omniembed.encoders.asr import AsrOptions, get_asr
from omniembed.media import audio, extract_many

REPORTS = "Please bring the printed reports and your laptop."
TRUCK = "The delivery truck is stuck in traffic on the highway."
GARDEN = "Water the tomato plants in the garden every evening."
DE = "Der Zug nach Berlin hat heute zwanzig Minuten Verspätung."


def _words(text: str) -> set[str]:
    return {w.strip(".,!?»«").lower() for w in text.split()}


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    reports = speak(d / "reports.wav", REPORTS)
    garden = speak(d / "garden.wav", GARDEN)
    c = {
        "reports": reports,
        # 1.5 s of silence first: its times must stay relative to ITS start, wherever it is packed
        "late": with_silence(speak(d / "truck.wav", TRUCK), d / "late.wav", 1.5, 0.5),
        # two sentences with a 2.5 s pause (VAD drops the pause before packing; times restore it)
        "pause": concat([with_silence(reports, d / "r2.wav", 0.0, 2.5), garden], d / "pause.wav"),
        "de": speak(d / "de.wav", DE, "de"),
    }
    tone = d / "tone.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-ar", "16000", "-ac", "1", str(tone))
    c["tone"] = tone
    return c


@pytest.fixture(scope="module")
def alone(clips) -> dict:
    """The reports and German clips extracted one by one, the reference of two tests (Whisper once)."""
    return {n: audio.extract(_src(clips[n]), _ctx()) for n in ("reports", "de")}


def _samples(path: Path) -> np.ndarray:
    from faster_whisper.audio import decode_audio

    return decode_audio(str(path))


NAMES = ["reports", "late", "tone", "pause", "de"]


@pytest.fixture(scope="module")
def blocks(clips) -> dict[str, list]:
    """The five clips transcribed one by one (``Asr.transcribe_block``, default options): the reference
    of every ``clip_context_s`` below (30 s: the one-file path's window; 15 s: the default; None: the
    former shared windows). ``transcribe_block`` does not read ``clip_context_s`` (it is a
    packing option), so one reading serves the three parameters (it was made three times: ~8 s of CPU
    per clip on two loaded cores)."""
    asr = get_asr()
    return {n: asr.transcribe_block(_samples(clips[n]), 0.0, AsrOptions()) for n in NAMES}


@pytest.mark.parametrize("context", [30.0, 15.0, None])
def test_packed_clips_mean_what_single_clips_mean(clips, blocks, context):
    names = NAMES
    samples = [_samples(clips[n]) for n in names]
    opts = AsrOptions(clip_context_s=context)
    asr = get_asr()
    alone = blocks
    packed = dict(zip(names, asr.transcribe_clips(samples, opts)))
    if context == 30.0:  # the window faster-whisper encodes: the one-file path's very transcript
        for n in names:
            assert [s.text for s in packed[n]] == [s.text for s in alone[n]], n

    assert alone["tone"] == [] and packed["tone"] == []  # no speech, either way
    for n in ("reports", "late", "pause", "de"):
        a, b = alone[n], packed[n]
        assert a and b, n
        assert {s.language for s in b} == {s.language for s in a}, n  # the same language
        # the same words, give or take Whisper's small misreadings of espeak
        wa, wb = _words(" ".join(s.text for s in a)), _words(" ".join(s.text for s in b))
        assert len(wa & wb) >= 0.6 * max(len(wa), len(wb)), (n, wa, wb)
        # the same seconds, relative to the clip (within VAD padding and word-alignment slack)
        assert abs(b[0].start - a[0].start) <= 0.5 and abs(b[-1].end - a[-1].end) <= 0.5, (n, a, b)
        assert all(0 <= s.start <= s.end <= len(samples[names.index(n)]) / 16000 + 0.05 for s in b)
    assert {"printed", "reports", "laptop"} <= _words(" ".join(s.text for s in packed["reports"]))
    assert {"zug", "berlin"} <= _words(" ".join(s.text for s in packed["de"]))
    assert 1.0 <= packed["late"][0].start <= 2.0  # 1.5 s of silence before the truck
    # the paused clip: the garden sentence starts after the reports sentence and the 2.5 s pause
    garden = [s for s in packed["pause"] if _words(s.text) & {"tomato", "garden", "evening"}]
    assert garden and garden[0].start >= 2.5 + 2.0


def test_packed_hedging_keeps_both_readings(clips):
    """Unsure identification (forced here: threshold 1.0) decodes each clip in its two most probable
    languages, as alone: the main reading first, the other attached; ``best`` keeps one reading.
    Packed at a 10-s clip context: hedging is the same code at any context (one encoding per clip,
    identified and decoded from it) and costs a third of the 30-s encoder time."""
    samples = [_samples(clips[n]) for n in ("reports", "de")]
    asr = get_asr()
    ten = {"clip_context_s": 10.0}
    hedged = asr.transcribe_clips(samples, AsrOptions(lid_threshold=1.0, **ten))
    alone = [asr.transcribe_block(s, 0.0, AsrOptions(lid_threshold=1.0)) for s in samples]
    for b, a in zip(hedged, alone):
        assert b[0].language == a[0].language
        assert any(s.alternatives for s in b) and any(s.alternatives for s in a)
        assert all(s.language_probability < 1.0 for s in b)
    best = asr.transcribe_clips(samples, AsrOptions(lid_threshold=1.0, lid_keep="best", **ten))
    assert all(b and not any(s.alternatives for s in b) for b in best)
    # a language the caller names: no identification, no hedging
    forced = asr.transcribe_clips(samples, AsrOptions(language="de", lid_threshold=1.0, **ten))
    assert all(s.language == "de" and not s.alternatives for segs in forced for s in segs)


def test_extract_many_gives_evidence_or_error_per_file(clips, alone, tmp_path):
    from omniembed.errors import DecodeError
    from omniembed.media.source import Limits, MediaSource

    fake = b"ID3\x03\x00\x00\x00\x00\x00\x0a" + bytes(range(256)) * 40  # claims MP3, is noise
    bad = MediaSource.from_bytes(fake, "audio/mpeg", Limits())
    srcs = [_src(clips["reports"]), bad, _src(clips["tone"]), _src(clips["de"])]
    # a 10-s context (a third of the 30-s encoder time): this test is about one result per file, what
    # the clips say at 30 s is the test above's
    out = extract_many(srcs, _ctx(pack_clips=True, clip_context_s=10.0))
    ev, err, tone, de = out
    assert isinstance(err, DecodeError) and not isinstance(ev, Exception)
    assert ev.segments[0].source == "asr" and {"printed", "reports"} <= _words(ev.segments[0].text)
    assert ev.segments[0].start_s is not None and ev.segments[0].end_s <= 3.6
    assert tone.flags == {"no_speech"} and "without recognisable speech" in tone.segments[0].text
    assert de.segments[0].language == "de"
    single = alone["reports"]
    assert single.notes[0].split(";")[0] == ev.notes[0].split(";")[0]  # same duration and window count


@pytest.fixture(scope="module")
def packing():
    """The default Embedder: a list of short clips is transcribed together (AsrOptions.pack_clips, 15-s
    clip context), a lone clip through the one-file path."""
    from omniembed import Embedder

    return Embedder()


def test_embed_list_ranks_like_one_by_one(packing, clips):
    embedder = packing
    paths = [clips[n] for n in ("reports", "late", "pause", "de")]
    listed = embedder.embed(paths)
    single = np.stack([embedder.embed(p)[0] for p in paths])
    assert listed.shape == single.shape
    sims = np.sum(listed * single, axis=1)
    # a lone clip takes the list's path (media.extract_many): the same reading but for the batch's make-up
    assert np.all(sims > 0.9), sims
    queries = embedder.embed(
        ["a request to bring documents and a computer", "a truck delayed on the motorway", "a late train to Berlin"],
        task_type="RETRIEVAL_QUERY",
    )
    for vecs in (listed, single):
        ranks = (queries @ vecs.T).argmax(axis=1)
        assert list(ranks) == [0, 1, 3]


def test_index_folder_embeds_audio_together_and_reports_bad_files(clips, tmp_path):
    """The indexer's bookkeeping over a folder of clips (packed together, one broken file, then one more
    file): on the dummy profile, whose speech recogniser is a fake (encoders/dummy.py) — what the clips say
    is tested above on Whisper; here the decoding, packing path and the report are the real ones."""
    from omniembed import Embedder
    from omniembed.indexer import Indexer
    from omniembed.store import open_store

    folder = tmp_path / "notes"
    folder.mkdir()
    for n in ("reports", "late", "de"):
        (folder / f"{n}.wav").write_bytes(clips[n].read_bytes())
    (folder / "broken.mp3").write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x0a" + bytes(range(256)) * 40)
    store = open_store(str(tmp_path / "store"))
    try:
        embedder = Embedder("dummy")  # packs the clips: pack_clips is the default
        rep = Indexer(store, embedder).run(folder, progress=False)
        assert rep.new == 3 and [o.path for o in rep.failed] == ["broken.mp3"]
        assert all(o.chunks >= 1 for o in rep.outcomes if o.status == "new")
        (folder / "broken.mp3").unlink()
        (folder / "tone.wav").write_bytes(clips["tone"].read_bytes())
        again = Indexer(store, embedder).run(folder, progress=False)
        assert again.unchanged == 3 and again.new == 1 and not again.failed
    finally:
        store.close()


def test_a_clips_transcript_does_not_depend_on_its_neighbours(clips, alone):
    """Transcribed together at the 30-s context, a clip reads as it reads alone, whatever else is in the
    list (each clip has its own encoding; these clear sentences keep every word in any batch). At the
    default 15-s context a word can still change with the batch's make-up (Asr.transcribe_clips), so the
    one-file path stays the reference for what a clip says."""
    srcs = [_src(clips["reports"]), _src(clips["de"])]
    want = [alone[n].segments[0].text for n in ("reports", "de")]
    thirty = _ctx(clip_context_s=30.0)  # pack_clips is the default
    assert [e.segments[0].text for e in extract_many(srcs, thirty)] == want
    more = extract_many([_src(clips["late"]), *srcs, _src(clips["pause"])], thirty)
    assert [e.segments[0].text for e in more[1:3]] == want
    # pack_clips=False: every file through the one-file path
    assert [e.segments[0].text for e in extract_many(srcs, _ctx(pack_clips=False))] == want

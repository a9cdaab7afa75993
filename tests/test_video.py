"""Video on real media made with ffmpeg (slides drawn with drawtext) and espeak-ng narration:
keyframe OCR, the sound track through ASR, overlapping timestamped segments, codecs, retrieval,
interleaved contents and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from media_gen import context as _ctx
from media_gen import convert, slide_video, speak
from media_gen import source as _src
from omniembed import Part
from omniembed.errors import DecodeError, MediaTooLarge, UnsupportedMediaType
from omniembed.media import av, extract, video
from omniembed.media.source import Limits, MediaSource

SLIDE_A = "Quarterly invoice approval"
SLIDE_B = "Kubernetes cluster upgrade"
TALK_A = "Please approve the supplier invoices before Friday."
TALK_B = "The lighthouse keeper counts ships every morning."


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("video")
    talk_a = speak(d / "a.wav", TALK_A)
    talk_b = speak(d / "b.wav", TALK_B)
    return {
        "talk_a": talk_a,
        # H.264 + AAC, slide and narration
        "h264": slide_video(d / "a.mp4", [(0, 6, SLIDE_A)], 6, narration=talk_a),
        # VP9 in WebM, no sound at all
        "vp9": slide_video(
            d / "b.webm", [(0, 5, SLIDE_B)], 5, vcodec=("-c:v", "libvpx-vp9", "-b:v", "200k", "-deadline", "realtime")
        ),
        # MKV (H.264 + Opus): narration only over a blank picture
        "mkv": slide_video(d / "c.mkv", [], 5, narration=talk_b, acodec=("-c:a", "libopus", "-b:a", "32k")),
        # the first clip's slide and words in espeak's British voice: its second reading when hedged is a
        # sentence (Whisper base reads the US voice's as Welsh, "plym nhw'n" repeated until the decoder's
        # length limit: 55 s of CPU for the extraction, against 14 s here; measured 2026-12-01)
        "h264_gb": slide_video(d / "gb.mp4", [(0, 6, SLIDE_A)], 6, narration=speak(d / "gb.wav", TALK_A, "en-gb")),
    }


def _norm(text: str) -> str:
    return " ".join(text.lower().replace(".", "").split())


def test_h264_video_reads_the_slide_and_hears_the_narration(clips):
    ev = video.extract(_src(clips["h264"]), _ctx())
    assert ev.modality == "video" and not ev.flags
    by_source = {s.source: s for s in ev.segments}
    assert set(by_source) == {"ocr", "asr"}
    assert _norm(SLIDE_A) in _norm(by_source["ocr"].text)
    assert {"approve", "invoices", "friday"} <= set(_norm(by_source["asr"].text).split())
    assert by_source["asr"].language == "en"
    for s in ev.segments:
        assert 0.0 <= s.start_s < s.end_s <= 6.1


def test_hedged_speech_keeps_the_two_channels_balanced(clips):
    """Narration also read in a second language (identification forced to count as unsure) makes a
    longer ASR piece; the two channels still weigh the same in the pooled vector."""
    ev = video.extract(_src(clips["h264_gb"]), _ctx(lid_candidates=2, lid_threshold=1.0))
    (asr,) = [s for s in ev.segments if s.source == "asr"]
    (ocr,) = [s for s in ev.segments if s.source == "ocr"]
    assert asr.language == "en" and {"approve", "invoices"} <= set(_norm(asr.text).split())
    first, second = ev.segments  # fusion gives a video's first window no lead bonus (test_fusion.py)
    assert len(first.text) * first.weight == pytest.approx(len(second.text) * second.weight, rel=1e-6)
    assert len(asr.text) > len(TALK_A) + 10


def test_vp9_video_without_sound(clips):
    ev = video.extract(_src(clips["vp9"]), _ctx())
    assert [s.source for s in ev.segments] == ["ocr"]
    assert _norm(SLIDE_B) in _norm(ev.segments[0].text)
    assert "no_speech" in ev.flags and any("no sound track" in n for n in ev.notes)


def test_long_video_is_cut_into_overlapping_segments(tmp_path):
    # 130 s, no sound; slide A until 70 s, slide B after: windows 0-60, 50-110, 100-130
    f = slide_video(tmp_path / "long.mp4", [(0, 70, SLIDE_A), (70.2, 130, SLIDE_B)], 130, rate=2)
    ev = video.extract(_src(f), _ctx())
    spans = [(s.start_s, s.end_s, _norm(s.text)) for s in ev.segments]
    assert [(a, b) for a, b, _ in spans] == [(0.0, 60.0), (50.0, 110.0), (100.0, pytest.approx(130.0, abs=1.0))]
    assert all(b - a <= 128 for a, b, _ in spans)
    a, b = _norm(SLIDE_A), _norm(SLIDE_B)
    assert a in spans[0][2] and b not in spans[0][2]
    assert a in spans[1][2] and b in spans[1][2]  # the slide change happens inside the overlap window
    assert b in spans[2][2] and a not in spans[2][2]
    assert any("2 distinct frame(s)" in n for n in ev.notes)  # each slide OCR'd once, not once a second


def test_audio_only_mp4_is_handled_as_audio(clips, tmp_path):
    m4a = convert(clips["talk_a"], tmp_path / "talk.mp4", "-c:a", "aac", "-b:a", "48k")
    src = _src(m4a)
    assert src.modality == "video"  # an MP4 container: the bytes cannot tell; its streams do
    assert av.route(src) == "audio"
    ev = extract(src, _ctx())
    assert ev.modality == "audio" and [s.source for s in ev.segments] == ["asr"]


def test_retrieval_and_interleaved_content(embedder, clips):
    docs = embedder.embed_detailed([clips["h264"], clips["vp9"], clips["mkv"]])
    assert all(r.modalities == ["video"] for r in docs)
    h264 = docs[0]
    assert {p.source for p in h264.pieces} == {"ocr", "asr"} and all(p.start_s is not None for p in h264.pieces)
    matrix = np.stack([r.vector for r in docs])
    queries = [
        "supplier invoices need approval by Friday",  # speech of clip 0
        "upgrading the Kubernetes cluster",  # slide of clip 1 (no sound)
        "the lighthouse keeper and the ships",  # speech of clip 2 (no slide)
    ]
    q = embedder.embed(queries, task_type="RETRIEVAL_QUERY")
    assert list(np.argmax(q @ matrix.T, axis=1)) == [0, 1, 2]

    # one interleaved content: text + video + audio -> one vector, pieces from every part
    (mixed,) = embedder.embed_detailed([["Team meeting notes", clips["vp9"], clips["talk_a"]]])
    assert mixed.modalities == ["text", "video", "audio"]
    assert {p.part_index for p in mixed.pieces} == {0, 1, 2}
    assert np.linalg.norm(mixed.vector) == pytest.approx(1.0, abs=1e-5)
    sims = embedder.embed(["Kubernetes cluster upgrade", "approve supplier invoices"], task_type="RETRIEVAL_QUERY") @ mixed.vector
    assert min(sims) > float(q[2] @ mixed.vector)  # both media parts pull the content vector


def test_bad_video_gives_typed_errors(embedder, clips, tmp_path):
    data = clips["h264"].read_bytes()
    # truncated container (only the first KB)
    with pytest.raises(DecodeError):
        video.extract(MediaSource.from_bytes(data[:1024], "video/mp4", Limits()), _ctx())
    # a codec ffmpeg does not know: the sample entry's fourcc rewritten
    assert data.count(b"avc1") >= 1
    with pytest.raises((UnsupportedMediaType, DecodeError)):
        embedder.embed([Part.from_bytes(data.replace(b"avc1", b"zq9x"), "video/mp4")])
    # longer than allowed
    with pytest.raises(MediaTooLarge):
        video.extract(_src(clips["vp9"]), _ctx(Limits(max_media_seconds=2.0)))

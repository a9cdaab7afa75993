"""Video: keyframes → OCR and the sound track → ASR, in overlapping timestamped segments.

Lite has no image tower, so it reads what a video shows (slides, captions, screen text) and hears
what it says (a profile with an image tower also *sees* each distinct frame: per window one ``native``
segment, the mean of its frames' image vectors, weighted as one more channel in ``_balance_channels``):

1. **Keyframes.** The video stream is decoded with PyAV (non-reference frames skipped: they are never
   needed for a 1 s grid) and sampled every ``SAMPLE_EVERY_S`` second. A sampled frame whose 96×54
   grey thumbnail is near-identical to a look seen recently (fewer than ``CHANGE_FRACTION`` of its
   pixels changed noticeably) only extends that look's time on screen; a new look (scene change, next
   slide, scrolled text) is OCR'd once. A cut from a still picture (a new slide) is read at once (at
   most every ``MIN_OCR_GAP_S`` s); footage that keeps moving is read every ``MOTION_OCR_GAP_S`` s,
   which bounds OCR cost on camera video. Near-blank frames are not OCR'd.
2. **Sound.** The first audio track goes through the container layer's streaming decoder and Whisper
   (``speech.py``: language id, VAD); a video without sound simply has no transcript.
3. **Segments.** The timeline is cut into windows of ``SEGMENT_S`` seconds (≤ 128 s, the reference
   system's limit per video) overlapping by ``OVERLAP_S``. Per window, one ``ocr`` segment (the text of
   every look on screen during the window, deduplicated) and one ``asr`` segment (the speech in it),
   each with start/end seconds. The engine embeds them and pools the part's vector (``fusion.py``);
   the two channels are weighted to count equally (``_balance_channels``), so a frame full of small
   print does not drown the narration. How the first window counts is fusion's rule (``fusion.py``).

A file with no real video stream (audio-only MP4/M4A/WebM, or cover art only) never comes here: the
container layer routes it to the audio pipeline (``av.route``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..encoders.asr import AsrOptions
from ..errors import DecodeError, DecodeTimeout, MediaTooLarge, UnsupportedMediaType
from ..evidence import Evidence, MediaContext, Segment
from ..types import clock
from .av import check_header_duration, ffmpeg_message, open_container, video_streams
from .sounds import with_sounds
from .source import MediaSource
from .speech import joined, language_note, no_speech_evidence, transcribe

__all__ = ["extract", "Look", "sample_looks", "SEGMENT_S", "OVERLAP_S"]

SEGMENT_S = 60.0  # window length (≤ 128 s)
OVERLAP_S = 10.0  # overlap between neighbouring windows
SAMPLE_EVERY_S = 1.0  # frame grid for change detection
MIN_OCR_GAP_S = 2.0  # at most one new OCR per this many seconds after a cut from a still picture
MOTION_OCR_GAP_S = 10.0  # ... and per this many seconds while the picture keeps moving (camera footage)
CHANGE_FRACTION = 0.003  # share of thumbnail pixels that must change for a "new look"
RECENT_LOOKS = 16  # how many previous looks a frame is compared with (slides that come back)
MAX_OCR_SIDE = 1920  # frames larger than this are scaled down before OCR
_THUMB = (96, 54)


@dataclass
class Look:
    """A distinct picture on screen: first and last time seen, and the text OCR read in it."""

    first_s: float
    last_s: float
    thumb: np.ndarray
    text: str = ""
    vector: np.ndarray | None = None  # the image tower's vector of the frame (profiles with one)


def _thumb(frame) -> np.ndarray:
    return frame.reformat(width=_THUMB[0], height=_THUMB[1], format="gray").to_ndarray().astype(np.int16)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return float(np.mean(np.abs(a - b) > 24)) < CHANGE_FRACTION


def sample_looks(src: MediaSource, container, stream, ctx: MediaContext) -> tuple[list[Look], float]:
    """Decode the video stream; returns the distinct looks (OCR'd) and the last frame time."""
    import av

    from .image import ocr_segments

    limits = ctx.limits
    stream.thread_type = "AUTO"
    try:
        stream.codec_context.skip_frame = "NONREF"
    except (AttributeError, ValueError, av.error.FFmpegError):
        pass
    looks: list[Look] = []
    next_t = 0.0
    last_ocr = -1e9
    last_t = 0.0
    spent = 0.0
    decoded = 0
    prev = None  # the previous sample's thumbnail
    still = False  # whether the previous sample looked like the one before it
    decoder = container.decode(stream)
    while True:
        t0 = time.monotonic()
        try:
            frame = next(decoder)
        except StopIteration:
            break
        except av.error.FFmpegError as exc:
            if decoded == 0:
                raise DecodeError(f"{src.name}: cannot decode its video ({ffmpeg_message(exc)})") from None
            break  # a damaged tail: keep what decoded
        spent += time.monotonic() - t0
        if spent > limits.decode_timeout_s:
            raise DecodeTimeout(
                f"{src.name}: decoding took longer than {limits.decode_timeout_s:.0f} s; the file may be damaged"
            )
        decoded += 1
        t = frame.time if frame.time is not None else decoded / float(stream.average_rate or 25)
        t = max(0.0, float(t))
        if t > limits.max_media_seconds:
            raise MediaTooLarge(f"{src.name} lasts more than {limits.max_media_seconds:,.0f} s, the limit for video")
        last_t = max(last_t, t)
        if t < next_t:
            continue
        next_t = t + SAMPLE_EVERY_S
        th = _thumb(frame)
        was_still, still = still, prev is not None and _same(prev, th)
        prev = th
        seen = next((lk for lk in reversed(looks[-RECENT_LOOKS:]) if _same(lk.thumb, th)), None)
        if seen is not None:
            seen.last_s = max(seen.last_s, t)
            continue
        if t - last_ocr < (MIN_OCR_GAP_S if was_still or not looks else MOTION_OCR_GAP_S):
            if looks:
                looks[-1].last_s = max(looks[-1].last_s, t)
            continue
        ctx.check()  # a work unit is one OCR'd frame: stop here if the request was cancelled
        look = Look(t, t, th)
        looks.append(look)
        last_ocr = t
        if th.std() < 3:  # blank (black, white, single colour): nothing to read
            continue
        w, h = frame.width, frame.height
        if max(w, h) > MAX_OCR_SIDE:
            s = MAX_OCR_SIDE / max(w, h)
            frame = frame.reformat(width=int(w * s) // 2 * 2, height=int(h * s) // 2 * 2)
        rgb = frame.to_ndarray(format="rgb24")
        segs = ocr_segments(rgb, ctx, "video")
        look.text = segs[0].text if segs else ""
        if ctx.encoders is not None and ctx.encoders.image is not None:  # an image-text profile sees the frame
            from PIL import Image

            look.vector = ctx.encoders.image.encode_images([Image.fromarray(rgb)])[0]
        if ctx.progress:
            ctx.progress(f"{src.name}: frames read to {clock(t)}")
    if decoded == 0:
        raise DecodeError(f"{src.name}: the video stream holds no decodable frames")
    return looks, last_t


def _windows(duration: float) -> list[tuple[float, float]]:
    hop = SEGMENT_S - OVERLAP_S
    out = [(0.0, min(SEGMENT_S, duration))]
    start = hop
    while start + OVERLAP_S < duration:
        out.append((start, min(start + SEGMENT_S, duration)))
        start += hop
    return out


def _dedupe_lines(texts: list[str]) -> str:
    seen, lines = set(), []
    for text in texts:
        for line in text.splitlines():
            key = " ".join(line.lower().split())
            if key and key not in seen:
                seen.add(key)
                lines.append(line.strip())
    return "\n".join(lines)


def _balance_channels(segments: list[Segment]) -> None:
    """Give what a video shows (OCR) and what it says (ASR) equal shares of the pooled vector.

    Pieces are pooled by tokens × weight (``fusion.pool_pieces``); a frame full of small print would
    otherwise drown the narration (a page of OCR text against one spoken sentence). Within a channel
    the token proportions stay; across channels each gets half. Length is estimated in characters,
    which tracks the encoder's tokens closely enough for a ratio. (Measured on eval-dev D4, where each
    video shows a page of a man page and speaks one sentence: token weighting put every spoken query
    outside the top 20; equal shares bring them to ranks 14, 1 and 1 on today's D4, 2026-12-01; see
    docs/audio-video.md "Narrated documents" for the rules that trade this against description search.)
    """
    totals = {src: sum(len(s.text) for s in segments if s.source == src) for src in ("ocr", "asr")}
    if all(totals.values()):
        mean = sum(totals.values()) / 2
        for s in segments:
            if s.source in totals:
                s.weight = mean / totals[s.source]
    # Frames seen by an image tower (source "native", no text) are a third channel with the same share
    # as each text channel: fusion weighs a textless piece as 8 tokens, and ~4 characters make a token.
    natives = [s for s in segments if s.source == "native"]
    texts = [v for v in totals.values() if v]
    if natives and texts:
        for s in natives:
            s.weight = (sum(texts) / len(texts)) / (4 * 8 * len(natives))


def extract(src: MediaSource, ctx: MediaContext) -> Evidence:
    """The video pipeline: per overlapping window, on-screen text (OCR) and speech (ASR)."""
    opts = AsrOptions.from_dict(ctx.asr_options)
    c = open_container(src)
    try:
        vstreams = video_streams(c)
        if not vstreams:
            raise DecodeError(f"{src.name} has no video stream")
        stream = vstreams[0]
        cc = getattr(stream, "codec_context", None)
        if cc is None or not getattr(cc, "name", None) or cc.name == "none":
            raise UnsupportedMediaType(f"{src.name}: its video codec cannot be decoded by the installed ffmpeg")
        header_s = check_header_duration(src, c, ctx.limits)
        has_audio = bool(c.streams.audio)
        looks, last_t = sample_looks(src, c, stream, ctx)
    finally:
        c.close()

    asr: list = []
    audio_s = 0.0
    audio_note = ""
    if has_audio:
        try:
            asr, audio_s = transcribe(src, ctx, progress=ctx.progress)
        except DecodeError as exc:  # a broken sound track does not sink the pictures
            asr, audio_s = [], 0.0
            audio_note = f"{src.name}: sound track not used ({exc})"
    duration = max(last_t + SAMPLE_EVERY_S / 2, audio_s, 0.1)
    if header_s and abs(header_s - duration) < 5:
        duration = header_s

    segments: list[Segment] = []
    for lo, hi in _windows(duration):
        on_screen = [lk.text for lk in looks if lk.text and lk.first_s < hi and lk.last_s >= lo]
        text = _dedupe_lines(on_screen)
        if text:
            segments.append(Segment(text, "video", "ocr", start_s=round(lo, 2), end_s=round(hi, 2)))
        speech = [s for s in asr if s.end > lo and s.start < hi]
        if speech:
            segments.append(joined(speech, "video", lo, hi))
        seen = [lk.vector for lk in looks if lk.vector is not None and lk.first_s < hi and lk.last_s >= lo]
        if seen:  # what the window shows, through the image tower: the mean of its distinct frames
            v = np.mean(seen, axis=0)
            segments.append(Segment("", "video", "native", start_s=round(lo, 2), end_s=round(hi, 2),
                                    vector=(v / (np.linalg.norm(v) or 1.0)).astype(np.float32)))
    _balance_channels(segments)
    flags: set[str] = set()
    notes = [
        f"{src.name}: {clock(duration)} of video, {len(looks)} distinct frame(s) read, "
        + (f"speech: {language_note(asr)}" if asr else "no speech heard" if has_audio else "no sound track")
    ]
    if audio_note:
        notes.append(audio_note)
    if not any(s.source == "ocr" for s in segments):
        flags.add("no_text")
    if not asr:
        flags.add("no_speech")
    if opts.task == "translate" and asr:
        notes.append(f"{src.name}: speech translated to English by Whisper")
    if not segments:
        ev = no_speech_evidence(src, duration, "video")
        ev.segments[0].text = f"A video of {clock(duration)} without readable text or recognisable speech."
        ev.flags |= flags
        ev.notes = notes + [
            f"{src.name}: the lite profile found no on-screen text and heard no words; its vector only says so"
        ]
        return with_sounds(src, ctx, ev) if has_audio else ev
    ev = Evidence("video", segments, flags=flags, notes=notes)
    return with_sounds(src, ctx, ev) if has_audio else ev

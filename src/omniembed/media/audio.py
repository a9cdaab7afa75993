"""Audio: streaming decode of anything ffmpeg reads, Whisper ASR, timestamped transcript windows.

Decoding (PyAV, i.e. ffmpeg's libraries in-process) is a stream: packets are decoded and resampled to
16 kHz mono float32 and handed on in blocks of ``AsrOptions.block_s`` seconds (4 minutes by default,
15 MB), each cut at the quietest half second near its end so no word is split. A one-hour file never
sits in memory whole: peak memory is one block plus the model. Timestamps stay absolute (seconds from
the start of the file).

Each block is transcribed (VAD skips silence; language identified per block) and the recognised
segments are grouped into windows of about ``window_s`` seconds (30 by default), cut at Whisper's own
segment boundaries. Each window becomes one :class:`~omniembed.evidence.Segment` (``source="asr"``) with
start/end seconds and its language; the engine embeds the windows and pools them.

Many short files at once (:func:`extract_many`: a list given to ``Embedder.embed``, a folder being
indexed) are decoded whole and transcribed together, packed into shared 30-s Whisper windows
(``Asr.transcribe_clips``): a list of voice notes no longer pays a 30-s window per clip.

Audio in which Whisper hears no words still gets a vector (a plain description: "an audio recording of
N seconds without recognisable speech"), the flag ``no_speech`` and a note, like an image without text.

Guards: a wall-clock limit on decoding (``Limits.decode_timeout_s``, the time spent inside the decoder,
not in ASR), a duration limit (``Limits.max_media_seconds``, checked against the header when it is
plausible and against the decoded samples always), and typed errors for corrupt or empty input.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from ..encoders.asr import SAMPLE_RATE, AsrOptions, AsrSegment
from ..errors import (DecodeError, DecodeTimeout, MediaTooLarge, OmniEmbedError, RequestCancelled,
                      UnsupportedMediaType)
from ..evidence import Evidence, MediaContext, Segment
from .source import Limits, MediaSource

__all__ = ["extract", "extract_many", "speech_evidence", "decode_blocks", "transcribe", "windows", "joined", "probe", "MediaInfo", "clock"]

#: Audio files up to this long are transcribed together with the other short files of a call
#: (:func:`extract_many`); longer ones stream block by block on their own.
SHORT_FILE_S = 60.0
#: A header duration this far above what the file size allows (at 1 kbit/s, lower than any real
#: codec) is a lie; it is ignored and the decoded samples decide.
_MIN_PLAUSIBLE_BYTES_PER_S = 125


@dataclass
class MediaInfo:
    duration_s: float | None  # from the container header, when it has one
    has_audio: bool
    has_video: bool
    audio_codec: str | None = None
    video_codec: str | None = None


def clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def open_container(src: MediaSource):
    """Open with PyAV; corrupt or unknown containers become :class:`DecodeError`."""
    import av

    try:
        return av.open(str(src.path) if src.path is not None else src.open(), mode="r", timeout=30.0)
    except av.error.FFmpegError as exc:
        raise DecodeError(f"{src.name}: not a readable {src.mime or 'media'} file ({_ffmsg(exc)})") from None
    except (OSError, ValueError, EOFError) as exc:
        raise DecodeError(f"{src.name}: cannot open as {src.mime or 'media'} ({exc})") from None


def _ffmsg(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def video_streams(container) -> list:
    """Real picture streams: attached pictures (cover art in MP3/M4A) are not video."""
    out = []
    for s in container.streams.video:
        disp = getattr(s, "disposition", None)
        if disp is not None and "ATTACHED_PIC" in str(disp).upper():
            continue
        out.append(s)
    return out


def probe(src: MediaSource) -> MediaInfo:
    c = open_container(src)
    try:
        dur = c.duration / 1_000_000 if c.duration else None
        a = c.streams.audio[0] if c.streams.audio else None
        vs = video_streams(c)
        return MediaInfo(
            dur,
            a is not None,
            bool(vs),
            a.codec_context.name if a is not None else None,
            vs[0].codec_context.name if vs else None,
        )
    finally:
        c.close()


def check_header_duration(src: MediaSource, container, limits: Limits) -> float | None:
    """The header's duration, or MediaTooLarge when it is plausible and above the limit."""
    dur = container.duration / 1_000_000 if container.duration else None
    if dur is not None and dur > limits.max_media_seconds:
        if src.size / dur >= _MIN_PLAUSIBLE_BYTES_PER_S:
            raise MediaTooLarge(
                f"{src.name} lasts {clock(dur)} ({dur:,.0f} s); the limit is {limits.max_media_seconds:,.0f} s"
            )
        return None  # an absurd header on a small file: let the decoded samples decide
    return dur


def _quiet_cut(buf: np.ndarray, search_s: float = 10.0, win_s: float = 0.5, rate: int = SAMPLE_RATE) -> int:
    """Index near the end of ``buf`` at the centre of its quietest ``win_s`` (where to cut a block)."""
    n = len(buf)
    lo = max(0, n - int(search_s * rate))
    tail = buf[lo:]
    w = int(win_s * rate)
    if len(tail) <= w:
        return n
    energy = np.convolve(tail.astype(np.float32) ** 2, np.ones(w, np.float32), mode="valid")
    return lo + int(np.argmin(energy)) + w // 2


def decode_blocks(
    src: MediaSource, limits: Limits, block_s: float = 240.0, *, container=None, rate: int = SAMPLE_RATE
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (start seconds, mono float32 samples at ``rate`` — 16 kHz for Whisper, a sound model's own
    rate for it) blocks of about ``block_s`` seconds.

    Raises DecodeError (corrupt data, no audio stream), MediaTooLarge (too long), DecodeTimeout.
    """
    import av

    own = container is None
    c = container if container is not None else open_container(src)
    try:
        if not c.streams.audio:
            raise DecodeError(f"{src.name} has no audio stream")
        check_header_duration(src, c, limits)
        stream = c.streams.audio[0]
        stream.thread_type = "AUTO"
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        block_n = int(block_s * rate)
        max_n = int(limits.max_media_seconds * rate)
        pending: list[np.ndarray] = []
        pending_n = 0
        emitted = 0  # samples already yielded
        spent = 0.0  # seconds spent decoding
        decoder = c.decode(stream)
        done = False
        while not done:
            t0 = time.monotonic()
            try:
                frame = next(decoder)
            except StopIteration:
                frame = None
                done = True
            except av.error.FFmpegError as exc:
                if emitted + pending_n == 0:
                    raise DecodeError(f"{src.name}: cannot decode its audio ({_ffmsg(exc)})") from None
                frame = None  # a damaged tail: keep what decoded
                done = True
            try:
                out = resampler.resample(frame)
            except (av.error.FFmpegError, ValueError) as exc:
                raise DecodeError(f"{src.name}: cannot resample its audio ({_ffmsg(exc)})") from None
            spent += time.monotonic() - t0
            if spent > limits.decode_timeout_s:
                raise DecodeTimeout(
                    f"{src.name}: decoding took longer than {limits.decode_timeout_s:.0f} s; the file may be damaged"
                )
            for f in out:
                arr = f.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                pending.append(arr)
                pending_n += len(arr)
            if emitted + pending_n > max_n:
                raise MediaTooLarge(
                    f"{src.name} lasts more than {limits.max_media_seconds:,.0f} s, the limit for audio/video"
                )
            if pending_n >= block_n + 10 * rate or (done and pending_n):
                buf = np.concatenate(pending)
                cut = len(buf) if done else _quiet_cut(buf[: block_n + 10 * rate], rate=rate)
                yield emitted / rate, buf[:cut]
                emitted += cut
                rest = buf[cut:]
                pending, pending_n = ([rest], len(rest)) if len(rest) else ([], 0)
        if emitted == 0:
            raise DecodeError(f"{src.name}: the audio stream holds no samples (zero length)")
    except av.error.FFmpegError as exc:
        raise DecodeError(f"{src.name}: cannot decode ({_ffmsg(exc)})") from None
    finally:
        if own:
            c.close()


def transcribe(
    src: MediaSource,
    ctx: MediaContext,
    *,
    container=None,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[AsrSegment], float]:
    """All recognised speech segments of ``src`` (absolute seconds) and the decoded duration."""
    from ..encoders.asr import get_asr

    opts = AsrOptions.from_dict(ctx.asr_options)
    asr = None
    segments: list[AsrSegment] = []
    duration = 0.0
    for start, block in decode_blocks(src, ctx.limits, opts.block_s, container=container):
        ctx.check()  # a work unit is one block: stop here if the request was cancelled
        duration = start + len(block) / SAMPLE_RATE
        if asr is None:
            asr = get_asr(speech_model(ctx))
        segments.extend(asr.transcribe_block(block, start, opts))
        if progress:
            progress(f"{src.name}: transcribed {clock(duration)}")
    return segments, duration


def speech_model(ctx: MediaContext) -> str | None:
    """The profile's speech model directory (None: Whisper base)."""
    return getattr(ctx.encoders, "speech_model", None)


def windows(segments: list[AsrSegment], window_s: float) -> list[list[AsrSegment]]:
    """Group consecutive ASR segments into windows of at most ~``window_s`` seconds (never splitting a
    segment); a change of language also starts a new window."""
    out: list[list[AsrSegment]] = []
    for seg in segments:
        cur = out[-1] if out else None
        if cur and seg.end - cur[0].start <= window_s and seg.language == cur[-1].language:
            cur.append(seg)
        else:
            out.append([seg])
    return out


def joined(segs: list[AsrSegment], modality: str, lo: float = -math.inf, hi: float = math.inf) -> Segment:
    """One evidence segment from consecutive ASR segments, clipped to [lo, hi). Its text is the
    transcript followed by any other-language readings of the same speech (``lid_keep="all"``)."""
    return Segment(
        text=" ".join([s.text for s in segs] + [alt for s in segs for alt in s.alternatives]),
        modality=modality,
        source="asr",
        start_s=round(max(lo, segs[0].start), 2),
        end_s=round(min(hi, segs[-1].end), 2),
        language=segs[0].language,
    )


def speech_segments(asr: list[AsrSegment], modality: str, window_s: float) -> list[Segment]:
    """Transcript windows as evidence segments."""
    return [joined(win, modality) for win in windows(asr, window_s)]


def language_note(asr: list[AsrSegment]) -> str:
    """Seconds of speech per language, and how much of it was also read in another language because
    identification was unsure."""
    spoken: dict[str, float] = {}
    for s in asr:
        spoken[s.language or "?"] = spoken.get(s.language or "?", 0.0) + (s.end - s.start)
    note = ", ".join(f"{lang} {clock(t)}" for lang, t in sorted(spoken.items(), key=lambda x: -x[1]))
    hedged = sum(s.end - s.start for s in asr if s.alternatives)
    if hedged:
        note += f"; language unsure for {clock(hedged)}: also read in the next most probable language(s)"
    return note


def no_speech_evidence(src: MediaSource, duration: float, modality: str = "audio") -> Evidence:
    what = "An audio recording" if modality == "audio" else "A video"
    return Evidence(
        modality,
        [
            Segment(
                f"{what} of {clock(duration)} without recognisable speech.",
                modality,
                "description",
                start_s=0.0,
                end_s=round(duration, 2),
                weight=0.5,
            )
        ],
        flags={"no_speech"},
        notes=[
            f"{src.name}: the lite profile heard no words in this {'recording' if modality == 'audio' else 'video'}; "
            "its vector only says so (lite has no audio tower for music or sounds)"
        ],
    )


def extract(src: MediaSource, ctx: MediaContext) -> Evidence:
    """The audio pipeline: transcript windows with start/end seconds and language."""
    opts = AsrOptions.from_dict(ctx.asr_options)
    c = open_container(src)
    try:
        if not c.streams.audio:
            if not video_streams(c):
                raise UnsupportedMediaType(f"{src.name} has no audio stream")
            silent_video = True
        else:
            silent_video = False
            asr, duration = transcribe(src, ctx, container=c, progress=ctx.progress)
    finally:
        c.close()
    if silent_video:  # e.g. a silent video sent as audio/mp4: the video pipeline reads it
        from .video import extract as video_extract

        return video_extract(src, ctx)
    return _with_sounds(src, ctx, speech_evidence(src, asr, duration, opts))


def _with_sounds(src: MediaSource, ctx: MediaContext, ev: Evidence) -> Evidence:
    """What the recording sounds like, when the profile has a sound model (``media/sounds.py``)."""
    if getattr(ctx.encoders, "sound_tagger", None) is None:
        return ev
    from .sounds import add_sounds

    return add_sounds(src, ctx, ev)


def speech_evidence(src: MediaSource, asr: list[AsrSegment], duration: float, opts: AsrOptions) -> Evidence:
    """An audio file's evidence from its recognised speech: transcript windows, or "no speech"."""
    segs = speech_segments(asr, "audio", opts.window_s)
    if not segs:
        return no_speech_evidence(src, duration, "audio")
    ev = Evidence("audio", segs)
    ev.notes.append(f"{src.name}: {clock(duration)} of audio, {len(segs)} transcript window(s); speech: {language_note(asr)}")
    if opts.task == "translate":
        ev.notes.append(f"{src.name}: transcript translated to English by Whisper")
    return ev


def _short_samples(src: MediaSource, ctx: MediaContext, opts: AsrOptions) -> np.ndarray | None:
    """All samples of a short audio-only file (header duration ≤ ``SHORT_FILE_S``), else None (the
    file then goes through :func:`extract`: long, video, or a header that does not say)."""
    c = open_container(src)
    try:
        if not c.streams.audio or video_streams(c):
            return None
        header = check_header_duration(src, c, ctx.limits)
        if header is None or header > SHORT_FILE_S:
            return None
        blocks = [b for _, b in decode_blocks(src, ctx.limits, opts.block_s, container=c)]
    finally:
        c.close()
    return blocks[0] if len(blocks) == 1 else None


def extract_many(srcs: list[MediaSource], ctx: MediaContext) -> list[Evidence | OmniEmbedError]:
    """The audio pipeline for many files at once. With ``AsrOptions.pack_clips`` short recordings (≤ ``SHORT_FILE_S``) are decoded
    whole and transcribed together (:meth:`~omniembed.encoders.asr.Asr.transcribe_clips`: packed into
    shared 30-s Whisper windows, which is where a list of voice notes gains its speed); other files go
    through :func:`extract` one by one. Per file: its evidence, or the typed error it raised."""
    from ..encoders.asr import get_asr

    opts = AsrOptions.from_dict(ctx.asr_options)
    out: list[Evidence | OmniEmbedError | None] = [None] * len(srcs)
    if not opts.pack_clips:  # the default: every file alone, its transcript independent of the others
        from . import extract_each

        return extract_each(srcs, ctx, extract)
    short: list[tuple[int, np.ndarray]] = []
    for i, src in enumerate(srcs):
        try:
            samples = _short_samples(src, ctx, opts)
            if samples is None:
                out[i] = extract(src, ctx)
            else:
                short.append((i, samples))
        except RequestCancelled:  # a stopped request stops here, not after the other files
            raise
        except OmniEmbedError as exc:
            out[i] = exc
    if len(short) == 1:  # alone: exactly the one-file path
        i, samples = short[0]
        segs = get_asr(speech_model(ctx)).transcribe_block(samples, 0.0, opts)
        out[i] = _with_sounds(srcs[i], ctx, speech_evidence(srcs[i], segs, len(samples) / SAMPLE_RATE, opts))
    elif short:
        results = get_asr(speech_model(ctx)).transcribe_clips([samples for _, samples in short], opts)
        for (i, samples), segs in zip(short, results):
            out[i] = _with_sounds(srcs[i], ctx, speech_evidence(srcs[i], segs, len(samples) / SAMPLE_RATE, opts))
    return out  # type: ignore[return-value]

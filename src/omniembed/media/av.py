"""The container layer shared by the audio and video pipelines (PyAV, i.e. ffmpeg's libraries in-process).

Opening a container, telling its real streams apart, checking its header's duration, decoding its sound
in blocks, and turning ffmpeg's errors into typed ones live here, once; ``audio.py`` and ``video.py``
import this module and never each other. :func:`route` decides from the streams which of the two
pipelines a file goes to: the bytes of an MP4/WebM/MKV cannot say whether it holds pictures (an
``.m4a`` is an MP4 without video; a silent screen recording sent as ``audio/mp4`` has no sound).

Sound is decoded as a stream: packets are decoded and resampled to 16 kHz mono float32 and handed on in
blocks of ``block_s`` seconds (4 minutes by default, 15 MB), each cut at the quietest half second near
its end so no word is split. A one-hour file never sits in memory whole. Timestamps stay absolute.

Guards: a wall-clock limit on the time spent inside the decoder (``Limits.decode_timeout_s``), a
duration limit (``Limits.max_media_seconds``, checked against the header when it is plausible and
against the decoded samples always), and typed errors for corrupt or empty input.
"""

from __future__ import annotations

import time
from typing import Iterator

import numpy as np

from ..encoders.asr import SAMPLE_RATE
from ..errors import DecodeError, DecodeTimeout, MediaTooLarge, UnsupportedMediaType
from ..types import clock
from .source import Limits, MediaSource

__all__ = ["open_container", "ffmpeg_message", "video_streams", "check_header_duration", "decode_blocks",
           "route", "SAMPLE_RATE"]

#: A header duration this far above what the file size allows (at 1 kbit/s, lower than any real
#: codec) is a lie; it is ignored and the decoded samples decide.
MIN_PLAUSIBLE_BYTES_PER_S = 125


def open_container(src: MediaSource):
    """Open with PyAV; corrupt or unknown containers become :class:`DecodeError`."""
    import av

    try:
        return av.open(str(src.path) if src.path is not None else src.open(), mode="r", timeout=30.0)
    except av.error.FFmpegError as exc:
        raise DecodeError(f"{src.name}: not a readable {src.mime or 'media'} file ({ffmpeg_message(exc)})") from None
    except (OSError, ValueError, EOFError) as exc:
        raise DecodeError(f"{src.name}: cannot open as {src.mime or 'media'} ({exc})") from None


def ffmpeg_message(exc: Exception) -> str:
    """ffmpeg's own words for an error (PyAV keeps them in ``strerror``)."""
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


def route(src: MediaSource) -> str:
    """``"video"`` when the container holds a real picture stream, else ``"audio"`` when it holds sound.

    A container with neither is refused: :class:`UnsupportedMediaType` for a file sniffed as audio
    ("has no audio stream"), :class:`DecodeError` otherwise."""
    c = open_container(src)
    try:
        if video_streams(c):
            return "video"
        if c.streams.audio:
            return "audio"
    finally:
        c.close()
    if src.modality == "audio":
        raise UnsupportedMediaType(f"{src.name} has no audio stream")
    raise DecodeError(f"{src.name} has neither a video nor an audio stream")


def check_header_duration(src: MediaSource, container, limits: Limits) -> float | None:
    """The header's duration, or MediaTooLarge when it is plausible and above the limit."""
    dur = container.duration / 1_000_000 if container.duration else None
    if dur is not None and dur > limits.max_media_seconds:
        if src.size / dur >= MIN_PLAUSIBLE_BYTES_PER_S:
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
                    raise DecodeError(f"{src.name}: cannot decode its audio ({ffmpeg_message(exc)})") from None
                frame = None  # a damaged tail: keep what decoded
                done = True
            try:
                out = resampler.resample(frame)
            except (av.error.FFmpegError, ValueError) as exc:
                raise DecodeError(f"{src.name}: cannot resample its audio ({ffmpeg_message(exc)})") from None
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
        raise DecodeError(f"{src.name}: cannot decode ({ffmpeg_message(exc)})") from None
    finally:
        if own:
            c.close()

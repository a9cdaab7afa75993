"""Audio: a recording's speech as timestamped transcript windows (``speech.py``), per file or many at once.

The container layer (``av.py``) decodes any sound ffmpeg reads as a stream of 16 kHz blocks (a one-hour
file never sits in memory whole); ``speech.py`` transcribes them with Whisper and cuts the transcript
into ~30-s windows, each one :class:`~omniembed.evidence.Segment` with start/end seconds and language;
the engine embeds the windows and pools them. Which files come here is decided by their streams
(``av.route``): an MP4 without pictures is audio, a silent video sent as ``audio/mp4`` goes to video.

Many short files at once (:func:`extract_many`: a list given to ``Embedder.embed``, a folder being
indexed, the server's merged batches) are decoded whole and transcribed together
(``Asr.transcribe_clips``): each clip is encoded once instead of twice or three times, and all their
readings are decoded in one batched beam search.

Audio in which Whisper hears no words still gets a vector (a plain description: "an audio recording of
N seconds without recognisable speech"), the flag ``no_speech`` and a note, like an image without text.
"""

from __future__ import annotations

import numpy as np

from ..encoders.asr import SAMPLE_RATE, AsrOptions, AsrSegment
from ..errors import OmniEmbedError, RequestCancelled
from ..evidence import Evidence, MediaContext
from ..types import clock
from .av import check_header_duration, decode_blocks, open_container, video_streams
from .sounds import with_sounds
from .source import MediaSource
from .speech import language_note, no_speech_evidence, recognizer, speech_segments, transcribe

__all__ = ["extract", "extract_many", "speech_evidence"]

#: Audio files up to this long are transcribed together with the other short files of a call
#: (:func:`extract_many`); longer ones stream block by block on their own.
SHORT_FILE_S = 60.0


def extract(src: MediaSource, ctx: MediaContext) -> Evidence:
    """The audio pipeline: transcript windows with start/end seconds and language."""
    opts = AsrOptions.from_dict(ctx.asr_options)
    c = open_container(src)
    try:
        asr, duration = transcribe(src, ctx, container=c, progress=ctx.progress)
    finally:
        c.close()
    return with_sounds(src, ctx, speech_evidence(src, asr, duration, opts))


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
    """The audio pipeline for many files at once. With ``AsrOptions.pack_clips`` (the default) short
    recordings (≤ ``SHORT_FILE_S``) are decoded whole and transcribed together
    (:meth:`~omniembed.encoders.asr.Asr.transcribe_clips`: one encode per clip, one batched beam search
    for all, which is where a list of voice notes gains its speed); other files go through
    :func:`extract` one by one. A lone short clip takes the same path: through the one-file path
    (30-s window) a non-English espeak clip's vector was at cosine 0.45-0.96 (median 0.81 over 12
    clips, English ones 1.0) to the same clip's vector in a list, so a voice note sent as a query would
    not find itself in its indexed folder. Per file: its evidence, or the typed error it raised."""
    opts = AsrOptions.from_dict(ctx.asr_options)
    out: list[Evidence | OmniEmbedError | None] = [None] * len(srcs)
    if not opts.pack_clips:  # every file alone, through the one-file path
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
    if short:  # a lone clip too: a voice note sent as a query reads as it does in its indexed folder
        results = recognizer(ctx).transcribe_clips([samples for _, samples in short], opts)
        for (i, samples), segs in zip(short, results):
            out[i] = with_sounds(srcs[i], ctx, speech_evidence(srcs[i], segs, len(samples) / SAMPLE_RATE, opts))
    return out  # type: ignore[return-value]

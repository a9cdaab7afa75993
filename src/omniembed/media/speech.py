"""Speech in a sound track, for the audio and the video pipelines: Whisper ASR → timestamped windows.

The sound is decoded in blocks by the container layer (``av.decode_blocks``); each block is
transcribed (VAD skips silence; language identified per block) and the recognised segments are
grouped into windows of about ``window_s`` seconds (30 by default), cut at Whisper's own segment
boundaries. Each window becomes one :class:`~omniembed.evidence.Segment` (``source="asr"``) with
start/end seconds and its language. Recordings in which Whisper hears no words get a plain description
instead (:func:`no_speech_evidence`), flagged ``no_speech``.
"""

from __future__ import annotations

import math
from typing import Callable

from ..encoders.asr import SAMPLE_RATE, AsrOptions, AsrSegment
from ..evidence import Evidence, MediaContext, Segment
from ..types import clock
from .av import decode_blocks
from .source import MediaSource

__all__ = ["transcribe", "windows", "joined", "speech_segments", "language_note", "no_speech_evidence", "speech_model",
           "recognizer"]


def speech_model(ctx: MediaContext) -> str | None:
    """The profile's speech model directory (None: Whisper base)."""
    return getattr(ctx.encoders, "speech_model", None)


def recognizer(ctx: MediaContext):
    """The profile's speech recogniser: the one its encoders name (``Encoders.speech``), else the shared
    Whisper of :func:`speech_model` (loaded on first use)."""
    own = getattr(ctx.encoders, "speech", None)
    if own is not None:
        return own
    from ..encoders.asr import get_asr

    return get_asr(speech_model(ctx))


def transcribe(
    src: MediaSource,
    ctx: MediaContext,
    *,
    container=None,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[AsrSegment], float]:
    """All recognised speech segments of ``src`` (absolute seconds) and the decoded duration."""
    opts = AsrOptions.from_dict(ctx.asr_options)
    asr = None
    segments: list[AsrSegment] = []
    duration = 0.0
    for start, block in decode_blocks(src, ctx.limits, opts.block_s, container=container):
        ctx.check()  # a work unit is one block: stop here if the request was cancelled
        duration = start + len(block) / SAMPLE_RATE
        if asr is None:
            asr = recognizer(ctx)
        segments.extend(asr.transcribe_block(block, start, opts))
        if progress:
            progress(f"{src.name}: transcribed {clock(duration)}")
    return segments, duration


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



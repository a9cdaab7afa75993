"""What non-speech audio sounds like: zero-shot sound tags from a CLAP model, entered as text.

Used by the audio and video pipelines when the profile has a sound model (``--sound-model DIR``,
``Embedder(sound_model=DIR)``, or a CLAP directory as the profile): the sound track is decoded a second
time at the model's own rate (48 kHz for every published CLAP: resampling Whisper's 16 kHz would lose
everything above 8 kHz — birdsong, hiss, cymbals), cut into ``WINDOW_S`` windows (CLAP's input length),
and each window is tagged against the sound-label vocabulary (``encoders.clap.SoundTagger``: AudioSet's
527 class names). Neighbouring windows with the same top tags become one span.

Each span becomes one ``sound`` segment with the text ``"sounds like: dog, bark, domestic animals, pets"``
and its start/end seconds: the profile's **text encoder** embeds it like any other evidence, so sounds
land in the same space as text, transcripts and OCR (a query "a dog barking" finds the recording; so
does another recording of a dog, embedded the same way: "find recordings like this one"). The text is
returned as the piece's text, so search shows it; the tags' scores are in the part's notes.

Fusion with the other channels of the part (pieces are pooled by tokens × weight, ``fusion.py``):

* **no transcript and no on-screen text**: the sound spans are the whole part (the "without
  recognisable speech" description is dropped; the ``no_speech`` flag stays);
* **with a transcript (and/or OCR)**: the sound channel gets ``SOUND_SHARE`` (1/4) of the part's
  weight, the existing channels keep their proportions in the rest. A recording is mostly what is said
  in it; what it sounds like ("speech, male speech") should colour, not replace, that.
"""

from __future__ import annotations

import numpy as np

from ..errors import DecodeError
from ..evidence import Evidence, MediaContext, Segment
from .source import MediaSource

__all__ = ["WINDOW_S", "SOUND_SHARE", "sound_segments", "add_sounds", "with_sounds"]

WINDOW_S = 10.0  # CLAP's input length (max_length_s of every published model)
MIN_TAIL_S = 2.0  # a last window shorter than this joins the previous one
SOUND_SHARE = 0.25  # the sound channel's share of a part that also has speech or on-screen text
TAGS_PER_SPAN = 3  # tags written into a span's text
SILENT_PEAK = 1e-3  # windows quieter than this (peak amplitude) are not tagged


def _windows(n: int, rate: int) -> list[tuple[int, int]]:
    w, tail = int(WINDOW_S * rate), int(MIN_TAIL_S * rate)
    cuts = list(range(0, n, w))
    spans = [(lo, min(lo + w, n)) for lo in cuts]
    if len(spans) > 1 and spans[-1][1] - spans[-1][0] < tail:
        spans[-2:] = [(spans[-2][0], spans[-1][1])]
    return spans


def sound_segments(src: MediaSource, ctx: MediaContext, modality: str) -> tuple[list[Segment], str | None]:
    """The sound spans of ``src`` as segments, and a note with their scores; ([], None) without a sound
    model in the profile."""
    from ..types import clock
    from .av import decode_blocks

    tagger = getattr(ctx.encoders, "sound_tagger", None)
    if tagger is None:
        return [], None
    rate = int(tagger.sample_rate)
    spans: list[dict] = []
    for start, block in decode_blocks(src, ctx.limits, 240.0, rate=rate):
        ctx.check()
        wins = [(lo, hi) for lo, hi in _windows(len(block), rate) if np.abs(block[lo:hi]).max() >= SILENT_PEAK]
        if not wins:
            continue
        for (lo, hi), tags in zip(wins, tagger.tag([block[lo:hi] for lo, hi in wins])):
            labels = tuple(t.label for t in tags[:TAGS_PER_SPAN])
            t0, t1 = start + lo / rate, start + hi / rate
            last = spans[-1] if spans else None
            if last and last["labels"] == labels and abs(last["end"] - t0) < 0.05:
                last["end"] = t1
                last["scores"].append([t.score for t in tags[:TAGS_PER_SPAN]])
            else:
                spans.append({"labels": labels, "start": t0, "end": t1, "scores": [[t.score for t in tags[:TAGS_PER_SPAN]]]})
    segs = [Segment("sounds like: " + ", ".join(lb.lower() for lb in s["labels"]), modality, "sound",
                    start_s=round(s["start"], 2), end_s=round(s["end"], 2)) for s in spans]  # fmt: skip
    if not spans:
        return [], None
    shown = []
    for s in spans[:8]:
        mean = np.mean(np.asarray(s["scores"]), axis=0)
        tags = ", ".join(f"{lb.lower()} {p:.2f}" for lb, p in zip(s["labels"], mean))
        shown.append(f"{clock(s['start'])}–{clock(s['end'])} {tags}")
    more = f" (+{len(spans) - 8} more)" if len(spans) > 8 else ""
    return segs, f"{src.name}: sounds (tag score): " + "; ".join(shown) + more


def with_sounds(src: MediaSource, ctx: MediaContext, ev: Evidence) -> Evidence:
    """``ev`` plus what the recording sounds like when the profile has a sound model; else ``ev`` as is
    (the lite profile's pipelines are unchanged)."""
    if getattr(ctx.encoders, "sound_tagger", None) is None:
        return ev
    return add_sounds(src, ctx, ev)


def add_sounds(src: MediaSource, ctx: MediaContext, ev: Evidence) -> Evidence:
    """``ev`` with the sound spans of ``src`` added (weights in the module docstring); unchanged without a
    sound model. A sound track that cannot be decoded again leaves the evidence as it is, with a note."""
    try:
        segs, note = sound_segments(src, ctx, ev.modality)
    except DecodeError as exc:
        ev.notes.append(f"{src.name}: sounds not tagged ({exc})")
        return ev
    if not segs:
        return ev
    others = [s for s in ev.segments if s.source != "description"]
    if not others:  # nothing heard or read: what it sounds like is the whole part
        ev.segments = segs  # the first span's weight follows the modality's lead rule (fusion.py)
        ev.notes = [n for n in ev.notes if "heard no words" not in n and "found no on-screen text" not in n]
    else:
        mass = sum(len(s.text) * s.weight for s in others)
        sound_chars = sum(len(s.text) for s in segs)
        w = SOUND_SHARE / (1 - SOUND_SHARE) * mass / max(sound_chars, 1)
        for s in segs:
            s.weight = w
        ev.segments = others + segs
    ev.flags.add("sounds")
    if note:
        ev.notes.append(note)
    return ev

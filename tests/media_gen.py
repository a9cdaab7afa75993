"""Real test media, made on the spot: speech with espeak-ng, audio/video containers with ffmpeg.

Every clip is a few seconds long so Whisper on two shared cores stays cheap.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import require_binary
from omniembed.evidence import MediaContext
from omniembed.media.source import Limits, MediaSource

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def source(path: Path, declared: str | None = None, limits: Limits | None = None) -> MediaSource:
    """A file as the engine would see it (type sniffed from its bytes)."""
    return MediaSource.from_path(path, declared, limits or Limits())


def context(limits: Limits | None = None, **asr_options) -> MediaContext:
    """What a pipeline gets from the engine: limits and ASR options."""
    return MediaContext(limits=limits or Limits(), asr_options=asr_options)


def run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=120)


def speak(path: Path, text: str, voice: str = "en-us", wpm: int = 150) -> Path:
    """espeak-ng speech as a WAV file (22.05 kHz mono, espeak's native format)."""
    require_binary("espeak-ng")
    run("espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(path), text)
    return path


def ffmpeg(*args: str) -> None:
    require_binary("ffmpeg")
    run("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args)


def convert(src: Path, dst: Path, *codec: str) -> Path:
    ffmpeg("-i", str(src), *codec, str(dst))
    return dst


def with_silence(src: Path, dst: Path, before_s: float, after_s: float = 0.0) -> Path:
    """Pad a clip with digital silence (timestamps must then move by ``before_s``)."""
    ffmpeg(
        "-i",
        str(src),
        "-af",
        f"adelay={int(before_s * 1000)}:all=1,apad=pad_dur={after_s}",
        "-ar",
        "16000",
        "-ac",
        "1",
        str(dst),
    )
    return dst


def concat(parts: list[Path], dst: Path) -> Path:
    """Concatenate audio files (any rate) into one 16 kHz mono WAV."""
    args: list[str] = []
    for p in parts:
        args += ["-i", str(p)]
    inputs = "".join(f"[{i}:a]aresample=16000,aformat=channel_layouts=mono[a{i}];" for i in range(len(parts)))
    labels = "".join(f"[a{i}]" for i in range(len(parts)))
    ffmpeg(*args, "-filter_complex", f"{inputs}{labels}concat=n={len(parts)}:v=0:a=1[out]", "-map", "[out]", str(dst))
    return dst


def slide_video(
    dst: Path,
    slides: list[tuple[float, float, str]],
    duration: float,
    narration: Path | None = None,
    vcodec: tuple[str, ...] = ("-c:v", "libx264", "-pix_fmt", "yuv420p"),
    acodec: tuple[str, ...] = ("-c:a", "aac", "-b:a", "48k"),
    size: str = "640x360",
    rate: int = 10,
) -> Path:
    """A white video showing each slide's text (big, black) between its start and end seconds."""
    draws = ",".join(
        f"drawtext=fontfile={FONT}:text='{text}':fontsize=34:fontcolor=black:x=(w-text_w)/2:y=(h-text_h)/2"
        f":enable='between(t,{a},{b})'"
        for a, b, text in slides
    )
    args = ["-f", "lavfi", "-i", f"color=c=white:s={size}:r={rate}:d={duration}"]
    if narration is not None:
        args += ["-i", str(narration)]
    args += ["-vf", draws or "null", *vcodec]
    args += [*acodec, "-af", f"apad=whole_dur={duration}"] if narration is not None else ["-an"]
    args += ["-t", str(duration), str(dst)]
    ffmpeg(*args)
    return dst

"""Audio and video throughput and memory, with baselines measured in the same run.

    .venv/bin/python -m bench.bench_media                 # everything (~10 min on 2 cores)
    .venv/bin/python -m bench.bench_media --long-minutes 5 --skip-video

What it prints:

* **audio real-time factor** (audio seconds per wall second) of omniembed's audio pipeline (streaming
  PyAV decode → Whisper base int8 with VAD → transcript windows) on speech with pauses, next to
  faster-whisper called directly on the same file with the same decoding settings: the ratio is our
  overhead. Also the full ``Embedder.embed`` (ASR + e5 embedding + pooling).
* **video minutes processed per minute** for a narrated slide video (keyframe OCR + ASR).
* **peak RSS** of a process that embeds a 30-minute recording (default ``--long-minutes 30``), next to
  the peak RSS of a process that only loads the same models and embeds 10 s (the floor), and of
  faster-whisper called directly on the same 30-minute file (it decodes the whole file into memory).

All media are generated here with espeak-ng and ffmpeg (English sentences, 1–4 s pauses between them).
Each measurement runs in its own subprocess so peak RSS figures do not mix.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = [
    "The quarterly budget meeting moved to Thursday afternoon.",
    "Please bring the printed reports and your laptop.",
    "Our new office opens next month near the central station.",
    "The backup server failed twice during the night.",
    "Remember to water the tomato plants every evening.",
    "The museum closes its doors at six o'clock tonight.",
    "We need three volunteers for the charity run on Sunday.",
    "The delivery truck is stuck in traffic on the highway.",
    "Customers asked for a cheaper plan with fewer features.",
    "The library extended its opening hours for the exam period.",
    "A new firmware update fixes the battery problem.",
    "The train to the airport leaves every fifteen minutes.",
]
PAUSES = [1.0, 2.5, 1.5, 4.0, 2.0, 3.0]


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=3600)


def _ffmpeg(*args: str) -> None:
    _run("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args)


def make_speech(work: Path, seconds: float, name: str) -> Path:
    """English speech with pauses, at least ``seconds`` long, as 16 kHz mono MP3 (64 kbit/s)."""
    pieces = []
    for i, s in enumerate(SENTENCES):
        wav = work / f"s{i}.wav"
        if not wav.exists():
            _run("espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), s)
        pad = work / f"p{i}.wav"
        if not pad.exists():
            _ffmpeg("-i", str(wav), "-af", f"apad=pad_dur={PAUSES[i % len(PAUSES)]}", "-ar", "16000", "-ac", "1", str(pad))
        pieces.append(pad)
    unit = work / "unit.wav"
    if not unit.exists():
        lst = work / "unit.txt"
        lst.write_text("".join(f"file '{p.resolve()}'\n" for p in pieces))
        _ffmpeg("-f", "concat", "-safe", "0", "-i", str(lst), "-c", "copy", str(unit))
    out = work / f"{name}.mp3"
    _ffmpeg("-stream_loop", "-1", "-i", str(unit), "-t", str(seconds), "-c:a", "libmp3lame", "-b:a", "64k", str(out))
    return out


def make_video(work: Path, speech: Path, seconds: float) -> Path:
    """A 1280×720 H.264 + AAC slide video: a new slide every 20 s, narrated by ``speech``."""
    font = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
    draws = ",".join(
        f"drawtext=fontfile={font}:text='{s.rstrip('.').replace(chr(39), '')}':fontsize=40:x=60:y=320:enable='between(t,{i * 20},{i * 20 + 20})'"
        for i, s in enumerate(SENTENCES[: int(seconds // 20) + 1])
    )
    out = work / "slides.mp4"
    _ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=s=1280x720:r=25:d={seconds}", "-i", str(speech),
        "-vf", f"drawbox=x=40:y=290:w=1200:h=110:color=white:t=fill,{draws}",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k",
        "-t", str(seconds), str(out),
    )
    return out


# ------------------------------------------------------------------------------- child jobs ---


def child(kind: str, path: str) -> dict:
    """One measurement in this (fresh) process; prints a JSON line."""
    beam = int(os.environ.get("BENCH_BEAM_SIZE", "5"))
    opts = {"beam_size": beam, "vad": True, "word_timestamps": True, "condition_on_previous_text": False,
            "temperatures": [0.0]}
    out: dict = {"kind": kind}
    if kind == "whisper":  # faster-whisper called directly, same model and settings
        from faster_whisper import WhisperModel

        from omniembed.encoders.asr import model_dir

        model = WhisperModel(str(model_dir()), device="cpu", compute_type="int8", cpu_threads=2)
        t = time.perf_counter()
        segs, info = model.transcribe(
            path, beam_size=beam, best_of=beam, vad_filter=True, word_timestamps=True, condition_on_previous_text=False,
            temperature=[0.0],
        )
        out["segments"] = len(list(segs))
        out["seconds"] = time.perf_counter() - t
        out["duration"] = info.duration
    elif kind in ("pipeline", "video"):  # omniembed's pipeline only (decode + ASR / OCR), no e5
        from omniembed.encoders.asr import get_asr
        from omniembed.evidence import MediaContext
        from omniembed.media import extract
        from omniembed.media.source import Limits, MediaSource

        get_asr()  # load the model outside the timing, as for the direct call
        src = MediaSource.from_path(Path(path), None, Limits())
        t = time.perf_counter()
        ev = extract(src, MediaContext(limits=Limits(), asr_options=opts))
        out["seconds"] = time.perf_counter() - t
        out["segments"] = len(ev.segments)
    elif kind in ("embed", "floor"):  # the whole Embedder: ASR + e5 + pooling
        from omniembed import Embedder
        from omniembed.encoders.asr import get_asr

        emb = Embedder(asr_options=opts)
        get_asr()
        emb.embed("warm up the text encoder")
        t = time.perf_counter()
        res = emb.embed_detailed([Path(path)])
        out["seconds"] = time.perf_counter() - t
        out["segments"] = len(res[0].pieces)
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def spawn(kind: str, path: Path, beam: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="2", BENCH_BEAM_SIZE=str(beam))
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench_media", "--child", kind, str(path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=7200,
    )
    if proc.returncode:
        raise RuntimeError(f"child {kind} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def duration_of(path: Path) -> float:
    import av

    with av.open(str(path)) as c:
        return c.duration / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--audio-seconds", type=float, default=180.0, help="length of the RTF test file")
    ap.add_argument("--video-seconds", type=float, default=120.0, help="length of the video test file")
    ap.add_argument("--long-minutes", type=float, default=30.0, help="length of the peak-RSS file (0 = skip)")
    ap.add_argument("--skip-video", action="store_true")
    ap.add_argument("--beam-size", type=int, default=5, help="Whisper beam size for every run (5 = the library default, 1 = greedy)")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console()
    results: dict = {}
    scratch = ROOT / ".cache"  # git-ignored; not /tmp, which may be small or shared
    scratch.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-media-", dir=scratch) as tmp:
        work = Path(tmp)
        with console.status("generating speech with espeak-ng…"):
            speech = make_speech(work, args.audio_seconds, "speech")
        dur = duration_of(speech)
        steps = [("whisper", speech), ("pipeline", speech), ("embed", speech)]
        if not args.skip_video:
            with console.status("generating the slide video…"):
                vid = make_video(work, make_speech(work, args.video_seconds, "narration"), args.video_seconds)
            steps.append(("video", vid))
        if args.long_minutes > 0:
            with console.status(f"generating {args.long_minutes:g} minutes of speech…"):
                long = make_speech(work, args.long_minutes * 60, "long")
                floor = make_speech(work, 10, "floor")
            steps += [("floor", floor), ("embed-long", long), ("whisper-long", long)]
        for kind, path in steps:
            with console.status(f"running {kind} on {path.name}…"):
                r = spawn(kind.removesuffix("-long"), path, args.beam_size)
            r["media_s"] = duration_of(path)
            results[kind] = r
            console.print(f"{kind}: {r['seconds']:.1f} s for {r['media_s']:.0f} s of media, peak RSS {r['max_rss_mb']:.0f} MB")

    t = Table(title=f"omniembed media benchmark (2 threads, Whisper base int8, beam {args.beam_size}, temperature 0, VAD, word timestamps)")
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_column("baseline (same run)", justify="right")
    t.add_column("ratio", justify="right")
    w, p, e = results["whisper"], results["pipeline"], results["embed"]
    rtf = lambda r: r["media_s"] / r["seconds"]  # noqa: E731
    t.add_row("audio RTF, audio pipeline", f"{rtf(p):.1f}× real time", f"{rtf(w):.1f}× faster-whisper direct",
              f"overhead {p['seconds'] / w['seconds'] - 1:+.1%}")
    t.add_row("audio RTF, Embedder.embed (ASR + e5)", f"{rtf(e):.1f}× real time", f"{rtf(w):.1f}×",
              f"overhead {e['seconds'] / w['seconds'] - 1:+.1%}")
    if "video" in results:
        v = results["video"]
        t.add_row("video minutes per minute (OCR + ASR)", f"{rtf(v):.2f}", "", "")
    if "embed-long" in results:
        lg, fl = results["embed-long"], results["floor"]
        whole = lg["media_s"] * 16000 * 4 / 2**20
        t.add_row(f"peak RSS, {lg['media_s'] / 60:.0f}-min audio", f"{lg['max_rss_mb']:.0f} MB",
                  f"{fl['max_rss_mb']:.0f} MB (10 s file)", f"+{lg['max_rss_mb'] - fl['max_rss_mb']:.0f} MB "
                  f"(whole file as float32: {whole:.0f} MB)")
        wl = results["whisper-long"]
        t.add_row(f"peak RSS, {lg['media_s'] / 60:.0f}-min audio, faster-whisper direct", f"{wl['max_rss_mb']:.0f} MB",
                  "(decodes the whole file, then its features)", "")
        t.add_row(f"audio RTF, {lg['media_s'] / 60:.0f}-min Embedder.embed", f"{rtf(lg):.1f}× real time",
                  f"{rtf(wl):.1f}× faster-whisper direct", f"overhead {lg['seconds'] / wl['seconds'] - 1:+.1%}")
    console.print(t)
    results["speech_duration_s"] = dur
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

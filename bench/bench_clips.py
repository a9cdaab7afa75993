"""Many short recordings (voice notes): batched speech recognition vs faster-whisper per clip, same run.

    .venv/bin/python -m bench.bench_clips                 # 12 clips, 2 interleaved rounds
    .venv/bin/python -m bench.bench_clips --clips 24 --rounds 1
    .venv/bin/python -m bench.bench_clips --quick         # 6 clips, 1 round (smoke run)

Generates N short clips with espeak-ng (3-10 s; English, German, French, Spanish; every third clip is
two sentences with a 1.5-2.5 s pause between them; MP3, WAV and OGG), then, in ONE process with the
models loaded once, measures in interleaved rounds (the order rotates each round, so a load spike on
the shared machine hits every variant alike):

* **baseline**: faster-whisper's ``WhisperModel.transcribe`` called per clip, the same Whisper base int8
  model (``cpu_threads=2``) and the library's decoding settings (beam 5, temperature 0, VAD, word
  timestamps, no conditioning on previous text, language identified per clip);
* **one by one**: ``Embedder.embed(clip)`` per clip (ASR + e5 + pooling; ``--skip-single`` skips it);
* **as a list**: ``Embedder.embed([all clips])`` with the default options (``pack_clips``: batched
  recognition, ``media/audio.py`` → ``Asr.transcribe_clips``: every clip encoded once at the default
  15-s clip context, batched beam searches for every clip and hedged reading);
* **as a list, other contexts**: the same at each ``--contexts`` value (default 30: the window
  faster-whisper encodes; ``--contexts ''`` for none);
* **index**: ``omniembed index`` (``Indexer``) on the folder of clips into a fresh store, default options.

Prints the real-time factor (seconds of audio per wall second) of each, the ratio of each to the
baseline from the same round, and the load average before and after. Target of issue 18: the list and
the index ≥ 3× faster than the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.bench_media import duration_of

ROOT = Path(__file__).resolve().parent.parent

#: (espeak voice, sentence): short, everyday voice-note sentences.
LINES = [
    ("en-us", "Call me back when you get this message."),
    ("de", "Ich komme heute etwas später nach Hause."),
    ("fr-fr", "N'oublie pas d'acheter du pain ce soir."),
    ("es", "La reunión de mañana empieza a las nueve."),
    ("en-us", "The delivery truck is stuck in traffic on the highway."),
    ("de", "Kannst du bitte die Unterlagen für das Treffen mitbringen?"),
    ("fr-fr", "Le train pour l'aéroport part toutes les quinze minutes."),
    ("es", "Recuerda regar las plantas del jardín todas las tardes."),
    ("en-us", "Remember to water the tomato plants every evening."),
    ("de", "Der Drucker im zweiten Stock ist schon wieder kaputt."),
    ("fr-fr", "Le musée ferme ses portes à six heures ce soir."),
    ("es", "Necesitamos tres voluntarios para la carrera del domingo."),
    ("en-us", "Our new office opens next month near the central station."),
    ("de", "Bitte ruf mich zurück, sobald du diese Nachricht hörst."),
    ("fr-fr", "La bibliothèque a prolongé ses horaires pendant les examens."),
    ("es", "El servidor de copias de seguridad falló dos veces anoche."),
]
FORMATS = ("mp3", "wav", "ogg")


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=300)


def make_clips(folder: Path, n: int, voices: set[str] | None = None) -> list[Path]:
    """``n`` clips of 3-10 s in ``folder``: one or (every third clip) two sentences with a pause;
    ``voices``: only these espeak voices (e.g. {"en-us"}: voice notes in one language)."""
    lines = [ln for ln in LINES if voices is None or ln[0] in voices]
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".parts"
    tmp.mkdir(exist_ok=True)
    out = []
    for i in range(n):
        voice, text = lines[i % len(lines)]
        wav = tmp / f"{i}.wav"
        _run("espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text)
        inputs = ["-i", str(wav)]
        filt = "aresample=16000"
        if i % 3 == 2:  # a second sentence (same voice) after a pause: a clip "with pauses"
            voice2, text2 = next((v, t) for v, t in lines[(i % len(lines)) + 1 :] + lines if v == voice and t != text)
            wav2 = tmp / f"{i}b.wav"
            _run("espeak-ng", "-v", voice2, "-s", "150", "-w", str(wav2), text2)
            pause = 1.5 + (i % 2)
            inputs += ["-i", str(wav2)]
            filt = (f"[0:a]aresample=16000,apad=pad_dur={pause}[a];[1:a]aresample=16000[b];"
                    "[a][b]concat=n=2:v=0:a=1")
        fmt = FORMATS[i % len(FORMATS)]
        dst = folder / f"note-{i:02d}-{voice[:2]}.{fmt}"
        codec = {"mp3": ["-c:a", "libmp3lame", "-b:a", "48k"], "wav": [], "ogg": ["-c:a", "libvorbis"]}[fmt]
        _run("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *inputs,
             *(["-filter_complex", filt] if len(inputs) > 2 else ["-af", filt]), "-ac", "1", *codec, str(dst))
        out.append(dst)
    shutil.rmtree(tmp)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=12, help="how many clips (3-10 s each)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds (ratios are per round)")
    ap.add_argument("--voices", help="only these espeak voices, e.g. en-us (default: en-us, de, fr-fr, es)")
    ap.add_argument("--beam-size", type=int, default=5, help="Whisper beam size for every variant")
    ap.add_argument("--skip-index", action="store_true", help="do not measure `omniembed index`")
    ap.add_argument("--skip-single", action="store_true", help="do not measure Embedder.embed per clip")
    ap.add_argument("--contexts", default="30",
                    help="clip_context_s values to time the list at besides the default, comma-separated "
                         "('' for none)")
    ap.add_argument("--quick", action="store_true", help="6 clips, 1 round")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args()
    if args.quick:
        args.clips, args.rounds = min(args.clips, 6), 1

    os.environ.setdefault("OMP_NUM_THREADS", "2")
    from rich.console import Console
    from rich.table import Table

    from omniembed import Embedder
    from omniembed.encoders.asr import get_asr
    from omniembed.indexer import Indexer
    from omniembed.store import open_store

    console = Console()
    scratch = ROOT / ".cache"  # git-ignored; not /tmp, which may be small or shared
    scratch.mkdir(exist_ok=True)
    load_before = os.getloadavg()
    opts = {"beam_size": args.beam_size}  # defaults otherwise: short clips packed, alone or in a list
    with tempfile.TemporaryDirectory(prefix="bench-clips-", dir=scratch) as tmp:
        work = Path(tmp)
        with console.status(f"generating {args.clips} clips with espeak-ng…"):
            clips = make_clips(work / "notes", args.clips, set(args.voices.split(",")) if args.voices else None)
        audio_s = sum(duration_of(p) for p in clips)
        lens = sorted(duration_of(p) for p in clips)
        console.print(f"{len(clips)} clips, {audio_s:.1f} s of audio ({lens[0]:.1f}-{lens[-1]:.1f} s each)")

        emb = Embedder(asr_options=opts)
        contexts = [float(c) for c in args.contexts.split(",") if c.strip()]
        shorter = {c: Embedder(asr_options={**opts, "clip_context_s": c}) for c in contexts}
        model = get_asr().model  # the very model the library uses: same weights, int8, cpu_threads=2
        emb.embed("warm up the text encoder")

        def baseline() -> None:
            for p in clips:
                segs, _ = model.transcribe(
                    str(p), beam_size=args.beam_size, best_of=args.beam_size, vad_filter=True,
                    word_timestamps=True, condition_on_previous_text=False, temperature=[0.0],
                )
                list(segs)

        def one_by_one() -> None:
            for p in clips:
                emb.embed(p)

        def as_list() -> None:
            emb.embed(clips)

        def index(embedder=emb) -> None:
            store_dir = work / f"store-{time.monotonic_ns()}"
            store = open_store(str(store_dir))
            try:
                rep = Indexer(store, embedder).run(work / "notes", progress=False)
                assert rep.indexed == len(clips) and not rep.failed, rep.failed
            finally:
                store.close()
                shutil.rmtree(store_dir, ignore_errors=True)

        variants = {"faster-whisper per clip": baseline}
        if not args.skip_single:
            variants["Embedder.embed per clip"] = one_by_one
        variants["Embedder.embed(list)"] = as_list
        for c, e in shorter.items():
            variants[f"Embedder.embed(list), clip_context_s={c:g}"] = lambda e=e: e.embed(clips)
        if not args.skip_index:
            variants["omniembed index (folder)"] = index
        times: dict[str, list[float]] = {k: [] for k in variants}
        names = list(variants)
        for r in range(args.rounds):
            order = names[r % len(names):] + names[: r % len(names)]
            for name in order:
                with console.status(f"round {r + 1}/{args.rounds}: {name}…"):
                    t0 = time.perf_counter()
                    variants[name]()
                    times[name].append(time.perf_counter() - t0)
                console.print(f"round {r + 1}: {name}: {times[name][-1]:.1f} s  (load {os.getloadavg()[0]:.1f})")
    load_after = os.getloadavg()

    base = times["faster-whisper per clip"]
    t = Table(title=f"{len(clips)} short clips, {audio_s:.0f} s of audio; Whisper base int8, cpu_threads=2, "
                    f"beam {args.beam_size}; {args.rounds} interleaved round(s)")
    t.add_column("variant")
    t.add_column("seconds per round", justify="right")
    t.add_column("real-time factor", justify="right")
    t.add_column("speed vs faster-whisper per clip (same round)", justify="right")
    result: dict = {"clips": len(clips), "audio_s": audio_s, "load_before": load_before, "load_after": load_after,
                    "times": times}
    for name, ts in times.items():
        ratios = [b / x for b, x in zip(base, ts)]
        result.setdefault("ratios", {})[name] = ratios
        t.add_row(name, " / ".join(f"{x:.1f}" for x in ts), f"{audio_s * len(ts) / sum(ts):.2f}× real time",
                  " / ".join(f"{q:.2f}×" for q in ratios))
    console.print(t)
    console.print(f"load average before: {' '.join(f'{x:.1f}' for x in load_before)}; "
                  f"after: {' '.join(f'{x:.1f}' for x in load_after)} (2 cores)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

"""Speech recognition quality on eval-dev D3: word error rate and language id per spoken language.

    .venv/bin/python scripts/eval_asr.py                                   # defaults
    .venv/bin/python scripts/eval_asr.py --opts '{"beam_size": 1}' --langs en
    .venv/bin/python scripts/eval_asr.py --opts '{"vad": false}' --show
    .venv/bin/python scripts/eval_asr.py --batch 16     # clips transcribed together, as Embedder.embed(list)

Runs omniembed's own audio pipeline (``media.audio.transcribe``: streaming decode, VAD, Whisper) on every
D3 clip with the given ``asr_options`` and compares the main reading's transcript with
``meta.transcript`` ("unsure" counts clips whose identification was unsure, so they were also read in
another language, ``lid_keep="all"``). Retrieval numbers
come from eval-dev's ``run.py``; this script says *why* they move (what Whisper heard). WER is computed
on lower-cased words without punctuation (Levenshtein over words / reference length).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
D3 = ROOT.parent / "shared" / "eval-dev" / "tasks" / "d3-speech"


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def wer(ref: list[str], hyp: list[str]) -> float:
    """Word-level Levenshtein distance divided by the reference length."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / max(1, len(ref))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--opts", default="{}", help="asr_options as JSON, e.g. '{\"beam_size\": 1}'")
    ap.add_argument("--langs", default="en,de,fr", help="which spoken languages to run")
    ap.add_argument("--data", type=Path, default=D3, help="the d3-speech task folder")
    ap.add_argument("--show", action="store_true", help="print every transcript")
    ap.add_argument("--batch", type=int, default=0,
                    help="transcribe the clips N at a time together (media.audio.extract_many's path, "
                         "Asr.transcribe_clips), as Embedder.embed does on a list; 0 = one by one")
    ap.add_argument("--json", type=Path, help="also write per-clip results here")
    args = ap.parse_args()

    from omniembed.encoders.asr import get_asr
    from omniembed.evidence import MediaContext
    from omniembed.media.speech import transcribe
    from omniembed.media.source import Limits, MediaSource

    opts = json.loads(args.opts)
    langs = set(args.langs.split(","))
    clips = [json.loads(line) for line in (args.data / "corpus.jsonl").read_text().splitlines() if line.strip()]
    clips = [c for c in clips if c["meta"]["lang"] in langs]
    get_asr()
    per_lang: dict[str, list[tuple[float, bool, bool]]] = defaultdict(list)  # (WER, id correct, unsure)
    rows = []
    t0 = time.perf_counter()
    heard_all: dict[str, list] = {}
    if args.batch:
        from omniembed.encoders.asr import AsrOptions
        from omniembed.media.av import decode_blocks

        o = AsrOptions.from_dict(opts)
        for lo in range(0, len(clips), args.batch):
            group = clips[lo : lo + args.batch]
            samples = [next(decode_blocks(MediaSource.from_path(args.data / c["path"], None, Limits()), Limits()))[1]
                       for c in group]  # fmt: skip
            for c, segs in zip(group, get_asr().transcribe_clips(samples, o)):
                heard_all[c["id"]] = segs
    for c in clips:
        if args.batch:
            segs = heard_all[c["id"]]
        else:
            src = MediaSource.from_path(args.data / c["path"], None, Limits())
            segs, _ = transcribe(src, MediaContext(limits=Limits(), asr_options=opts))
        heard = " ".join(s.text for s in segs)  # the main reading (what WER and language id are about)
        detected = segs[0].language if segs else None
        hedged = any(s.alternatives for s in segs)
        lang = c["meta"]["lang"]
        e = wer(words(c["meta"]["transcript"]), words(heard))
        per_lang[lang].append((e, detected == lang, hedged))
        rows.append({"id": c["id"], "lang": lang, "detected": detected, "wer": e, "heard": heard,
                     "also_read_as": [a for s in segs for a in s.alternatives]})
        if args.show:
            print(f"{c['id']:8} {detected or '-':3} {e:4.2f} {'~' if hedged else ' '} {heard}", file=sys.stderr)
    spent = time.perf_counter() - t0
    audio_s = sum(c["meta"]["seconds"] for c in clips)
    print(f"asr_options={opts}{f'  batch {args.batch}' if args.batch else ''}  {len(clips)} clips, {audio_s:.0f} s of audio in {spent:.0f} s")
    print(f"{'lang':5} {'n':>3} {'WER':>6} {'lang id':>8} {'unsure':>7}")
    for lang in sorted(per_lang):
        r = per_lang[lang]
        wer_mean = sum(e for e, _, _ in r) / len(r)
        print(f"{lang:5} {len(r):3} {wer_mean:6.2f} {sum(ok for _, ok, _ in r):4}/{len(r)} {sum(h for _, _, h in r):4}/{len(r)}")
    if args.json:
        args.json.write_text(json.dumps({"opts": opts, "seconds": spent, "clips": rows}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()

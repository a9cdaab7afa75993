"""Narrated videos: does a video's one vector say what its screen shows when its speech says only part?

    .venv/bin/python -m bench.narrated_videos               # build (once, cached), embed (once, cached), score
    .venv/bin/python -m bench.narrated_videos --n 100 --rebuild
    .venv/bin/python -m bench.narrated_videos --json out.json --cached-only

**The task** (the shape of issue 20's independent benchmark: a document page on screen, one sentence
spoken over it, the query a one-line description of the document). Material: the installed Python
distributions' ``METADATA`` (the same candidates as ``bench/longdocs.py``: summary not quoted anywhere in
the description, description ≥ 100 words, no duplicates, not this project). Per package:

* **screen**: the long description rendered by reportlab to an A4 PDF (``longdocs._pdf``), page 1
  rendered by pypdfium2 at 1280 px wide, the top 720 px below the margin as a still (title, opening);
* **speech**: ONE sentence of the description, chosen to be related but partial: plain prose (8–24 words,
  mostly letters, no URL or markup), not the summary, and preferably from beyond the first 1,500
  characters (i.e. not what the screen shows); spoken by espeak-ng (en-us, 150 wpm) after 0.5 s of
  silence;
* **video**: ffmpeg muxes both into an H.264 + AAC MP4 (1280×720, 5 fps, the speech's length + 1 s);
* **query**: the package's one-line ``Summary``. A second query set, the narration sentence itself
  (what eval-dev D4 calls a video-speech query), shows what each rule costs speech retrieval.

**Embedding once, fusing many ways.** Each video goes through omniembed's own pipeline once (PyAV,
RapidOCR on the distinct frames — a still is OCR'd once, the bench logs the OCR calls —, Whisper with
hedged language id, chunking, e5); the piece vectors (the encoder's space, before the Matryoshka
rotation) are cached with their tokens, weights, source (``ocr`` / ``asr``), text, and the OCR and ASR
confidences (recorded by wrapping ``Ocr.read`` and the video pipeline's ``transcribe``). Every rule is a
function of those, so all are scored on the same evidence in the same run. The cascade baselines embed
the joined OCR + transcript text once (first 512 tokens), as issue 20's naive cascade does; they are
cached too. The log says where the time goes (OCR, Whisper, the rest); ``--reverse`` lets a second
process fill the same cache from the other end.

**eval-dev D4 in the same run** (``--d4``, default ``../shared/eval-dev/tasks/d4-folder``): its five
videos are cached the same way and every rule makes their vectors; the other 25 files and the 41
queries go through ``omniembed.Embedder`` as eval-dev's ``omniembed`` adapter does (extraction and e5
memoised by ``bench.cached_eval``). Each row reports D4 R@1 and the ranks of the video-frame,
video-speech and video-speech-xling queries, and whether they are unchanged or better than today's
rule ("D4 ok": no video query loses a rank, D4 R@1 not lower).

**Agreement of the channels.** Some rules weigh the channels by length only when what the video says
is about what it shows: the cosine of the two channels' mean vectors, raw or centred (the space's mean,
which the rotation subtracts, taken off first), decides; hard (τ) or soft (lo→hi) gates.

**Other signals of the video** (second pass): the share of the transcript's content words that the
screen also shows (lexical gates, soft gates and shares), each channel's count of words the other does
not have, and the top of the screen (its first 48 tokens, embedded once more and cached in ``leads/``)
given part of the OCR channel's share. A last table sorts the narrated videos by who gains from giving
the screen more weight and sets their signals beside D4's videos: a rule can only help narrated
documents without costing D4 if some signal tells those videos apart.

**No fitting on the test set.** A rule family with a parameter is fitted on one half of the packages
(sha1 of the name) and scored on the other half, both ways, as in ``bench/longdocs.py``.
Everything goes to ``.omniembed/narrated/`` (git-ignored): it depends on what is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .longdocs import _norm, _pdf, _unit, collect, first_tokens, ranks, score

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".omniembed" / "narrated"
W, H = 1280, 720
SKIP_CHARS = 1500  # narration sentences are taken from beyond this many characters when possible


# ---------------------------------------------------------------------------------------------- build
def _plain(desc: str) -> str:
    """Markdown / rst description → prose-ish plain text (code blocks, links, tags, tables removed)."""
    t = re.sub(r"```.*?```", " ", desc, flags=re.S)
    t = re.sub(r"<[^>]+>", " ", t)
    t = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", t)
    t = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", t)
    t = re.sub(r"`([^`]*)`_?", r"\1", t)
    lines = [ln for ln in t.splitlines()
             if not ln.startswith(("    ", "\t", "..", "|", ">>>", "$")) and not re.fullmatch(r"\s*[=\-~^*+#`]{3,}\s*", ln)]
    return " ".join(" ".join(lines).split())


def narration(c: dict) -> str | None:
    """One related-but-partial sentence of the description (see the module docstring)."""
    text = _plain(c["description"])
    summary = _norm(c["summary"])
    good = []
    for m in re.finditer(r"[A-Z][^.!?]*[.!]", text):
        s = m.group(0).strip()
        words = s.split()
        if not 8 <= len(words) <= 24 or any(x in s for x in ("http", ":", "*", "#", "=", "_", "{", "[", "(c)", "@", '"', "/",
                                                                  "|", "\\", " .", "<", ">")):
            continue
        if sum(w.strip(".,;:'\"()").isalpha() for w in words) < 0.85 * len(words):
            continue
        if summary in _norm(s):
            continue
        good.append((m.start() < SKIP_CHARS, hashlib.sha1((c["key"] + s).encode()).hexdigest(), s))
    return min(good)[2] if good else None


def _still(pdf: Path, png: Path) -> None:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf))
    page = doc[0]
    img = page.render(scale=W / page.get_width()).to_pil().convert("RGB")
    top = int(2.0 / 2.54 * 72 * W / page.get_width())  # just inside the 2.5 cm top margin
    img.crop((0, top, W, top + H)).save(png)
    doc.close()


def _video(png: Path, sentence: str, out: Path) -> float:
    wav = out.with_suffix(".wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), sentence], check=True,
                   capture_output=True)
    import wave

    with wave.open(str(wav)) as w:
        dur = w.getnframes() / w.getframerate() + 1.0
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-framerate", "5", "-i", str(png), "-i", str(wav),
                    "-filter_complex", "[1:a]adelay=500:all=1,apad[a]", "-map", "0:v", "-map", "[a]",
                    "-t", f"{dur:.2f}", "-c:v", "libx264", "-preset", "veryfast", "-tune", "stillimage",
                    "-pix_fmt", "yuv420p", "-r", "5", "-c:a", "aac", "-b:a", "64k", str(out)], check=True)
    wav.unlink()
    return dur


def build(cache: Path, n: int) -> dict:
    report: dict = {}
    cands = collect(report)
    work = cache / "files"
    work.mkdir(parents=True, exist_ok=True)
    corpus, no_sentence = [], []
    for c in sorted(cands, key=lambda c: hashlib.sha1(c["key"].encode()).hexdigest()):
        if len(corpus) >= n:
            break
        sent = narration(c)
        if sent is None:
            no_sentence.append(c["name"])
            continue
        pdf, png, mp4 = work / f"{c['key']}.pdf", work / f"{c['key']}.png", work / f"{c['key']}.mp4"
        try:
            _pdf(pdf, c)
            _still(pdf, png)
            dur = _video(png, sent, mp4)
        except Exception as exc:  # a description reportlab cannot lay out
            report.setdefault("render-failed", []).append(f"{c['name']}: {exc}")
            continue
        pdf.unlink()
        corpus.append({"id": c["key"], "name": c["name"], "query": c["summary"], "video": mp4.name,
                       "narration": sent, "seconds": round(dur, 2)})
    report["no-sentence"] = no_sentence
    report["kept"] = len(corpus)
    (cache / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus), "utf-8")
    (cache / "build.json").write_text(json.dumps({k: v for k, v in report.items()}, indent=1, default=str), "utf-8")
    return report


# ---------------------------------------------------------------------------------------------- embed
class _Recorder:
    """Wraps OCR and Whisper to record what they were sure of, and where the time goes."""

    def __init__(self):
        from omniembed.encoders import ocr as ocr_mod
        from omniembed.media import video as audio_mod  # the video pipeline's own name for speech.transcribe

        self.ocr: list = []
        self.asr: list = []
        self.seconds = {"ocr": 0.0, "asr": 0.0, "all": 0.0}
        self.calls = {"ocr": 0, "asr": 0}
        self._mods = (ocr_mod, audio_mod)
        self._real = (ocr_mod.Ocr.read, audio_mod.transcribe)
        real_read, real_transcribe = self._real
        rec = self

        def read(self_, img):
            t = time.perf_counter()
            res = real_read(self_, img)
            rec.seconds["ocr"] += time.perf_counter() - t
            rec.calls["ocr"] += 1
            rec.ocr.append(res)
            return res

        def transcribe(src, ctx, **kw):
            t = time.perf_counter()
            segs, dur = real_transcribe(src, ctx, **kw)
            rec.seconds["asr"] += time.perf_counter() - t
            rec.calls["asr"] += 1
            rec.asr.extend(segs)
            return segs, dur

        ocr_mod.Ocr.read, audio_mod.transcribe = read, transcribe

    def close(self):
        self._mods[0].Ocr.read, self._mods[1].transcribe = self._real


def video_record(f: Path, eng, enc, recorder: _Recorder) -> dict:
    """One video → its piece vectors (encoder space), tokens, weights, sources, texts, confidences and
    the two cascade vectors (joined OCR + transcript, first 512 tokens)."""
    from omniembed.budget import CancelToken
    from omniembed.media import extract_many
    from omniembed.types import FileData, Part, TaskType

    recorder.ocr.clear()
    recorder.asr.clear()
    t0 = time.perf_counter()
    src, task, title = eng._evidence(Part(file_data=FileData(file_uri=str(f), mime_type=None)), 0, 0,
                                     TaskType.RETRIEVAL_DOCUMENT, None, eng._ctx)
    ev = extract_many([src], eng._ctx)[0]
    if isinstance(ev, Exception):
        raise ev
    st = eng._plan(ev, 0, 0, task, title, enc)
    eng._encode(st.jobs, enc, CancelToken())
    ocr_text = "\n".join(s.text for s in ev.segments if s.source == "ocr")
    asr_text = " ".join(s.text for s in ev.segments if s.source == "asr")
    budget = enc.max_tokens - enc.overhead("passage") - 2
    joined = [first_tokens(t, enc, budget) for t in
              (f"{ocr_text}\n\n{asr_text}".strip(), f"{asr_text}\n\n{ocr_text}".strip())]
    casc = enc.encode(joined, "passage")
    recorder.seconds["all"] += time.perf_counter() - t0
    ocr_conf = [r.confidence for r in recorder.ocr if r.text.strip()]
    asr = recorder.asr
    return {
        "vectors": np.stack([j.vector for j in st.jobs]).astype(np.float32),
        "tokens": np.asarray([j.tokens for j in st.jobs], np.int32),
        "weights": np.asarray([j.segment.weight for j in st.jobs], np.float32),
        "sources": np.asarray([j.segment.source for j in st.jobs]),
        "texts": np.asarray([j.snippet or j.text for j in st.jobs]),
        "cascade_ocr_first": casc[0].astype(np.float32),
        "cascade_asr_first": casc[1].astype(np.float32),
        "ocr_conf": np.float32(np.mean(ocr_conf) if ocr_conf else 0.0),
        "asr_prob": np.float32(np.mean([np.exp(s.avg_logprob) for s in asr]) if asr else 0.0),
        "asr_lang_prob": np.float32(np.mean([s.language_probability for s in asr]) if asr else 0.0),
        "asr_no_speech": np.float32(np.mean([getattr(s, "no_speech_prob", 0.0) or 0.0 for s in asr]) if asr else 1.0),
        "ocr_calls": np.int32(len(recorder.ocr)),
    }


def _load(npz: Path) -> dict | None:
    if npz.exists():
        try:
            z = np.load(npz, allow_pickle=False)
            return {k: z[k] for k in z.files}
        except Exception:  # being written by another run
            return None
    return None


def embed_pieces(cache: Path, corpus: list[dict], enc, log: Callable[[str], None], cached_only: bool = False,
                 files: Path | None = None, sub: str = "vectors") -> dict:
    """Each video → :func:`video_record`, cached per file (``cache/sub/<id>.<sha1>.npz``)."""
    from omniembed.engine import Engine

    recorder = _Recorder()
    eng = Engine("lite")
    out: dict[str, dict] = {}
    vec_dir = cache / sub
    vec_dir.mkdir(parents=True, exist_ok=True)
    files = files or cache / "files"
    t0 = time.time()
    done = 0
    try:
        for row in corpus:
            f = files / row["video"]
            npz = vec_dir / f"{row['id']}.{hashlib.sha1(f.read_bytes()).hexdigest()[:12]}.npz"
            rec = _load(npz)
            if rec is not None:
                out[row["id"]] = rec
                continue
            if cached_only:
                continue
            rec = video_record(f, eng, enc, recorder)
            np.savez(npz, **rec)
            out[row["id"]] = rec
            done += 1
            if done % 5 == 0:
                s, c = recorder.seconds, recorder.calls
                log(f"embedded {done} videos, {len(out)}/{len(corpus)} ready ({time.time() - t0:.0f}s; "
                    f"OCR {s['ocr']:.0f}s in {c['ocr']} frames, Whisper {s['asr']:.0f}s in {c['asr']} tracks, "
                    f"rest {s['all'] - s['ocr'] - s['asr']:.0f}s; load {os.getloadavg()[0]:.1f})")
    finally:
        recorder.close()
    return out


# ---------------------------------------------------------------------------------------------- rules
#: a rule maps one video's cached record to its raw (encoder-space) vector
Rule = Callable[[dict], np.ndarray]


def _channels(p: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    src = p["sources"]
    return p["vectors"], np.maximum(p["tokens"], 8).astype(np.float64), src


def before(p: dict) -> np.ndarray:
    """The rule before issue 20: the video pipeline gave OCR and ASR equal shares (by characters) and
    cancelled fusion's ×2 on the first piece; fusion pooled tokens × those weights. Videos cached by
    such a pipeline carry its weights; otherwise they are recomputed here."""
    from omniembed import fusion

    V, t, src = p["vectors"], [int(x) for x in p["tokens"]], [str(s) for s in p["sources"]]
    w = [float(x) for x in p["weights"]]
    if all(x == 1.0 for x in w) and len(w) > 1:
        chars = {c: sum(len(str(x)) for x, s in zip(p["texts"], src) if s == c) for c in ("ocr", "asr")}
        if all(chars.values()):
            w = [(chars["ocr"] + chars["asr"]) / 2 / chars[s] for s in src]
        w[0] /= 2.0
    return fusion.pool_pieces(V, t, w, fusion.FusionConfig(lead_share=0.0), "video")


def this_checkout(power: float | None = None) -> Rule:
    """``omniembed.fusion.pool_pieces`` of this checkout on the pipeline's weights, with the pieces'
    sources, and ``FusionConfig(channel_power=power)``."""
    from omniembed import fusion

    cfg = fusion.FusionConfig(channel_power=power)

    def f(p: dict) -> np.ndarray:
        V, t, src = p["vectors"], [int(x) for x in p["tokens"]], [str(s) for s in p["sources"]]
        return fusion.pool_pieces(V, t, [float(x) for x in p["weights"]], cfg, "video", src)
    return f


def share_rule(ocr_share: Callable[[dict, float, float], float]) -> Rule:
    """Token-weighted mean within each channel; the OCR channel gets ``ocr_share(p, L_ocr, L_asr)`` of
    the total weight, the ASR channel the rest (a channel that is missing gives the other everything)."""
    def f(p):
        V, t, src = _channels(p)
        ocr, asr = src == "ocr", src == "asr"
        if not ocr.any() or not asr.any():
            return _unit((t[:, None] * V).sum(0))
        lo, la = t[ocr].sum(), t[asr].sum()
        a = ocr_share(p, lo, la)
        w = np.where(ocr, a * t / lo, 0.0) + np.where(asr, (1 - a) * t / la, 0.0)
        return _unit((w[:, None] * V).sum(0))
    return f


def fixed_share(a: float) -> Rule:
    return share_rule(lambda p, lo, la: a)


def length_power(power: float) -> Rule:
    """Channel share ∝ (channel tokens)^power: 0 = equal channels, 1 = plain token weighting."""
    return share_rule(lambda p, lo, la: lo ** power / (lo ** power + la ** power))


def confidence(power: float = 0.0) -> Rule:
    """Channel share ∝ confidence × tokens^power (OCR: mean line confidence; ASR: exp(mean token
    log-probability) × language-id probability)."""
    def share(p, lo, la):
        co = float(p["ocr_conf"]) * lo ** power
        ca = float(p["asr_prob"]) * float(p["asr_lang_prob"]) * la ** power
        return co / (co + ca) if co + ca > 0 else 0.5
    return share_rule(share)


def cascade_blend(a: float) -> Rule:
    """a · (joined OCR+ASR text embedded once) + (1 − a) · (equal-channel mean)."""
    eq = length_power(0.0)
    return lambda p: _unit(a * p["cascade_ocr_first"] + (1 - a) * eq(p))


def channel_only(name: str) -> Rule:
    def f(p):
        V, t, src = _channels(p)
        m = src == name
        if not m.any():
            m = np.ones(len(src), bool)
        return _unit((t[m, None] * V[m]).sum(0))
    return f


def _channel_means(p: dict) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Each channel's token-weighted mean piece vector (raw encoder space), None when it is missing."""
    V, t, src = _channels(p)
    out = []
    for ch in ("ocr", "asr"):
        m = src == ch
        out.append((t[m, None] * V[m]).sum(0) / t[m].sum() if m.any() else None)
    return out[0], out[1]


def agreement(p: dict, centre: np.ndarray | None = None) -> float:
    """Cosine between what a video shows and what it says (channel means; ``centre`` subtracted first,
    e.g. the space's mean, so the encoder's common direction does not make everything look alike).
    1.0 when a channel is missing (nothing to disagree with)."""
    a, b = _channel_means(p)
    if a is None or b is None:
        return 1.0
    if centre is not None:
        a, b = a - centre, b - centre
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def gated(tau: float, agree: Rule, differ: Rule, centre: np.ndarray | None = None) -> Rule:
    """``agree`` when the channels' cosine ≥ tau, else ``differ``."""
    return lambda p: agree(p) if agreement(p, centre) >= tau else differ(p)


def soft_gate(lo: float, hi: float, agree: Rule, differ: Rule, centre: np.ndarray | None = None) -> Rule:
    """g = clip((cos − lo) / (hi − lo), 0, 1); vector = unit(g · agree + (1 − g) · differ)."""
    def f(p):
        g = min(1.0, max(0.0, (agreement(p, centre) - lo) / (hi - lo)))
        return _unit(g * agree(p) + (1 - g) * differ(p))
    return f


def centred_channels(a: float, centre: np.ndarray) -> Rule:
    """centre + a · unit(OCR mean − centre) + (1 − a) · unit(ASR mean − centre): the channels balanced
    in the centred space (what the space compares), not by raw weights."""
    def f(p):
        o, s = _channel_means(p)
        if o is None or s is None:
            return channel_only("ocr" if s is None else "asr")(p)
        return centre + a * _unit(o - centre) + (1 - a) * _unit(s - centre)
    return f


def plus_cascade(base: Rule, a: float) -> Rule:
    """unit(base + a · cascade): the joined text as one more component of the mean."""
    return lambda p: _unit(base(p) + a * p["cascade_ocr_first"])


def channel_texts(p: dict) -> tuple[str, str]:
    """The OCR and the transcript text of a cached record (its pieces' texts, joined per channel)."""
    src = [str(s) for s in p["sources"]]
    texts = [str(t) for t in p["texts"]]
    return ("\n".join(t for t, s in zip(texts, src) if s == "ocr"), " ".join(t for t, s in zip(texts, src) if s == "asr"))


_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_STOP = frozenset("""the and for with that this from are was were not but you your have has had can will all any its
    into out use used using also which when what where who how their there them they then than been our more most
    other some such only over under per via may might must should would could does did done being able about
    after before between both each few many much same very just here these those while well one two new""".split())


def content_words(text: str) -> set[str]:
    """Lower-cased words of 3+ letters, stop words out, folded to their first 6 letters (so that
    'retries' meets 'retry', 'parsing' meets 'parser')."""
    return {w[:6] for w in (t.lower() for t in _WORD.findall(text)) if w not in _STOP}


def overlap(p: dict) -> float:
    """The share of the transcript's content words that the screen also shows (0 when either channel
    is missing or the transcript has no content word)."""
    o, a = (content_words(t) for t in channel_texts(p))
    return len(a & o) / len(a) if a and o else 0.0


def lexical_gate(tau: float, agree: Rule, differ: Rule) -> Rule:
    """``agree`` when ≥ tau of the transcript's content words are on screen, else ``differ``."""
    return lambda p: agree(p) if overlap(p) >= tau else differ(p)


def lexical_soft(hi: float, agree: Rule, differ: Rule) -> Rule:
    """g = min(1, overlap / hi); vector = unit(g · agree + (1 − g) · differ)."""
    def f(p):
        g = min(1.0, overlap(p) / hi)
        return _unit(g * _unit(agree(p)) + (1 - g) * _unit(differ(p)))
    return f


def lexical_share(a_max: float) -> Rule:
    """OCR share = 0.5 + (a_max − 0.5) · overlap: a narration that repeats the screen gives way to it."""
    return share_rule(lambda p, lo, la: 0.5 + (a_max - 0.5) * overlap(p))


def distinct_words(power: float) -> Rule:
    """Channel share ∝ (content words the other channel does not have) ** power: a channel counts by
    what only it says."""
    def share(p, lo, la):
        o, a = (content_words(t) for t in channel_texts(p))
        do, da = len(o - a) ** power, len(a - o) ** power
        return do / (do + da) if do + da > 0 else 0.5
    return share_rule(share)


LEAD_TOKENS = 48  # the top of the screen: a README's title and tagline, a slide's title, a man page's NAME line


def add_screen_leads(recs: list[dict], enc, cache: Path) -> None:
    """``rec["ocr_lead"]``: e5 (passage) of the first ``LEAD_TOKENS`` tokens of what the screen shows
    first (the first OCR piece), cached by the text's sha1 in ``cache/leads``."""
    d = cache / "leads"
    d.mkdir(parents=True, exist_ok=True)
    todo = {}
    for p in recs:
        src = [str(x) for x in p["sources"]]
        if "ocr" not in src:
            continue
        lead = first_tokens(str(p["texts"][src.index("ocr")]), enc, LEAD_TOKENS)
        f = d / f"{hashlib.sha1(lead.encode()).hexdigest()[:16]}.npy"
        if f.exists():
            p["ocr_lead"] = np.load(f)
        else:
            todo.setdefault(lead, []).append((p, f))
    if todo:
        for (lead, users), v in zip(todo.items(), enc.encode(list(todo), "passage")):
            np.save(users[0][1], v.astype(np.float32))
            for p, _ in users:
                p["ocr_lead"] = v.astype(np.float32)


def screen_lead(s: float, base: Rule | None = None) -> Rule:
    """The pipeline's weights (today's channel balance) kept, but a share ``s`` of the OCR channel's
    mass goes to the top of the screen (:func:`add_screen_leads`): the title counts more within what
    the video shows, while what it says keeps its share."""
    def f(p):
        if "ocr_lead" not in p:
            return this_checkout()(p)
        from omniembed import fusion

        V, src = p["vectors"], np.asarray([str(x) for x in p["sources"]])
        w = fusion.piece_weights([int(x) for x in p["tokens"]], [float(x) for x in p["weights"]], fusion.FusionConfig(),
                                 "video", list(src))
        w = w / w.sum()
        ocr = src == "ocr"
        mo = w[ocr].sum()
        w = np.where(ocr, (1 - s) * w, w)
        return _unit((w[:, None] * V).sum(0) + s * mo * p["ocr_lead"])
    return f


# ---------------------------------------------------------------------------------------------- main
D4_DIR = ROOT.parent / "shared" / "eval-dev" / "tasks" / "d4-folder"
D4_KINDS = ("video-frame", "video-speech", "video-speech-xling")


def d4_setup(d4: Path, cache: Path, enc, log: Callable[[str], None]) -> dict:
    """eval-dev D4 (the mixed folder, 41 queries over 30 files) scored per rule in the same run: its five
    videos become cached records like the narrated ones (the rule under test makes their vectors);
    every other file and every query goes through ``omniembed.Embedder`` exactly as eval-dev's
    ``omniembed`` adapter does, with extraction and e5 memoised (``bench.cached_eval``)."""
    import omniembed

    from . import cached_eval

    corpus = [json.loads(x) for x in (d4 / "corpus.jsonl").read_text("utf-8").splitlines() if x.strip()]
    queries = [json.loads(x) for x in (d4 / "queries.jsonl").read_text("utf-8").splitlines() if x.strip()]
    vids = [{"id": r["id"], "video": Path(r["path"]).name} for r in corpus if r["modality"] == "video"]
    recs = embed_pieces(cache, vids, enc, log, files=d4 / "files", sub="d4")
    cached_eval.install()
    emb = omniembed.Embedder()
    others = [i for i, r in enumerate(corpus) if r["modality"] != "video"]
    docs = emb.embed([d4 / corpus[i]["path"] for i in others], task_type="RETRIEVAL_DOCUMENT")
    D = np.zeros((len(corpus), docs.shape[1]), np.float32)
    D[others] = docs
    Q = emb.embed([q["text"] for q in queries], task_type="RETRIEVAL_QUERY")
    ids = [r["id"] for r in corpus]
    return {"D": D, "Q": Q, "vid_idx": [ids.index(v["id"]) for v in vids], "recs": [recs[v["id"]] for v in vids],
            "rel": [ids.index(q["relevant"][0]) for q in queries], "kinds": [q["meta"]["kind"] for q in queries],
            "qids": [q["id"] for q in queries]}


def d4_eval(d4: dict, rule: Rule, space) -> dict:
    """D4 R@1 / MRR@10 over all 41 queries and the ranks of the video queries, with the videos' vectors
    made by ``rule`` (ties go to the earlier corpus row, as in eval-dev's runner)."""
    D = d4["D"].copy()
    D[d4["vid_idx"]] = space.project(np.stack([rule(p) for p in d4["recs"]]))
    S = d4["Q"] @ D.T
    ranks = [int(np.nonzero(np.argsort(-S[i], kind="stable") == r)[0][0]) + 1 for i, r in enumerate(d4["rel"])]
    out = {"d4_r1": float(np.mean([r == 1 for r in ranks])),
           "d4_mrr": float(np.mean([1 / r if r <= 10 else 0.0 for r in ranks]))}
    for k in D4_KINDS:
        out[k] = [r for r, kk in zip(ranks, d4["kinds"]) if kk == k]
    return out


def d4_ok(e: dict, ref: dict) -> bool:
    """D4 video queries unchanged or better than ``ref`` (rank by rank), and D4 R@1 not lower."""
    return e["d4_r1"] >= ref["d4_r1"] - 1e-9 and all(
        a <= b for k in D4_KINDS for a, b in zip(e[k], ref[k]))


def d4_moves(e: dict, ref: dict) -> str:
    """How many of D4's 10 video queries rank worse / better than under ``ref``, e.g. "2 / 1"."""
    pairs = [(a, b) for k in D4_KINDS for a, b in zip(e[k], ref[k])]
    return f"{sum(a > b for a, b in pairs)} / {sum(a < b for a, b in pairs)}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--n", type=int, default=100, help="videos to build")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--cached-only", action="store_true", help="score the videos embedded so far")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--reverse", action="store_true", help="embed from the end (a second process fills the cache too)")
    ap.add_argument("--d4", default=str(D4_DIR), help="eval-dev's d4-folder task ('' to skip)")
    args = ap.parse_args(argv)

    from rich.console import Console

    console = Console(stderr=True)
    cache: Path = args.cache
    if args.rebuild or not (cache / "corpus.jsonl").exists():
        console.print(f"building {args.n} narrated videos in {cache} …")
        rep = build(cache, args.n)
        console.print(f"kept {rep['kept']}; no narration sentence: {len(rep['no-sentence'])}; "
                      f"render failed: {len(rep.get('render-failed', []))}")
    corpus = [json.loads(x) for x in (cache / "corpus.jsonl").read_text("utf-8").splitlines()]
    from omniembed.encoders.e5 import E5Encoder
    from omniembed.space import Space, get_profile

    enc = E5Encoder(num_threads=args.threads)
    load0 = os.getloadavg()
    pieces = embed_pieces(cache, corpus[::-1] if args.reverse else corpus, enc, console.print, args.cached_only)
    corpus = [r for r in corpus if r["id"] in pieces]
    space = Space(get_profile("lite"))
    d4 = d4_setup(Path(args.d4), cache, enc, console.print) if args.d4 and Path(args.d4).is_dir() else None
    centre = space._rotation[0] if space.has_rotation else None  # the mean the rotation subtracts
    qv = space.project(enc.encode([r["query"] for r in corpus], "query"))
    sv = space.project(enc.encode([r["narration"] for r in corpus], "query"))  # the spoken sentence as a query
    ids = [r["id"] for r in corpus]
    half = np.asarray([int(hashlib.sha1(i.encode()).hexdigest(), 16) % 2 for i in ids])
    splits = {"A": np.flatnonzero(half == 0), "B": np.flatnonzero(half == 1)}
    everyone = np.arange(len(ids))
    recs = [pieces[i] for i in ids]
    both = np.asarray([{"ocr", "asr"} <= set(map(str, p["sources"])) for p in recs])
    tok = {ch: np.asarray([int(p["tokens"][p["sources"] == ch].sum()) for p in recs]) for ch in ("ocr", "asr")}
    console.print(f"{len(ids)} videos ({both.sum()} with both OCR text and speech); OCR tokens median "
                  f"{int(np.median(tok['ocr']))} (max {tok['ocr'].max()}), ASR tokens median {int(np.median(tok['asr']))}")
    for name, c in (("raw", None), ("centred", centre)):
        ag = np.asarray([agreement(p, c) for p in recs])
        msg = f"screen–speech cosine ({name}): narrated median {np.median(ag):.3f} (10 % {np.quantile(ag, 0.1):.3f}, " \
              f"90 % {np.quantile(ag, 0.9):.3f})"
        if d4 is not None:
            msg += "; D4 videos " + ", ".join(f"{agreement(p, c):.3f}" for p in d4["recs"])
        console.print(msg)

    today = this_checkout()
    tokens1 = this_checkout(1.0)
    casc = lambda p: p["cascade_ocr_first"]  # noqa: E731
    fixed: dict[str, Rule] = {
        "today (default): the pipeline balances OCR and ASR equally by characters": today,
        "before #20: equal channels by characters, no lead": before,
        "cascade: OCR + transcript joined, first 512 tokens, one vector (baseline)": casc,
        "cascade, transcript first": lambda p: p["cascade_asr_first"],
        "equal channels by tokens (share 0.5)": fixed_share(0.5),
        "tokens × 1 (channel_power=1)": tokens1,
        "OCR only": channel_only("ocr"),
        "ASR only": channel_only("asr"),
        "confidence-weighted channels": confidence(0.0),
        "confidence × sqrt(tokens)": confidence(0.5),
        "today + cascade (equal parts)": plus_cascade(today, 1.0),
        "tokens × 1 + cascade (equal parts)": plus_cascade(tokens1, 1.0),
    }
    families: dict[str, dict[str, Rule]] = {
        "OCR share fixed": {f"a={a}": fixed_share(a) for a in (0.5, 0.67, 0.75, 0.8, 0.85, 0.9)},
        "channel_power=p": {f"p={q}": this_checkout(q) for q in (0.0, 0.33, 0.5, 1.0, 1.5)},
        "cascade blend a·cascade + (1−a)·equal": {f"a={a}": cascade_blend(a) for a in (0.25, 0.5, 0.75)},
        "today + a·cascade": {f"a={a}": plus_cascade(today, a) for a in (0.5, 1.0, 2.0, 4.0)},
        "gate (raw cos ≥ τ: tokens × 1, else today)": {
            f"τ={t}": gated(t, tokens1, today) for t in (0.80, 0.82, 0.84, 0.86, 0.88, 0.90)},
        "gate (centred cos ≥ τ: tokens × 1, else today)": {
            f"τ={t}": gated(t, tokens1, today, centre) for t in (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)},
        "gate (centred cos ≥ τ: cascade, else today)": {
            f"τ={t}": gated(t, casc, today, centre) for t in (0.0, 0.05, 0.1, 0.15, 0.2, 0.25)},
        "centred unit channels, OCR share a": {f"a={a}": centred_channels(a, centre) for a in (0.5, 0.6, 0.67, 0.75, 0.85)},
        "gate (centred cos ≥ τ: tokens × 1, else centred unit channels a=0.5)": {
            f"τ={t}": gated(t, tokens1, centred_channels(0.5, centre), centre) for t in (0.05, 0.1, 0.15, 0.2)},
        "soft gate on unit vectors (centred cos lo→hi: today → tokens × 1)": {
            f"{lo}→{hi}": soft_gate(lo, hi, tokens1, today, centre)
            for lo, hi in ((0.0, 0.2), (0.0, 0.3), (0.05, 0.25), (0.1, 0.3), (0.1, 0.4), (-0.1, 0.3))},
    }

    half_p = this_checkout(0.5)
    families.update({
        "lexical gate (overlap ≥ τ: channel_power=0.5, else today)": {
            f"τ={t}": lexical_gate(t, half_p, today) for t in (0.1, 0.2, 0.3, 0.4, 0.5)},
        "lexical gate (overlap ≥ τ: tokens × 1, else today)": {
            f"τ={t}": lexical_gate(t, tokens1, today) for t in (0.1, 0.2, 0.3, 0.4, 0.5)},
        "lexical gate (overlap ≥ τ: cascade, else today)": {
            f"τ={t}": lexical_gate(t, casc, today) for t in (0.1, 0.2, 0.3, 0.4, 0.5)},
        "lexical soft (g = min(1, overlap/h): today → channel_power=0.5)": {
            f"h={h}": lexical_soft(h, half_p, today) for h in (0.1, 0.2, 0.3, 0.5, 1.0)},
        "lexical soft (g = min(1, overlap/h): today → tokens × 1)": {
            f"h={h}": lexical_soft(h, tokens1, today) for h in (0.1, 0.2, 0.3, 0.5, 1.0)},
        "lexical share (OCR share 0.5 + (a − 0.5) · overlap)": {
            f"a={a}": lexical_share(a) for a in (0.75, 0.9, 1.0)},
        "distinct content words ** p": {f"p={q}": distinct_words(q) for q in (0.25, 0.5, 1.0)},
    })
    add_screen_leads(recs + (d4["recs"] if d4 is not None else []), enc, cache)
    families["screen lead: share s of the OCR channel to its first 48 tokens (today's channel balance)"] = {
        f"s={x}": screen_lead(x) for x in (0.25, 0.5, 0.75)}
    ov = np.asarray([overlap(p) for p in recs])
    msg = f"transcript words on screen: narrated median {np.median(ov):.2f} (10 % {np.quantile(ov, 0.1):.2f}, " \
          f"90 % {np.quantile(ov, 0.9):.2f}; zero {int((ov == 0).sum())})"
    if d4 is not None:
        msg += "; D4 videos " + ", ".join(f"{overlap(p):.2f}" for p in d4["recs"])
    console.print(msg)

    results: dict = {"n": len(ids), "load_before": load0, "rules": {}}
    d4_ref = d4_eval(d4, today, space) if d4 is not None else None
    lines = [f"narrated videos: {len(ids)} package summaries → their videos (load {os.getloadavg()[0]:.1f})", "",
             "| rule | R@1 | MRR@10 | R@1 A | R@1 B | speech-query R@1 | speech MRR@10 | D4 R@1 | D4 frame ranks "
             "| D4 speech ranks | D4 speech-xling ranks | D4 ok | D4 video queries worse / better |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def evaluate(rule: Rule) -> dict:
        dv = space.project(np.stack([rule(p) for p in recs]))
        r1, mrr, _ = score(qv, dv, everyone)
        s1, smrr, _ = score(sv, dv, everyone)
        out = {"r1": r1, "mrr": mrr, "speech_r1": s1, "speech_mrr": smrr}
        for k, v in splits.items():
            out[f"r1_{k}"], out[f"mrr_{k}"], out[f"margin_{k}"] = score(qv, dv, v)
            out[f"test_r1_{k}"], out[f"test_mrr_{k}"], _ = score(qv, dv, v, everyone)
        if d4 is not None:
            out.update(d4_eval(d4, rule, space))
        return out

    def add(name, e):
        results["rules"][name] = e
        cells = [e.get("r1"), e.get("mrr"), e.get("test_r1_A"), e.get("test_r1_B"), e.get("speech_r1"), e.get("speech_mrr"),
                 e.get("d4_r1")]
        row = [("" if c is None else f"{c:.3f}") for c in cells]
        row += [", ".join(map(str, e[k])) if k in e else "" for k in D4_KINDS]
        row.append(("yes" if d4_ok(e, d4_ref) else "no") if d4_ref is not None and "d4_r1" in e else "")
        row.append(d4_moves(e, d4_ref) if d4_ref is not None and "d4_r1" in e else "")
        lines.append(f"| {name} | " + " | ".join(row) + " |")

    for name, rule in fixed.items():
        add(name, evaluate(rule))
    for fam, members in families.items():
        evals = {m: evaluate(r) for m, r in members.items()}
        for m, e in evals.items():
            add(f"{fam} {m}", e)
        held = {"r1": 0.0, "mrr": 0.0}
        chosen = {}
        for fit, test in (("A", "B"), ("B", "A")):
            best = max(evals, key=lambda m: (round(evals[m][f"mrr_{fit}"], 6), evals[m][f"margin_{fit}"]))
            chosen[fit] = best
            held["r1"] += evals[best][f"test_r1_{test}"] * len(splits[test]) / len(ids)
            held["mrr"] += evals[best][f"test_mrr_{test}"] * len(splits[test]) / len(ids)
        add(f"{fam} (fit A→{chosen['A']}, fit B→{chosen['B']}; held-out)", held)
    print("\n".join(lines))

    # Who gains from giving the screen more weight, and could a signal of the video tell them apart
    # from D4's videos (whose spoken-sentence queries need the speech's share)?
    def query_ranks(rule: Rule) -> np.ndarray:
        return ranks(qv, space.project(np.stack([rule(p) for p in recs])), everyone, everyone)[0]

    r_today, r_half = query_ranks(today), query_ranks(half_p)
    signals = {"centred screen–speech cosine": np.asarray([agreement(p, centre) for p in recs]),
               "transcript words on screen": ov,
               "transcript tokens": tok["asr"].astype(float),
               "Whisper exp(mean log-prob)": np.asarray([float(p["asr_prob"]) for p in recs])}
    groups = {"found by channel_power=0.5, missed today": (r_half == 1) & (r_today > 1),
              "found by both": (r_half == 1) & (r_today == 1),
              "missed by both": (r_half > 1) & (r_today > 1),
              "found today, missed by channel_power=0.5": (r_half > 1) & (r_today == 1)}
    diag = ["", "| narrated videos (description query) | n | " + " | ".join(f"{k} (median)" for k in signals) + " |",
            "|---|---|" + "---|" * len(signals)]
    for g, m in groups.items():
        diag.append(f"| {g} | {int(m.sum())} | " + " | ".join(f"{np.median(v[m]):.3f}" if m.any() else "" for v in signals.values()) + " |")
    if d4 is not None:
        d4sig = [[agreement(p, centre), overlap(p), float(p["tokens"][p["sources"] == "asr"].sum()), float(p["asr_prob"])]
                 for p in d4["recs"]]
        diag.append("| D4 videos (each) | 5 | " + " | ".join(", ".join(f"{row[k]:.2f}" for row in d4sig)
                                                       for k in range(len(signals))) + " |")
    print("\n".join(diag))
    console.print(f"splits A/B = sha1(name) parity ({len(splits['A'])}/{len(splits['B'])}); "
                  f"R@1 A/B = that half's queries against all videos; load {load0[0]:.1f} → {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

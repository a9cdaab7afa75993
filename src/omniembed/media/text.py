"""Text: decoding bytes to str, and token-aware chunking on sentence boundaries.

Long text is never silently truncated: it is split into chunks that fit the encoder's window (sentence
boundaries first, then word boundaries, then characters for scripts without spaces), with a sentence of
overlap between neighbours so no statement is cut off from its context. Each chunk is embedded and the
pieces are pooled (``fusion.py``).
"""

from __future__ import annotations

import codecs
import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable

from ..errors import DecodeError, InvalidInput, MediaTooLarge

__all__ = ["decode_text", "decode_text_detected", "check_unicode", "clean_text", "split_sentences", "chunk_text",
           "fine_windows", "FINE_MAX_TOKENS",
           "Chunk"]

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_text(data: bytes, max_chars: int | None = None) -> str:
    """Bytes of a text file → str (see :func:`decode_text_detected`)."""
    return decode_text_detected(data, max_chars)[0]


def decode_text_detected(data: bytes, max_chars: int | None = None) -> tuple[str, str]:
    """Bytes of a text file → (str, encoding). UTF-8, or UTF-16/32 with a byte-order mark; anything else
    (cp1252, Latin-1, Shift-JIS, cp1251, GB18030 files people still have) is detected with
    charset-normalizer. Bytes no encoding explains are an error that says where the first bad byte is,
    rather than a string full of replacement characters."""
    encoding = "utf-8"
    for bom, enc in _BOMS:
        if data.startswith(bom):
            encoding = enc
            break
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        legacy = None if encoding != "utf-8" else _detect_legacy(data)
        if legacy is None:
            raise DecodeError(
                f"text is not valid {encoding.upper()} (bad byte 0x{data[exc.start]:02x} at offset {exc.start})"
                " and no other text encoding explains it; omniembed reads UTF-8, UTF-16/32 with a byte-order "
                "mark, and legacy encodings it can detect (cp1252, Latin-1, Shift-JIS…)"
            ) from None
        text, encoding = legacy
    # NUL characters are kept here and dropped by clean_text, as in a text part: the same string
    # embeds the same whether it arrives as a str or as a UTF-8 file (the sniffer decides what is text)
    if max_chars is not None and len(text) > max_chars:
        raise MediaTooLarge(f"text has {len(text):,} characters; the limit is {max_chars:,}")
    return text, encoding


def _detect_legacy(data: bytes) -> tuple[str, str] | None:
    """charset-normalizer's best reading of non-UTF-8 bytes, or None when none is coherent text.

    Measured on one-paragraph samples: cp1252 German (read as cp1250, which decodes those bytes to the
    same text), Latin-1 French, Shift-JIS Japanese (as cp932), cp1251 Russian and GB18030 Chinese all
    decode to the original text."""
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - a core dependency
        return None
    best = from_bytes(data).best()
    if best is None:
        return None
    return str(best), best.encoding


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def check_unicode(text: str, where: str = "text") -> None:
    """Refuse a str that is not valid Unicode: a lone UTF-16 surrogate (``"a\\ud800"``, which JSON
    ``\\ud800`` escapes and ``surrogateescape`` decoding produce) cannot be encoded as UTF-8 and would
    otherwise surface as a raw ``UnicodeEncodeError`` from the tokenizer."""
    m = _SURROGATE.search(text)
    if m:
        raise InvalidInput(
            f"{where} contains a lone surrogate (U+{ord(m.group()):04X} at character {m.start()}), which is not "
            "valid Unicode; send UTF-8 text (in JSON, \\uD800-\\uDFFF escapes must come in high/low pairs)"
        )


_CONTROL = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b\u200c\u200d\u2060\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_BLANKS = re.compile(r"\n{3,}")


def clean_text(text: str) -> str:
    """NFC-normalise, drop control and zero-width characters, fold runs of spaces."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = _SPACES.sub(" ", text)
    return _BLANKS.sub("\n\n", text).strip()


# A sentence ends at . ! ? … (and their CJK / Devanagari / Arabic forms) followed by space or a closing
# quote, or at a blank line. CJK full stops need no following space.
_SENT_END = re.compile(
    r"(?<=[.!?…])[\"'”’)\]]*\s+(?=\S)"  # Latin-style end + whitespace
    r"|(?<=[。！？；])"  # CJK: split right after the mark
    r"|(?<=[।؟۔])\s*"  # Devanagari danda, Arabic question mark, Urdu full stop
    r"|\n\s*\n"  # paragraph break
)


def split_sentences(text: str) -> list[str]:
    """Split on sentence ends and paragraph breaks; keeps every character but surrounding spaces.

    A full stop that ends an abbreviation, an initial or a German ordinal date is not a sentence end:
    "Dr. Smith", "e.g. the budget", "Fig. 2", "z. B. gut", "am 3. Mai" stay in one sentence (the
    abbreviation lists are pysbd's, for English, German and French). pysbd itself is not used to split:
    measured on a 450 kB text it took 600 s (load 13 on 2 cores) where this linear pass takes 0.7 s
    (load 20; the regex alone 0.05 s)."""
    out: list[str] = []
    glue = False  # the previous piece ended at a full stop that does not end a sentence
    pos = 0
    for m in _SENT_END.finditer(text):
        piece = text[pos : m.start()].strip()
        pos = m.end()
        glue = _add(out, piece, glue, paragraph=m.group(0).count("\n") >= 2)
    _add(out, text[pos:].strip(), glue, paragraph=True)
    return out


def _add(out: list[str], piece: str, glue: bool, *, paragraph: bool) -> bool:
    """Append ``piece`` (or join it to the last one); return whether the NEXT piece should be joined."""
    if not piece:
        return glue and not paragraph
    if glue and out and _continues(out[-1], piece):
        out[-1] = f"{out[-1]} {piece}"
    else:
        out.append(piece)
    return not paragraph and out[-1].endswith(".")


def _continues(before: str, after: str) -> bool:
    """Whether ``after`` continues the sentence ``before`` (which ends with '.')."""
    first = after[0]
    if first.islower():  # sentences do not start in lower case: "e.g. the", "p.m. on", "z. B. gut"
        return True
    word = before.rsplit(None, 1)[-1].rstrip(".").lstrip("(\"'“‘[").lower()
    prepositive, number, general = _abbreviations()
    if word in prepositive or (len(word) == 1 and word.isalpha()):  # "Dr. Smith", "J. Smith", "z. B."
        return True
    if first.isdigit() and (word in number or word in general or word.endswith("str")):
        return True  # "Fig. 2", "No. 5", "Jan. 3", "Hauptstr. 5"
    if word in general and after.split(None, 1)[0].rstrip(".").lower() in prepositive | number:
        return True  # "cf. Fig. 2"
    return word.isdigit() and len(word) <= 2 and after.split(None, 1)[0].strip(",.").lower() in _MONTHS


_MONTHS = frozenset(
    "januar februar märz april mai juni juli august september oktober november dezember jänner "
    "january february march may june july october december janvier février mars avril juin juillet août "
    "septembre octobre novembre décembre".split()
)


@functools.lru_cache(maxsize=1)
def _abbreviations() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(prepositive, number, general) abbreviations from pysbd's English, German and French lists."""
    try:
        from pysbd.languages import LANGUAGE_CODES
    except ImportError:  # pragma: no cover - a core dependency; degrade to the plain rules
        return frozenset(), frozenset(), frozenset()
    pre: set[str] = set()
    num: set[str] = set()
    gen: set[str] = set()
    for code in ("en", "de", "fr"):
        ab = LANGUAGE_CODES[code].Abbreviation
        pre |= set(getattr(ab, "PREPOSITIVE_ABBREVIATIONS", ()))
        num |= set(getattr(ab, "NUMBER_ABBREVIATIONS", ()))
        gen |= set(ab.ABBREVIATIONS)
    return frozenset(pre), frozenset(num), frozenset(gen)


@dataclass
class Chunk:
    text: str
    tokens: int


def chunk_text(
    text: str,
    count_tokens: Callable[[str], int],
    max_tokens: int,
    overlap_sentences: int = 1,
) -> list[Chunk]:
    """Pack sentences into chunks of at most ``max_tokens`` tokens (as the encoder counts them).

    Neighbouring chunks share ``overlap_sentences`` sentences. A single sentence longer than the window
    is cut on word boundaries (or characters, for scripts written without spaces).
    """
    if max_tokens < 8:
        raise ValueError("max_tokens too small")
    total = count_tokens(text)
    if total <= max_tokens:
        return [Chunk(text, total)]

    units: list[tuple[str, int]] = []
    for sentence in split_sentences(text):
        n = count_tokens(sentence)
        if n <= max_tokens:
            units.append((sentence, n))
        else:
            units.extend(_split_long(sentence, count_tokens, max_tokens))

    chunks: list[Chunk] = []
    i = 0
    while i < len(units):
        parts, used, j = [], 0, i
        while j < len(units) and (not parts or used + units[j][1] + 1 <= max_tokens):
            parts.append(units[j][0])
            used += units[j][1] + (1 if len(parts) > 1 else 0)
            j += 1
        body = " ".join(parts)
        chunks.append(Chunk(body, count_tokens(body) if len(parts) > 1 else used))
        if j >= len(units):
            break
        # step forward, keeping up to `overlap_sentences` trailing sentences, but always advance
        i = max(i + 1, j - overlap_sentences)
    return chunks


def _split_long(sentence: str, count_tokens: Callable[[str], int], max_tokens: int) -> list[tuple[str, int]]:
    """Cut one over-long sentence into window-sized pieces on word (or character) boundaries."""
    words = sentence.split(" ")
    if len(words) == 1:  # no spaces (CJK, Thai, a long token): cut by characters
        words = list(sentence)
        joiner = ""
    else:
        joiner = " "
    pieces: list[tuple[str, int]] = []
    start = 0
    while start < len(words):
        # binary search the longest run of words that fits
        lo, hi = start + 1, len(words)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count_tokens(joiner.join(words[start:mid])) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        piece = joiner.join(words[start:lo])
        pieces.append((piece, count_tokens(piece)))
        start = lo
    return pieces


#: Pieces of more than one line or sentence can also be returned as *fine* windows (the request's
#: ``fine`` option): one per line or sentence (fragments of one or two short words, such as a heading,
#: are merged with the next line; sentences longer than ``FINE_MAX_TOKENS`` are cut). The indexer stores
#: them as extra chunk records: a query that matches one sentence of a page or a note is then not
#: diluted by the rest of it, and the hit's snippet is that sentence ("small-to-big" retrieval).
FINE_MAX_TOKENS = 48


def _fragment(sentence: str) -> bool:
    return len(sentence.split()) < 3 and len(sentence) < 16


def fine_windows(text: str, count_tokens: Callable[[str], int], max_tokens: int = FINE_MAX_TOKENS) -> list[str]:
    """Split ``text`` into line/sentence windows of at most ``max_tokens`` tokens (``count_tokens``:
    the profile's text encoder).

    Returns ``[]`` when the text is a single window already (its piece is that window)."""
    units: list[str] = []
    for line in text.splitlines():
        for sent in split_sentences(line):
            if count_tokens(sent) > max_tokens:
                units.extend(c.text for c in chunk_text(sent, count_tokens, max_tokens, overlap_sentences=0))
            else:
                units.append(sent)
    windows: list[str] = []
    buf: list[str] = []
    for sent in units:
        buf.append(sent)
        if not _fragment(" ".join(buf)):
            windows.append(" ".join(buf))
            buf = []
    if buf:
        windows.append(" ".join(buf))
    windows = [w for w in windows if len(w) >= 8]
    return windows if len(windows) > 1 else []


def extract(src, ctx):
    """A text or Markdown file → one text segment (chunked later by the engine)."""
    from ..evidence import Evidence, Segment

    raw, encoding = decode_text_detected(src.read(), ctx.limits.max_text_chars)
    text = clean_text(raw)
    if not text:
        raise DecodeError(f"{src.name} contains no text")
    notes = [] if encoding.startswith(("utf-8", "utf-16", "utf-32")) else [
        f"{src.name}: not UTF-8; decoded as {encoding} (detected)"]
    return Evidence("text", [Segment(text, "text", "text", encoding=encoding)], notes=notes)

"""Build the keyword-heavy query set for hybrid search from the dev corpora (``bench/data/keyword-queries.jsonl``).

    .venv/bin/python -m bench.keyword_queries          # rewrites bench/data/keyword-queries.jsonl

The corpus is eval-dev's ``d2-pdf/files`` (80 Debian man pages as PDFs with a text layer). For each PDF
(text read with pypdfium2) the builder picks the *identifier-like* tokens — command-line options
(``--no-pager``), names with digits, dots, underscores or inner hyphens (``ISO-8859-1``, ``LC_ALL``,
``sources.list``), ALL-CAPS names of 3+ letters (``MANPATH``) and numbers of 3+ digits — that occur in
that document and in no other one, are not part of its own page name, and are not an English word; and
takes up to two per document (the longest, then the next-longest of another kind). Each such token is
a query whose one relevant file is that PDF: exactly what a user types when they look for an error code,
an option, a variable or a part number, and what a dense vector alone is bad at. Deterministic: same
corpus, same queries.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "eval-dev" / "tasks" / "d2-pdf" / "files"
OUT = ROOT / "bench" / "data" / "keyword-queries.jsonl"

_TOKEN = re.compile(r"--?[A-Za-z][\w-]{2,}|[A-Za-z0-9][\w.-]*[\w]")


def _kind(tok: str) -> str | None:
    if tok.startswith("-"):
        return "option" if len(tok) >= 5 else None
    if tok.isdigit():
        return "number" if len(tok) >= 3 else None
    if re.fullmatch(r"[A-Z][A-Z0-9_]{2,}", tok):
        return "caps"
    if len(tok) >= 5 and re.search(r"[0-9_.]|\w-\w", tok) and re.search(r"[A-Za-z]", tok):
        return "identifier"
    return None


def pdf_text(path: Path) -> str:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(path))
    try:
        return "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    finally:
        doc.close()


def build(corpus: Path = CORPUS) -> list[dict]:
    docs = {p.name: pdf_text(p) for p in sorted(corpus.glob("*.pdf"))}
    where: dict[str, set[str]] = defaultdict(set)
    for name, text in docs.items():
        for tok in set(_TOKEN.findall(text)):
            where[tok.rstrip(".").lower()].add(name)
    out = []
    for name, text in docs.items():
        page = name.rsplit(".", 2)[0].lower()  # "apt-config.8.pdf" -> "apt-config"
        cands = {}
        for tok in _TOKEN.findall(text):
            tok = tok.rstrip(".")
            kind = _kind(tok)
            low = tok.lower()
            if kind is None or where[low] != {name} or page in low or low in page or len(tok) > 40:
                continue
            cands.setdefault(tok, kind)
        ranked = sorted(cands.items(), key=lambda kv: (-len(kv[0]), kv[0]))
        picked: list[tuple[str, str]] = []
        for tok, kind in ranked:
            if len(picked) == 2:
                break
            if picked and picked[0][1] == kind and any(k != kind for _, k in ranked):
                continue
            picked.append((tok, kind))
        for tok, kind in picked:
            out.append({"id": f"kw{len(out) + 1:03d}", "text": tok, "relevant": [name], "meta": {"kind": kind}})
    return out


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__.splitlines()[0],
                            epilog="Rewrites bench/data/keyword-queries.jsonl (deterministic).").parse_args()
    qs = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in qs), "utf-8")
    print(f"{len(qs)} queries → {OUT}")

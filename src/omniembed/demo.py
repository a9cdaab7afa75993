"""``omniembed demo``: the main job on the bundled sample folder — index it, then search it.

The samples (``samples/``, built by ``scripts/make_samples.py``) are one small team's files: a
compressor manual and a German purchasing report (PDF), slides and a screenshot (PNG), voice memos in
English, Spanish and French (MP3), site videos with narration (MP4) and notes. The example questions
cross media and languages; every hit says where in the file it is (page, seconds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .embedder import Embedder
from .indexer import Indexer
from .search import Searcher
from .store import open_store

__all__ = ["run_demo", "EXAMPLE_QUERIES", "default_samples"]

#: (question, why it is interesting)
EXAMPLE_QUERIES: list[tuple[str, str]] = [
    ("why is the compressor making noise?", "text → PDF page, notes and speech"),
    ("database connection error", "text → screenshot (OCR)"),
    ("Wann kommen die Solarmodule?", "German question → English/any-language media"),
    ("how do I isolate the energy source before maintenance", "text → a moment in a video"),
    ("réduire la consommation d'énergie", "French question → slide and notes"),
]


def default_samples() -> Path:
    """The repository's ``samples/`` folder (the package is installed editable from the repo)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "samples"
        if (cand / "README.md").is_file():
            return cand
    raise FileNotFoundError("the bundled samples/ folder was not found; pass --samples DIR")


def run_demo(
    samples: Path | None,
    store: str,
    *,
    console,
    err_console,
    print_hits: Callable,
    print_report: Callable,
    k: int = 3,
) -> None:
    folder = Path(samples) if samples else default_samples()
    embedder = Embedder()
    st = open_store(store)
    err_console.print(f"[bold]omniembed demo[/]: indexing {folder} (first run embeds everything; later runs skip unchanged files)")
    report = Indexer(st, embedder).run(folder, console=err_console, progress=True)
    print_report(report)
    searcher = Searcher(st, embedder=embedder)
    for question, why in EXAMPLE_QUERIES:
        hits = searcher.search(question, k=k)
        print_hits(hits, f"“{question}”  ({why})")
    console.print(
        "\nTry your own: [bold].venv/bin/omniembed search \"...\" --store " + str(store) + "[/]"
        "   ·   web page: [bold].venv/bin/omniembed serve --store " + str(store) + "[/] → http://127.0.0.1:8000/search"
    )

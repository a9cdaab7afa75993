"""The ``omniembed`` command line (also ``python -m omniembed``).

Each command is a thin translator: it parses arguments, calls the library, and prints. Commands whose
layers are optional (server, store) import them inside the command, so ``omniembed --help`` is fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import OmniEmbedError

app = typer.Typer(
    name="omniembed",
    help="Open, offline multimodal embeddings: text, images, PDFs, audio and video in one vector space.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Open, offline multimodal embeddings: text, images, PDFs, audio and video in one vector space."""


def _fail(exc: Exception) -> None:
    err_console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(2)


def _as_input(arg: str):
    """A CLI argument is a file when such a file exists, otherwise text."""
    p = Path(arg)
    try:
        if p.exists():
            return p
    except OSError:  # a long text is not a valid path
        pass
    return arg


def _label(item) -> str:
    return item.name if isinstance(item, Path) else (item if len(item) <= 40 else item[:37] + "...")


@app.command()
def embed(
    inputs: List[str] = typer.Argument(..., help="Texts or files (a file is used when the path exists)."),
    task_type: str = typer.Option("RETRIEVAL_DOCUMENT", "--task-type", "-t", help="One of the eight task types."),
    dims: Optional[int] = typer.Option(None, "--dims", "-d", help="Output size, 128..384 (Matryoshka)."),
    matrix: bool = typer.Option(False, "--matrix", "-m", help="Print a cosine-similarity table instead of vectors."),
    detailed: bool = typer.Option(False, "--detailed", help="JSON with pieces (pages, seconds, text) too."),
    profile: str = typer.Option("lite", "--profile", help="Embedding profile."),
) -> None:
    """Embed texts and files; print JSON vectors (default) or a similarity matrix."""
    from .embedder import Embedder

    items = [_as_input(a) for a in inputs]
    try:
        emb = Embedder(profile)
        results = emb.embed_detailed(items, task_type=task_type, output_dimensionality=dims)
    except OmniEmbedError as exc:
        _fail(exc)
        return
    if matrix:
        import numpy as np

        vecs = np.stack([r.vector for r in results])
        sims = vecs @ vecs.T
        table = Table(title=f"cosine similarity ({results[0].profile}, {results[0].dimensions}-d)")
        table.add_column("")
        for it in items:
            table.add_column(_label(it), justify="right")
        for it, row in zip(items, sims):
            table.add_row(_label(it), *[f"{x:.3f}" for x in row])
        console.print(table)
        return
    out = []
    for it, r in zip(items, results):
        rec = {
            "input": str(it),
            "profile": r.profile,
            "dimensions": r.dimensions,
            "modalities": r.modalities,
            "values": [round(float(x), 6) for x in r.vector],
        }
        if detailed:
            rec["flags"] = sorted(r.flags)
            rec["notes"] = r.notes
            rec["pieces"] = [
                {
                    "modality": p.modality,
                    "source": p.source,
                    "page": p.page,
                    "start_s": p.start_s,
                    "end_s": p.end_s,
                    "text": p.text,
                }
                for p in r.pieces
            ]
        out.append(rec)
    json.dump(out, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


def main() -> None:
    app()


if __name__ == "__main__":
    main()

"""One modality table: a modality registered in ONE place is sniffed, routed, embedded, pooled, indexed,
searched and offered to the OpenAI dialect, with no other code touched (issue 12, item 6).

The toy modality is a "recipe card": a file that starts with ``RECIPECARD1`` and holds a title line and
ingredient lines. Its pipeline gives the title as a native vector (computed with the profile's own text
encoder from ``ctx.encoders``: the path an image or sound tower takes) and the ingredients as text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omniembed import FusionConfig, Part
from omniembed.errors import UnsupportedMediaType
from omniembed.evidence import Evidence, MediaContext, Segment
from omniembed.indexer import Indexer
from omniembed.media.source import SUPPORTED, MediaSource, modality_of
from omniembed.modalities import Modality, modality_names, register_modality, unregister_modality, url_items
from omniembed.search import Searcher
from omniembed.store import open_store

MAGIC = b"RECIPECARD1\n"


def _sniff(head: bytes) -> str | None:
    return "application/x-recipe-card" if head.startswith(MAGIC) else None


def _extract(src: MediaSource, ctx: MediaContext) -> Evidence:
    title, *lines = src.read()[len(MAGIC):].decode("utf-8").strip().splitlines()
    assert ctx.encoders is not None  # the engine hands pipelines the profile's encoders
    title_vec = ctx.encoders.text.encode([title], "passage")[0]
    return Evidence("recipe", [
        Segment(title, "recipe", "native", vector=title_vec),
        Segment("\n".join(lines), "recipe", "text"),
    ])  # fmt: skip


@pytest.fixture
def recipe():
    register_modality(Modality("recipe", ("application/x-recipe-card",), "recipe cards", _extract,
                               suffixes=(".recipe",), sniff=_sniff, url_item="recipe_url"))  # fmt: skip
    yield
    unregister_modality("recipe")


def _card(path: Path, title: str, lines: list[str]) -> Path:
    path.write_bytes(MAGIC + "\n".join([title, *lines]).encode("utf-8"))
    return path


def test_a_registered_modality_is_embedded_indexed_and_searched(recipe, embedder, tmp_path):
    assert "recipe" in modality_names() and SUPPORTED["application/x-recipe-card"] == "recipe"
    assert "recipe_url" in url_items()
    assert FusionConfig().weight_of("recipe") == 1.0

    folder = tmp_path / "kitchen"
    folder.mkdir()
    card = _card(folder / "pancakes.recipe", "Buttermilk pancakes",
                 ["2 cups flour", "1 cup buttermilk", "2 eggs, whisked", "a pinch of salt"])
    (folder / "notes.txt").write_text("The car needs new winter tyres before November.", encoding="utf-8")

    # from a path and from bytes (sniffed by its magic), alone and interleaved with text
    res = embedder.embed_detailed([card, Part.from_bytes(card.read_bytes()), [card, "breakfast for four"]])
    assert res[0].modalities == ["recipe"] and [p.source for p in res[0].pieces] == ["native", "text"]
    np.testing.assert_allclose(res[0].vector, res[1].vector, atol=1e-6)
    assert res[2].modalities == ["recipe", "text"]
    pancakes = embedder.embed(["how to make pancakes with buttermilk"], task_type="RETRIEVAL_QUERY")[0]
    tyres = embedder.embed(["winter tyres for the car"], task_type="RETRIEVAL_QUERY")[0]
    assert float(res[0].vector @ pancakes) > float(res[0].vector @ tyres)

    # the indexer picks the suffix up; search filters by the new type
    store = open_store(str(tmp_path / "store"))
    report = Indexer(store, embedder).run(folder, progress=False)
    assert report.new == 2 and not report.failed
    assert {o.path: o.modality for o in report.outcomes} == {"pancakes.recipe": "recipe", "notes.txt": "text"}
    searcher = Searcher(store, embedder=embedder)
    hits = searcher.search("pancakes", k=5, modalities=["recipe"])
    assert hits and {h.rel_path for h in hits} == {"pancakes.recipe"} and hits[0].modality == "recipe"
    assert searcher.search("winter tyres", k=1)[0].rel_path == "notes.txt"
    store.close()


def test_an_unregistered_modality_is_refused_with_the_table_in_the_message(recipe):
    unregister_modality("recipe")
    with pytest.raises(UnsupportedMediaType, match="not supported; omniembed embeds text, PDF, images .* and video"):
        modality_of("application/x-recipe-card")

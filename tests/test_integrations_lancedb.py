"""LanceDB embedding function against the real lancedb: auto-embedding tables of text and of media."""

from __future__ import annotations

import importlib
import sys

import lancedb
import pyarrow as pa
import pytest
from lancedb.embeddings import get_registry
from lancedb.pydantic import LanceModel, Vector

from integrations_support import DOCS, IMAGE_QUERIES, IMAGE_TEXTS, QUERIES, text_image_png
from omniembed.errors import InvalidInput, MissingDependency
from omniembed.integrations.lancedb import OmniEmbedLanceEmbeddings


def test_text_table_round_trip_and_profile_stored(embedder, tmp_path):
    ef = get_registry().get("omniembed").create()
    assert isinstance(ef, OmniEmbedLanceEmbeddings) and ef.profile == "omniembed-lite-1"

    class Doc(LanceModel):
        text: str = ef.SourceField()
        vector: Vector(ef.ndims()) = ef.VectorField()
        i: int

    db = lancedb.connect(tmp_path / "lance")
    table = db.create_table("docs", schema=Doc)
    table.add([{"text": d, "i": i} for i, d in enumerate(DOCS)])
    for query, want in QUERIES:
        hits = table.search(query).limit(2).to_pydantic(Doc)
        assert hits[0].i == want, query

    # another connection: the function (with its exact profile) comes back from the table's metadata
    again = lancedb.connect(tmp_path / "lance").open_table("docs")
    fn = again.embedding_functions["vector"].function
    assert isinstance(fn, OmniEmbedLanceEmbeddings) and fn.profile == "omniembed-lite-1"
    assert again.search(QUERIES[1][0]).limit(1).to_list()[0]["i"] == QUERIES[1][1]


def test_media_source_column_and_matryoshka_size(tmp_path):
    ef = OmniEmbedLanceEmbeddings.create(source="media", output_dimensionality=128)
    assert ef.ndims() == 128
    schema = pa.schema([pa.field("image", pa.binary()), pa.field("vector", pa.list_(pa.float32(), 128))])
    from lancedb.embeddings import EmbeddingFunctionConfig

    db = lancedb.connect(tmp_path / "lance")
    table = db.create_table(
        "scans",
        schema=schema,
        embedding_functions=[EmbeddingFunctionConfig(source_column="image", vector_column="vector", function=ef)],
    )
    table.add([{"image": text_image_png(t)} for t in IMAGE_TEXTS])
    rows = table.to_arrow()
    images = rows.column("image").to_pylist()
    for query, want in IMAGE_QUERIES:
        best = table.search(query, vector_column_name="vector").limit(1).to_list()[0]
        assert best["image"] == images[want], query
    with pytest.raises(InvalidInput):
        OmniEmbedLanceEmbeddings.create(source="video-frames")


def test_the_api_key_must_be_a_variable():
    with pytest.raises(ValueError, match="Sensitive key"):
        OmniEmbedLanceEmbeddings.create(base_url="http://127.0.0.1:9", api_key="s3cret")
    get_registry().set_var("omniembed_key", "s3cret")
    ef = OmniEmbedLanceEmbeddings.create(base_url="http://127.0.0.1:9", api_key="$var:omniembed_key")
    assert ef.api_key == "s3cret" and ef.safe_model_dump()["api_key"] == "$var:omniembed_key"


def test_missing_lancedb_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "lancedb", None)
    monkeypatch.delitem(sys.modules, "omniembed.integrations.lancedb")
    with pytest.raises(MissingDependency, match=r"omniembed\[store\]"):
        importlib.import_module("omniembed.integrations.lancedb")


def test_bad_media_is_refused_with_a_clear_message(tmp_path):
    ef = OmniEmbedLanceEmbeddings.create(source="media")
    schema = pa.schema([pa.field("file", pa.string()), pa.field("vector", pa.list_(pa.float32(), ef.ndims()))])
    from lancedb.embeddings import EmbeddingFunctionConfig

    table = lancedb.connect(tmp_path / "lance").create_table(
        "files", schema=schema,
        embedding_functions=[EmbeddingFunctionConfig(source_column="file", vector_column="vector", function=ef)],
    )
    # LanceDB re-raises errors from its embedding thread as RuntimeError; the cause is ours, message intact
    with pytest.raises((InvalidInput, RuntimeError), match="no such file"):
        table.add([{"file": str(tmp_path / "missing.png")}])
    assert table.count_rows() == 0

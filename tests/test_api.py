"""The public surface: google-genai shaped facade, grouping rules, profiles, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import omniembed
from media_factory import image_bytes, text_image
from omniembed import types
from omniembed.errors import InvalidInput


@pytest.fixture(scope="module")
def client():
    return omniembed.Client()


def test_genai_facade_with_only_the_import_changed(client):
    # the shape of google-genai's documented embedding example
    result = client.models.embed_content(
        model="omniembed-lite",
        contents=["What is the meaning of life?", "How do I bake a cake?"],
        config=types.EmbedContentConfig(task_type="SEMANTIC_SIMILARITY", output_dimensionality=256),
    )
    assert len(result.embeddings) == 2
    assert all(len(e.values) == 256 for e in result.embeddings)
    assert abs(np.linalg.norm(result.embeddings[0].values) - 1.0) < 1e-5


def test_one_content_with_several_parts_is_one_vector(client):
    png = image_bytes(text_image(["Beach volleyball tournament"]), "PNG")
    content = types.Content(
        parts=[types.Part(text="Summer events"), types.Part.from_bytes(data=png, mime_type="image/png")]
    )
    one = client.models.embed_content(model="models/omniembed-lite-1", contents=content)
    assert len(one.embeddings) == 1
    two = client.models.embed_content(
        model="omniembed-lite", contents=[content, types.Content(parts=[types.Part(text="Winter events")])]
    )
    assert len(two.embeddings) == 2
    np.testing.assert_allclose(one.embeddings[0].values, two.embeddings[0].values, atol=1e-6)
    # a bare list of Parts is one content, as in google-genai
    parts = client.models.embed_content(
        model="omniembed-lite", contents=[types.Part(text="Summer events"), types.Part.from_bytes(data=png, mime_type="image/png")]
    )
    assert len(parts.embeddings) == 1
    np.testing.assert_allclose(parts.embeddings[0].values, one.embeddings[0].values, atol=1e-6)


def test_facade_accepts_dict_config_and_rejects_unknown_models(client):
    r = client.models.embed_content(model="omniembed-lite", contents="hi", config={"task_type": "RETRIEVAL_QUERY"})
    assert len(r.embeddings[0].values) == 384
    with pytest.raises(InvalidInput, match="unknown profile or model"):
        client.models.embed_content(model="text-embedding-3-large", contents="hi")


def test_profile_metadata_travels_with_results(embedder):
    [res] = embedder.embed_detailed("hello", output_dimensionality=128)
    assert res.profile == "omniembed-lite-1" and res.dimensions == 128
    assert embedder.dimensions == 384 and embedder.profile.id == "omniembed-lite-1"
    assert embedder.engine.space.has_rotation, "the shipped Matryoshka rotation must load"


def test_paths_bytes_and_parts_are_accepted(embedder, tmp_path):
    p = tmp_path / "n.txt"
    p.write_text("pathlib input", encoding="utf-8")
    a = embedder.embed(p)
    b = embedder.embed(omniembed.Part.from_file(p))
    c = embedder.embed(p.read_bytes())
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a, c, atol=1e-6)


def test_cli_embed_json_and_matrix(tmp_path):
    exe = [sys.executable, "-m", "omniembed"]
    out = subprocess.run(exe + ["embed", "--dims", "128", "hello world", "bonjour le monde"], capture_output=True, text=True, check=True)
    rows = json.loads(out.stdout)
    assert [len(r["values"]) for r in rows] == [128, 128]
    assert rows[0]["profile"] == "omniembed-lite-1"
    out = subprocess.run(exe + ["embed", "--matrix", "cat", "chat"], capture_output=True, text=True, check=True)
    assert "cosine similarity" in out.stdout and "1.000" in out.stdout
    bad = subprocess.run(exe + ["embed", "--dims", "4000", "x"], capture_output=True, text=True)
    assert bad.returncode == 2 and "output_dimensionality 4000 is out of range" in bad.stderr
    helptext = subprocess.run(exe + ["--help"], capture_output=True, text=True, check=True).stdout
    assert "embed" in helptext

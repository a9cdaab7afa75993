"""Image-text profiles equal their reference implementations (tiny random-weight models, no torch here).

The fixtures in tests/fixtures/tiny_models/ were made by scripts/make_tiny_models.py: for each family a
tiny model exported in the published ONNX layout, and the reference's token ids, preprocessed-pixel
probes and vectors (transformers' tokenizers, its PIL image processors and the PyTorch forward pass; for
jina-clip-v2 its own hub modelling code: ``JinaCLIPModel.encode_text`` / ``encode_image``, whose image
processor is open_clip's transform). Random weights make every vector sensitive to every input: a crop one pixel off
moves jina's image vectors by 8e-3, far beyond the 1e-4 allowed here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from omniembed.encoders.joint import JointModel, providers_for
from omniembed.encoders.modeldir import detect_family
from omniembed.errors import InvalidInput, MissingDependency, ModelCorrupt

ROOT = Path(__file__).parent / "fixtures" / "tiny_models"
FAMILIES = ["clip", "clip-combined", "siglip2", "jina-clip-v2"]
TOL = 1e-4


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module", params=FAMILIES)
def fam(request):
    name = request.param
    meta = json.loads((ROOT / f"{name}.reference.json").read_text())
    ref = dict(np.load(ROOT / f"{name}.reference.npz"))
    images = [Image.open(ROOT / "images" / n) for n in meta["images"]]
    return name, JointModel(ROOT / name), meta, ref, images


def test_tokenisation_equals_transformers(fam):
    """Ids, specials, truncation (CLIP 77, SigLIP 64) and SigLIP's fixed padding to 64 and lowercasing."""
    name, model, meta, ref, _ = fam
    for text, ids in zip(meta["texts"], meta["ids"]):
        assert model.token_ids(text) == ids, (name, text)
    if "query_ids" in meta:  # jina-clip-v2's retrieval.query instruction
        for text, ids in zip(meta["texts"], meta["query_ids"]):
            assert model.token_ids(text, "query") == ids


def test_preprocessing_equals_reference_pixels(fam):
    """Resize, crop, rescale and normalise: the same pixels at 4,096 probed positions and the same sums."""
    name, model, meta, ref, images = fam
    px = model.prep.batch(images)
    assert tuple(px.shape[1:]) == tuple(ref["pixels_shape"])
    flat = px.reshape(len(images), -1).astype(np.float64)
    np.testing.assert_allclose(flat[:, ref["pixels_idx"]], ref["pixels_vals"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(flat.sum(1), ref["pixels_sum"], rtol=1e-6, atol=1e-2)
    np.testing.assert_allclose(np.abs(flat).sum(1), ref["pixels_abssum"], rtol=1e-6)


def test_text_vectors_equal_reference(fam):
    name, model, meta, ref, _ = fam
    got = model.encode_text(meta["texts"], "passage")
    np.testing.assert_allclose(got, _unit(ref["text"]), atol=TOL, rtol=0)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)
    if "query_text" in ref:
        np.testing.assert_allclose(model.encode_text(meta["texts"], "query"), _unit(ref["query_text"]), atol=TOL)


def test_image_vectors_equal_reference(fam):
    name, model, meta, ref, images = fam
    np.testing.assert_allclose(model.encode_images(images), _unit(ref["image"]), atol=TOL, rtol=0)


def test_batching_and_padding_do_not_change_vectors(fam):
    """One text at a time (no padding) equals the padded batch; images one by one equal the batch."""
    name, model, meta, ref, images = fam
    batch = model.encode_text(meta["texts"], "passage")
    singles = np.concatenate([model.encode_text([t], "passage") for t in meta["texts"]])
    np.testing.assert_allclose(singles, batch, atol=1e-5)
    reordered = model.encode_text(meta["texts"][::-1], "passage")[::-1]
    np.testing.assert_allclose(reordered, batch, atol=1e-5)
    one_by_one = np.concatenate([model.encode_images([im]) for im in images[:3]])
    np.testing.assert_allclose(one_by_one, model.encode_images(images[:3]), atol=1e-5)


def test_token_counts_add_up(fam):
    """token_count + overhead is the sequence the tower sees (before padding), so chunking is exact."""
    name, model, meta, ref, _ = fam
    for text, ids in zip(meta["texts"][:5], meta["ids"][:5]):
        n = model.token_count(text) + model.overhead("passage")
        if name == "siglip2":
            assert n == sum(1 for i in ids if i != 0)
        else:
            assert n == len(ids)


def test_combined_graph_equals_two_towers():
    """Optimum's one-graph layout (text calls pass an empty or dummy image batch) gives the towers' vectors."""
    meta = json.loads((ROOT / "clip.reference.json").read_text())
    split, joint = JointModel(ROOT / "clip"), JointModel(ROOT / "clip-combined")
    assert joint.dir.combined and not split.dir.combined
    np.testing.assert_allclose(joint.encode_text(meta["texts"]), split.encode_text(meta["texts"]), atol=1e-6)
    im = [Image.open(ROOT / "images" / meta["images"][0])]
    np.testing.assert_allclose(joint.encode_images(im), split.encode_images(im), atol=1e-6)


def test_jina_matryoshka_sizes_equal_the_reference_truncate_dim():
    """jina-clip-v2's own ``encode_text(truncate_dim=k)`` / ``encode_image(truncate_dim=64)`` (keep the first
    k dimensions, renormalise) against omniembed's output_dimensionality, through the whole engine."""
    from omniembed import Embedder

    meta = json.loads((ROOT / "jina-clip-v2.reference.json").read_text())
    ref = np.load(ROOT / "jina-clip-v2.reference.npz")
    emb = Embedder(profile=str(ROOT / "jina-clip-v2"))
    assert emb.profile.min_dimensionality == 64 and emb.dimensions == 96
    for k in (64, 80):
        np.testing.assert_allclose(emb.embed(meta["texts"], output_dimensionality=k), ref[f"text_mrl{k}"], atol=TOL)
    np.testing.assert_allclose(emb.embed(meta["texts"][:3]), ref["text"][:3], atol=TOL)  # native 96
    i = meta["images"].index("img3_37x53.png")  # too small for OCR to read anything
    [res] = emb.embed_detailed([ROOT / "images" / meta["images"][i]], output_dimensionality=64)
    if not res.pieces[0].text:
        np.testing.assert_allclose(res.vector, ref["image_mrl64"][i], atol=TOL)
    with pytest.raises(InvalidInput, match="64 to 96"):
        emb.embed("x", output_dimensionality=32)


def test_jina_query_task_equals_reference_retrieval_query():
    """RETRIEVAL_QUERY through the engine = the reference's ``encode_text(task="retrieval.query")`` (its
    instruction prepended; the export's text tower always runs the default retrieval.query LoRA adapter,
    as ``encode_text`` does for every task); RETRIEVAL_DOCUMENT = ``encode_text()`` with no instruction."""
    from omniembed import Embedder

    meta = json.loads((ROOT / "jina-clip-v2.reference.json").read_text())
    ref = np.load(ROOT / "jina-clip-v2.reference.npz")
    emb = Embedder(profile=str(ROOT / "jina-clip-v2"))
    q = emb.embed(meta["texts"][:4], task_type="RETRIEVAL_QUERY")
    np.testing.assert_allclose(q, ref["query_text"][:4], atol=TOL)
    d = emb.embed(meta["texts"][:4], task_type="RETRIEVAL_DOCUMENT")
    np.testing.assert_allclose(d, ref["text"][:4], atol=TOL)
    assert np.abs(q - d).max() > 1e-2  # the instruction is not a no-op on this model


def test_jina_query_instruction_is_read_from_the_model_config(tmp_path):
    """The instruction comes from the directory's own task_instructions (where jina's encode_text reads
    it), so a model published with another wording is served with that wording."""
    import shutil

    d = tmp_path / "jina"
    shutil.copytree(ROOT / "jina-clip-v2", d)
    cfg = json.loads((d / "config.json").read_text())
    assert JointModel(d).dir.query_prompt == cfg["text_config"]["hf_model_config_kwargs"]["task_instructions"][
        "retrieval.query"]
    cfg["text_config"]["hf_model_config_kwargs"]["task_instructions"]["retrieval.query"] = "Find: "
    (d / "config.json").write_text(json.dumps(cfg))
    m = JointModel(d)
    assert m.token_ids("a cat", "query") == m.token_ids("Find: a cat", "passage")
    del cfg["text_config"]["hf_model_config_kwargs"]
    (d / "config.json").write_text(json.dumps(cfg))
    assert JointModel(d).dir.query_prompt == "Represent the query for retrieving evidence documents: "


def test_embedder_image_file_uses_the_image_tower():
    """Through the whole engine: a picture's vector is the image tower's (fused with OCR text when OCR
    reads any), and the piece says it came from the native tower."""
    from omniembed import Embedder

    meta = json.loads((ROOT / "siglip2.reference.json").read_text())
    ref = np.load(ROOT / "siglip2.reference.npz")
    emb = Embedder(profile=str(ROOT / "siglip2"))
    i = meta["images"].index("img3_37x53.png")  # too small for OCR to read anything
    [res] = emb.embed_detailed([ROOT / "images" / meta["images"][i]])
    assert res.pieces[0].source == "native" and res.profile == emb.profile.id
    if not res.pieces[0].text:
        np.testing.assert_allclose(res.vector, _unit(ref["image"])[i], atol=TOL)
    q = emb.embed(meta["texts"][0], task_type="RETRIEVAL_QUERY")[0]
    np.testing.assert_allclose(q, _unit(ref["text"])[0], atol=TOL)  # SigLIP has no query instruction


def test_clip_and_siglip_serve_their_native_size_only():
    from omniembed import Embedder

    emb = Embedder(profile=str(ROOT / "clip"))
    assert emb.profile.min_dimensionality == emb.dimensions == 24
    with pytest.raises(InvalidInput, match="24 to 24"):
        emb.embed("x", output_dimensionality=16)


def test_profile_id_is_the_model_not_the_folder(tmp_path):
    import shutil

    from omniembed.profiles import get_profile

    a = get_profile(str(ROOT / "clip"))
    copy = tmp_path / "renamed"
    shutil.copytree(ROOT / "clip", copy)
    assert get_profile(str(copy)).id == a.id
    assert get_profile(str(ROOT / "siglip2")).id != a.id
    assert a.id.startswith("omniembed-clip-") and a.id.endswith("-1")


def test_bad_directories_are_clear_errors(tmp_path):
    from omniembed.profiles import get_profile

    (tmp_path / "config.json").write_text('{"model_type": "siglip2"}')
    with pytest.raises(InvalidInput, match="NaFlex"):
        detect_family(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(InvalidInput, match="no model family recognises"):
        get_profile(str(tmp_path))
    (tmp_path / "config.json").write_text('{"model_type": "clip"}')
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "preprocessor_config.json").write_text("{}")
    with pytest.raises(ModelCorrupt, match="no ONNX graphs"):
        JointModel(tmp_path)
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "model.onnx").write_bytes(b"not a graph")
    with pytest.raises(ModelCorrupt, match="not a tokenizers file"):
        JointModel(tmp_path).encode_text(["x"])
    (tmp_path / "tokenizer.json").write_bytes((ROOT / "clip" / "tokenizer.json").read_bytes())
    with pytest.raises(ModelCorrupt, match="onnxruntime could not load"):
        JointModel(tmp_path).encode_text(["x"])


def test_devices():
    assert providers_for("cpu") == ["CPUExecutionProvider"]
    assert providers_for("auto")[-1] == "CPUExecutionProvider"
    with pytest.raises(InvalidInput, match="unknown device"):
        providers_for("quantum")
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(MissingDependency, match="onnxruntime-gpu"):
            providers_for("cuda")

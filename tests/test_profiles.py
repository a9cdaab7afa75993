"""The profile registry: names, model-directory families, and an engine built on an injected profile.

The toy text encoder below stands in for a second model family (none ships in an installable package):
what is tested is that the engine asks the profile for its encoders and never names a model itself.
"""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pytest

from omniembed import Embedder, Part, get_profile, register_family
from omniembed.encoders.base import Encoders, TextEncoder
from omniembed.errors import InvalidInput, ModelCorrupt
from omniembed.profiles import LITE, Profile, families, register_profile

DIM = 32


class HashText:
    """Deterministic bag-of-words vectors: each word hashes to one axis (cosine = word overlap)."""

    dim = DIM
    max_tokens = 16

    def encode(self, texts: list[str], mode: str) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, hashlib.sha1(w.encode()).digest()[0] % self.dim] += 1.0
        n = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(n > 0, n, 1.0)

    def token_count(self, text: str, mode: str = "passage") -> int:
        return len(text.split())

    def overhead(self, mode: str) -> int:
        return 2


def _hash_encoders() -> Encoders:
    return Encoders(text=HashText())


TOY = Profile(id="toy-hash-1", native_dim=DIM, version="1", description="test profile", encoders=_hash_encoders)


def test_lite_is_found_by_every_name():
    for name in ("lite", "default", "omniembed-lite-1", "omniembed-lite", "models/omniembed-lite", " lite "):
        assert get_profile(name) is LITE
    assert get_profile(LITE) is LITE and LITE.ref == "omniembed-lite-1"
    with pytest.raises(InvalidInput, match="unknown profile or model 'nope'.*omniembed-lite-1"):
        get_profile("nope")


def test_injected_profile_drives_the_engine():
    """An Embedder built on a profile object embeds with that profile's encoder, end to end: chunking
    by its token counts (16-token window), pooling, and its id and size on the results."""
    assert isinstance(HashText(), TextEncoder)
    emb = Embedder(TOY)
    long = " ".join(f"word{i}." for i in range(40))  # 40 one-word sentences: several 16-token chunks
    res = emb.embed_detailed(["red apple", long, [Part(text="red apple"), Part(text="green pear")]])
    assert [r.profile for r in res] == ["toy-hash-1"] * 3 and {r.dimensions for r in res} == {DIM}
    # no rotation file: the space vector is the encoder's own unit vector
    assert np.allclose(res[0].vector, HashText().encode(["red apple"], "passage")[0], atol=1e-6)
    assert len(res[1].pieces) > 2 and all(p.token_count <= 16 - 2 - 2 for p in res[1].pieces)
    assert float(res[2].vector @ res[0].vector) > 0.5  # the interleaved content shares its words
    assert emb.engine.text_encoder is TOY.load_encoders().text  # built once, shared


def test_encoder_of_the_wrong_size_is_refused():
    bad = Profile(id="bad-size-1", native_dim=DIM * 2, version="1", description="", encoders=_hash_encoders)
    with pytest.raises(ModelCorrupt, match="32-d vectors.*64-d"):
        bad.load_encoders()
    with pytest.raises(InvalidInput, match="names no encoders"):
        Profile(id="none-1", native_dim=DIM, version="1", description="").load_encoders()


def test_profile_pickles_without_its_loaded_encoders():
    TOY.load_encoders()
    back = pickle.loads(pickle.dumps(TOY))
    assert back == TOY and "_built" not in back.__dict__
    assert back.load_encoders().text.dim == DIM


def test_register_profile_aliases_and_conflicts():
    p = register_profile(Profile(id="toy-alias-1", native_dim=DIM, version="1", description="",
                                 encoders=_hash_encoders), "toyalias")
    assert get_profile("toyalias") is p and get_profile("toy-alias") is p and get_profile("models/toy-alias") is p
    with pytest.raises(InvalidInput, match="taken by toy-alias-1"):
        register_profile(TOY, "toyalias")


def test_model_directory_family(tmp_path):
    """A family recognises its directories by a cheap check; each directory becomes one profile."""
    built = []

    def detect(d):
        return (d / "hashmodel.txt").is_file()

    def build(d):
        built.append(d)
        return Profile(id=f"hash-{d.name}-1", native_dim=DIM, version="1", description="", encoders=_hash_encoders)

    register_family("hashmodel", detect, build, looks_for="a hashmodel.txt file")
    assert "hashmodel" in families()
    model = tmp_path / "m1"
    model.mkdir()
    (model / "hashmodel.txt").write_text("x")
    p = get_profile(str(model))
    assert p.id == "hash-m1-1" and p.ref == str(model.resolve())
    assert get_profile(model) is p and len(built) == 1  # built once per directory
    assert Embedder(p).embed("red apple").shape == (1, DIM)

    other = tmp_path / "empty"
    other.mkdir()
    with pytest.raises(InvalidInput, match="no model family recognises it.*hashmodel: a hashmodel.txt file"):
        get_profile(other)

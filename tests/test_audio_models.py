"""Sound and speech models from directories, proven on tiny random models against their reference code.

Fixtures: ``tests/fixtures/tiny_models/{whisper,clap-fused,clap-unfused}`` made by
``scripts/make_tiny_audio_models.py`` (torch + transformers there only; nothing here imports torch).
The references are transformers' PyTorch outputs for the signals of ``tests/audio_signals.py``.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from audio_signals import FRAME_STEP, clap_inputs, tiny_whisper_dir, whisper_input  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "tiny_models"
CLAPS = ["clap-fused", "clap-unfused"]


def test_no_torch_in_this_environment():
    """The proofs below must not lean on torch: the runtime and CI never install it."""
    import importlib.util

    assert importlib.util.find_spec("torch") is None


# ------------------------------------------------------------------------------------------ CLAP ---


def _crop_args(ref, key: str) -> dict:
    crops = [int(c) for c in ref[f"crops/{key}"]]
    return {"crop": crops[0]} if len(crops) == 1 else {"crops": crops} if len(crops) == 3 else {}


@pytest.mark.parametrize("name", CLAPS)
@pytest.mark.parametrize("key", ["short", "corner", "long"])
def test_clap_features_match_transformers(name, key):
    """Every preprocessing path (repeatpad, the 1001-frame corner case, fusion crops + bilinear shrink,
    rand_trunc crop, htk vs slaney filters) against transformers' ClapFeatureExtractor's own output."""
    from omniembed.encoders.clap_features import ClapFeatures

    d = FIXTURES / name
    fe = ClapFeatures.from_config(json.loads((d / "preprocessor_config.json").read_text()))
    ref = np.load(d / "reference.npz")
    feats, longer = fe(clap_inputs()[key], **_crop_args(ref, key))
    want = ref[f"features/{key}"]
    assert feats.shape == ((4, 1001, 64) if fe.truncation == "fusion" else (1, 1001, 64))
    if want.shape[0] == 1 and feats.shape[0] == 4:  # fusion of a clip <= 10 s: four copies of one mel
        assert all(np.array_equal(m, feats[0]) for m in feats)
    np.testing.assert_allclose(feats[: want.shape[0], ::FRAME_STEP], want, atol=1e-4, rtol=0)
    # transformers marks a lone fused clip longer (its batch rule); omniembed feeds the same to the model
    if fe.truncation == "rand_trunc":
        assert longer == bool(ref[f"is_longer/{key}"][0])


@pytest.mark.parametrize("name", CLAPS)
def test_clap_vectors_match_transformers(name):
    from omniembed.encoders.clap import ClapModel

    d = FIXTURES / name
    model = ClapModel(d)
    ref = np.load(d / "reference.npz")
    for key, wave in clap_inputs().items():
        args = _crop_args(ref, key)
        if args:  # transformers drew these crops at random: embed exactly those
            feats, longer = model.features(wave, **args)
            raw = model._output(model._audio, {"input_features": feats[None], "is_longer": np.array([[True]])},
                                model._audio_inputs, "audio_embeds")
            got = model._unit(raw)[0]
        else:
            got = model.encode_audio([wave])[0]
        np.testing.assert_allclose(got, ref[f"audio/{key}"], atol=1e-4, rtol=0)
    texts = [str(t) for t in ref["texts"]]
    vecs = model.encode_texts(texts)  # one padded batch: the attention mask must make padding harmless
    for i, t in enumerate(texts):
        assert model.text_ids(t) == [int(x) for x in ref[f"text_ids/{i}"]]
        np.testing.assert_allclose(vecs[i], ref[f"text/{i}"], atol=1e-4, rtol=0)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)


def test_clap_long_clips_are_deterministic():
    """transformers crops long clips at random; omniembed takes the middle, so a file has one vector."""
    from omniembed.encoders.clap import ClapModel

    for name in CLAPS:
        model = ClapModel(FIXTURES / name)
        wave = clap_inputs()["long"]
        a, b = model.encode_audio([wave]), model.encode_audio([wave])
        assert np.array_equal(a, b)


def test_clap_bad_directory(tmp_path):
    from omniembed.encoders.clap import ClapModel
    from omniembed.errors import InvalidInput, ModelCorrupt

    with pytest.raises(InvalidInput, match="not a CLAP model directory"):
        ClapModel(tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(FIXTURES / "clap-unfused", broken)
    (broken / "onnx" / "audio_model.onnx").write_bytes(b"not an onnx file")
    with pytest.raises(ModelCorrupt):
        ClapModel(broken)


def test_sound_tagger_ranks_the_vocabulary():
    from omniembed.encoders.clap import ClapModel, SoundTagger, audioset_labels

    labels = audioset_labels()
    assert len(labels) == 527 and labels[0] == "Speech" and "Bark" in labels
    tagger = SoundTagger(ClapModel(FIXTURES / "clap-unfused"))
    clips = list(clap_inputs().values())
    scores = tagger.scores(tagger.model.encode_audio(clips))
    assert scores.shape == (3, 527) and np.allclose(scores.sum(axis=1), 1, atol=1e-5)
    for row, tags in zip(scores, tagger.tag(clips)):
        assert tags[0].label == labels[int(np.argmax(row))]
        assert [t.score for t in tags] == sorted([t.score for t in tags], reverse=True)


# --------------------------------------------------------------------------------------- Whisper ---


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory) -> Path:
    return tiny_whisper_dir(tmp_path_factory.mktemp("whisper") / "tiny-whisper")


def test_whisper_dir_gives_the_reference_tokens(tiny_whisper):
    """The directory loads through omniembed's Asr (the class Whisper base goes through) and CTranslate2
    decodes exactly the tokens transformers' PyTorch generate produced: greedy, English, with and without
    timestamps; language identification gives transformers' probabilities."""
    from omniembed.encoders.asr import Asr

    ref = json.loads((tiny_whisper / "reference.json").read_text())
    asr = Asr(tiny_whisper, compute_type="float32")  # the stored float16 weights, exactly
    audio = whisper_input()
    kw = dict(language="en", beam_size=1, vad_filter=False, temperature=[0.0], condition_on_previous_text=False)
    segs, _ = asr.model.transcribe(audio, without_timestamps=True, **kw)
    got = [t for s in segs for t in s.tokens]
    # transformers decodes to its 448-position limit (444 tokens); CTranslate2 stops earlier, at 224 new
    # tokens for max_length 448 (its own rule, the same for Whisper base). Every token it made is the reference's.
    assert len(got) == 224 and got == ref["tokens_no_timestamps"][:224]
    segs, _ = asr.model.transcribe(audio, **kw)
    got = [t for s in segs for t in s.tokens]
    assert len(got) >= 5 and got == ref["tokens_timestamps"][: len(got)]  # one 30-s window of segments
    _, _, probs = asr.model.detect_language(audio)
    for (lang, p), (want_lang, want_p) in zip(probs[:5], ref["language_probs"]):
        assert lang == want_lang and abs(p - want_p) < 1e-4


def test_whisper_dir_through_transcribe_block(tiny_whisper):
    """Omniembed's own decoding entry (blocks, segments, language) on the directory: the text of the
    reference tokens comes out, with timestamps inside the clip's window."""
    from omniembed.encoders.asr import Asr, AsrOptions

    ref = json.loads((tiny_whisper / "reference.json").read_text())
    asr = Asr(tiny_whisper, compute_type="float32")
    opts = AsrOptions(language="en", beam_size=1, vad=False, word_timestamps=True)
    segs = asr.transcribe_block(whisper_input(), 12.0, opts)
    tok = asr.model.hf_tokenizer
    want = [t for t in ref["tokens_timestamps"] if t < 50257]  # text tokens only
    text = " ".join(s.text for s in segs)
    assert segs and text.replace(" ", "") in tok.decode(want).replace(" ", "")
    assert all(s.language == "en" and s.start >= 12.0 for s in segs)

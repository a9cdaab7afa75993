"""Pooling of a long part's pieces (issue 19): the opening of a document dominates, the rest still counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omniembed import Embedder, FusionConfig
from omniembed.fusion import piece_weights, pool_pieces

GPL3 = Path("/usr/share/common-licenses/GPL-3")  # Debian base-files: a real 5,600-word text


def test_short_documents_keep_the_plain_lead_bonus():
    cfg = FusionConfig()
    # up to 7 equal pieces the first one's 2× already exceeds the 25 % floor: nothing changes
    for n in range(2, 8):
        w = piece_weights([500] * n, [1.0] * n, cfg, "pdf")
        np.testing.assert_allclose(w, [1000] + [500] * (n - 1))
    # segment weights (a description-only piece weighs half) still multiply in
    np.testing.assert_allclose(piece_weights([500, 500], [1.0, 0.5], cfg, "text"), [1000, 250])


def test_a_long_documents_opening_keeps_its_share():
    cfg = FusionConfig()
    for n in (8, 20, 100):  # 8 pieces ≈ 4,000 tokens … 100 pieces ≈ a 50-page PDF
        w = piece_weights([500] * n, [1.0] * n, cfg, "pdf")
        assert w[0] / w.sum() == pytest.approx(cfg.lead_share)
        np.testing.assert_allclose(w[1:], 500)  # the body keeps its token weights among itself
    # the plain rule (the floor switched off) would give a 100-piece document's opening 2 %
    w = piece_weights([500] * 100, [1.0] * 100, FusionConfig(positional=frozenset()), "pdf")
    assert w[0] / w.sum() == pytest.approx(2 / 101)


def test_a_contentless_opening_gets_no_floor():
    """A PDF whose page 1 text layer is only its page number ("1", 1 token: eval-dev's bzgrep.1.pdf)
    keeps the ×2 lead on that piece, not a quarter of the document's vector; a short title (≥ 8 tokens)
    still gets its floor."""
    cfg = FusionConfig()
    w = piece_weights([1, 374], [1.0, 1.0], cfg, "pdf")
    np.testing.assert_allclose(w, [cfg.min_tokens * 2, 374])
    w = piece_weights([12] + [500] * 20, [1.0] * 21, cfg, "pdf")
    assert w[0] / w.sum() == pytest.approx(cfg.lead_share)


def test_video_keeps_the_plain_rule():
    """A video's first window is no title: no lead bonus, whatever lead_weight is configured."""
    for cfg in (FusionConfig(), FusionConfig(lead_weight=3.0)):
        w = piece_weights([100] * 10, [1.0] * 10, cfg, "video")
        np.testing.assert_allclose(w, [100] * 10)


def test_configured_lead_weight_is_honoured():
    """Fusion applies the configured lead to every modality the table gives one (issue 12: the video
    pipeline used to cancel the *default* 2.0 itself, so any other value leaked into video)."""
    cfg = FusionConfig(lead_weight=3.0, positional=frozenset())
    for modality in ("text", "pdf", "image", "audio"):
        np.testing.assert_allclose(piece_weights([100] * 4, [1.0] * 4, cfg, modality), [300, 100, 100, 100])
    assert FusionConfig().plain == frozenset({"video"})
    assert FusionConfig().positional == frozenset({"text", "pdf", "audio"})


def test_by_default_a_video_keeps_its_pipelines_weights():
    # the video pipeline balanced the channels in the segment weights; video gets no lead bonus
    w = piece_weights([300, 20], [0.5, 7.5], FusionConfig(), "video", ["ocr", "asr"])
    np.testing.assert_allclose(w, [300 * 0.5, 20 * 7.5])


@pytest.mark.parametrize("power", [0.0, 0.5, 1.0])
def test_a_videos_channels_share_by_their_length_to_a_power(power):
    """A page on screen (300 + 100 tokens over two windows) and one spoken sentence (20 tokens): with
    ``channel_power`` each channel's share ∝ its tokens ** power, whatever weights the pipeline set;
    inside a channel the token proportions stay; no lead bonus."""
    cfg = FusionConfig(channel_power=power)
    w = piece_weights([300, 20, 100], [0.3, 6.0, 0.3], cfg, "video", ["ocr", "asr", "ocr"])
    ocr, asr = w[0] + w[2], w[1]
    assert ocr / asr == pytest.approx((400 / 20) ** power)
    assert w[0] / w[2] == pytest.approx(3.0)
    assert w.sum() == pytest.approx(420)


def test_a_video_with_one_channel_is_token_weighted_without_lead():
    cfg = FusionConfig(channel_power=1.0)
    np.testing.assert_allclose(piece_weights([300, 100], [1.0, 1.0], cfg, "video", ["ocr", "ocr"]), [300, 100])
    # a piece of no channel (a silent, textless video's description) keeps tokens × weight
    np.testing.assert_allclose(piece_weights([50], [0.5], cfg, "video", ["description"]), [25])


def test_pooling_is_the_normalised_weighted_mean():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(4, 8)).astype(np.float32)
    cfg = FusionConfig()
    w = piece_weights([200, 300, 50, 400], [1, 1, 1, 1], cfg, "text")
    want = (w[:, None] * v).sum(0)
    np.testing.assert_allclose(pool_pieces(v, [200, 300, 50, 400], [1, 1, 1, 1], cfg), want / np.linalg.norm(want),
                               rtol=1e-5)
    one = pool_pieces(v[:1] * 3, [5], [1.0], cfg)
    np.testing.assert_allclose(one, v[0] / np.linalg.norm(v[0]), rtol=1e-5)


@pytest.fixture(scope="module")
def manual() -> str:
    if not GPL3.exists():
        pytest.fail(f"{GPL3} is missing (Debian's base-files ships it)")
    intro = (
        "Acme Barista 3000 user manual. This manual explains how to set up, operate and clean the Acme "
        "Barista 3000 espresso machine: filling the water tank, choosing the grind size of the built-in "
        "conical burr grinder, pulling a single or double shot, steaming and frothing milk for cappuccino "
        "and latte, descaling the boiler every two months, and what the warning lights on the front panel "
        "mean. The firmware of the machine is free software; its licence is reproduced below."
    )
    licence = GPL3.read_text("utf-8")
    return intro + "\n\n" + licence[: len(licence) * 6 // 10]


def test_a_long_document_still_reads_as_its_opening(embedder, manual, monkeypatch):
    """A 4,600-token document (11 pieces) whose first paragraph says what it is and whose remaining
    95 % is an appended licence. With the plain rule its opening got 2/12 of the weight and a short
    note about coffee drinks outranked it for a description of the manual; with the 25 % floor the
    manual comes first, and its vector still reflects the licence (cosine to the plain one > 0.98)."""
    # The plain rule weighs the same e5 piece vectors differently: the second engine's encoder calls
    # (the same texts in the same batches) are answered with the vectors e5 gave the first engine,
    # instead of encoding the 4,600 tokens again (file 52 -> 30 s of CPU at load ~3, 2026-12-01).
    enc = embedder.engine.encoders.text  # process-wide: the plain Embedder below shares it
    given: dict[tuple, np.ndarray] = {}
    encode = enc.encode

    def remembered(texts, mode):
        key = (tuple(texts), mode)
        if key not in given:
            given[key] = encode(texts, mode)
        return given[key].copy()

    monkeypatch.setattr(enc, "encode", remembered)
    [res] = embedder.embed_detailed(manual)
    assert len(res.pieces) >= 8 and res.token_count > 4000  # long enough for the floor to act
    encoded = len(given)
    plain_embedder = Embedder(fusion=FusionConfig(positional=frozenset()))
    assert plain_embedder.engine.encoders.text is enc
    plain = plain_embedder.embed(manual)[0]
    assert len(given) == encoded  # every piece came from the first encoding
    monkeypatch.undo()
    others = embedder.embed([
        "Three recipes for coffee drinks at home: iced latte, mocha with dark chocolate, and affogato.",
        "Service report: the office refrigerator was repaired and its door seal replaced.",
    ])
    q = embedder.embed("user manual of an espresso machine", task_type="RETRIEVAL_QUERY")[0]
    assert float(res.vector @ q) > float(np.max(others @ q))
    assert float(plain @ q) < float(others[0] @ q)  # the plain rule: the coffee note wins
    assert float(res.vector @ q) > float(plain @ q) + 0.02
    assert float(res.vector @ plain) > 0.98

"""PDFs and images on real files: text layer, OCR, pages, EXIF, formats, and every kind of bad file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from media_factory import image_bytes, scanned_pdf, text_image, text_pdf
from omniembed import Part
from omniembed.errors import DecodeError, EncryptedDocument, InvalidInput, MediaTooLarge, UnsupportedMediaType

SLIDE = ["Quarterly Results 2026", "Revenue grew 12 percent", "Strong sales in Asia"]


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("docs")
    out = {
        "manual": text_pdf(
            d / "manual.pdf",
            [
                ["Dishwasher DW-500 user manual", "Installation and safety instructions."],
                ["Cleaning the filter", "Remove the bottom filter and rinse it under warm water every month."],
                ["Error codes", "E4 means the water inlet is blocked; check the hose and the tap."],
            ],
        ),
        "scanned": scanned_pdf(d / "scanned.pdf", ["Invoice number 4711", "Total due: 250 euros", "Pay by March"]),
        "encrypted": text_pdf(d / "secret.pdf", [["Confidential salary table"]], encrypt="s3cret"),
    }
    slide = text_image(SLIDE)
    (d / "slide.png").write_bytes(image_bytes(slide, "PNG"))
    out["slide"] = d / "slide.png"
    return out


def test_pdf_pages_become_located_pieces(embedder, docs):
    [res] = embedder.embed_detailed(docs["manual"])
    assert res.modalities == ["pdf"]
    assert [p.page for p in res.pieces] == [1, 2, 3]
    assert all(p.source == "text-layer" for p in res.pieces)
    assert "water inlet is blocked" in res.pieces[2].text
    q = embedder.embed("what does error E4 mean", task_type="RETRIEVAL_QUERY")[0]
    assert max(res.pieces, key=lambda p: float(p.vector @ q)).page == 3


def test_scanned_pdf_page_is_read_by_ocr(embedder, docs):
    [res] = embedder.embed_detailed(docs["scanned"])
    [page] = res.pieces
    assert page.source == "ocr" and page.page == 1
    assert "4711" in page.text and "250" in page.text
    assert any("OCR" in n for n in res.notes)


def test_pdf_retrieval_among_documents(embedder, docs):
    vecs = embedder.embed([docs["manual"], docs["scanned"], docs["slide"]])
    q = embedder.embed(
        ["how do I clean the dishwasher filter", "how much is the invoice total", "revenue growth in Asia"],
        task_type="RETRIEVAL_QUERY",
    )
    assert list((q @ vecs.T).argmax(1)) == [0, 1, 2]


def test_encrypted_pdf(embedder, docs):
    with pytest.raises(EncryptedDocument, match="password"):
        embedder.embed(docs["encrypted"])


def test_truncated_and_empty_pdf(embedder, docs, tmp_path):
    data = docs["manual"].read_bytes()
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(DecodeError):
        embedder.embed(cut)
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    with pytest.raises(DecodeError, match="empty"):
        embedder.embed(empty)


def test_image_ocr_text_goes_into_the_space(embedder, docs):
    [res] = embedder.embed_detailed(docs["slide"])
    assert res.modalities == ["image"] and not res.flags
    assert "Revenue grew 12 percent" in res.pieces[0].text
    text_vec = embedder.embed(" ".join(SLIDE))[0]
    other = embedder.embed("A recipe for apple pie with cinnamon")[0]
    assert float(res.vector @ text_vec) > float(res.vector @ other) + 0.1


@pytest.mark.parametrize("fmt,kw", [("JPEG", {"quality": 90}), ("WEBP", {}), ("BMP", {}), ("TIFF", {}), ("GIF", {})])
def test_every_image_format_is_read(embedder, fmt, kw):
    img = text_image(["Meeting room booking", "Floor 3 east wing"])
    [res] = embedder.embed_detailed(Part.from_bytes(image_bytes(img, fmt, **kw)))
    assert "Meeting room booking" in res.pieces[0].text, fmt


def test_gif_first_frame_is_used(embedder):
    frames = [text_image(["First frame headline"]), text_image(["Second frame other words"])]
    data = image_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=500)
    [res] = embedder.embed_detailed(Part.from_bytes(data, mime_type="image/gif"))
    assert "First frame headline" in res.pieces[0].text


def test_exif_orientation_is_honoured(embedder):
    upright = text_image(["Exif orientation works"], size=(900, 200))
    stored = upright.rotate(90, expand=True)  # pixels stored sideways, as a phone camera does
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    data = image_bytes(stored, "JPEG", exif=exif, quality=95)
    [res] = embedder.embed_detailed(Part.from_bytes(data, mime_type="image/jpeg"))
    assert "Exif orientation works" in res.pieces[0].text


def test_image_without_text_gets_a_flagged_vector(embedder):
    data = image_bytes(Image.new("RGB", (400, 300), (30, 60, 200)), "PNG")
    [res] = embedder.embed_detailed(Part.from_bytes(data))
    assert res.flags == {"no_text"}
    assert res.notes and "no readable text" in res.notes[0]
    assert "blue" in res.pieces[0].text
    np.testing.assert_allclose(np.linalg.norm(res.vector), 1.0, atol=1e-5)


def test_decompression_bomb_is_refused(embedder, tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(bomb)  # 400 megapixels in a small file
    assert bomb.stat().st_size < 1_000_000
    with pytest.raises(MediaTooLarge, match="pixels"):
        embedder.embed(bomb)


def test_truncated_images(embedder):
    img = text_image(["truncated"])
    for fmt in ("PNG", "JPEG"):
        data = image_bytes(img, fmt)
        with pytest.raises(DecodeError):
            embedder.embed(Part.from_bytes(data[: len(data) // 2]))


def test_a_lying_extension_does_not_matter(embedder, docs, tmp_path):
    liar = tmp_path / "report.pdf"
    liar.write_bytes(docs["slide"].read_bytes())  # a PNG named .pdf
    [res] = embedder.embed_detailed(liar)
    assert res.modalities == ["image"]


def test_a_lying_mime_type_is_an_error(embedder, docs):
    with pytest.raises(UnsupportedMediaType, match="declared application/pdf but its bytes are image/png"):
        embedder.embed(Part.from_bytes(docs["slide"].read_bytes(), mime_type="application/pdf"))
    with pytest.raises(DecodeError, match="declared audio/mpeg"):
        embedder.embed(Part.from_bytes(b"\x00\x01garbage" * 100, mime_type="audio/mpeg"))
    with pytest.raises(UnsupportedMediaType, match="not supported"):
        embedder.embed(Part.from_bytes(b"PK\x03\x04 zip", mime_type="application/zip"))


def test_unknown_binary_and_missing_files(embedder, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(UnsupportedMediaType, match="cannot tell"):
        embedder.embed(junk)
    with pytest.raises(InvalidInput, match="no such file"):
        embedder.embed(tmp_path / "nope.png")
    with pytest.raises(InvalidInput, match="not a regular file"):
        embedder.embed(tmp_path)


def test_text_files_and_invalid_utf8(embedder, tmp_path):
    note = tmp_path / "note.md"
    note.write_text("# Shopping\n\nBuy oat milk and coffee beans.", encoding="utf-8")
    [res] = embedder.embed_detailed(note)
    assert res.modalities == ["text"] and "oat milk" in res.pieces[0].text
    # legacy encodings are detected (charset-normalizer) and reported in the piece, not refused
    samples = {
        "cp1252": "Sehr geehrte Damen und Herren, wir freuen uns über Ihre Anfrage. Die Lieferung kostet 25 € "
                  "– zahlbar bis März. Grüße aus Köln!",
        "shift_jis": "日本語のテキストです。東京は日本の首都です。富士山はとても高い山です。",
        "cp1251": "Привет, как дела? Москва — столица России. Это тестовый текст для проверки.",
    }
    for enc, text in samples.items():
        f = tmp_path / f"{enc}.txt"
        f.write_bytes(text.encode(enc))
        [res] = embedder.embed_detailed(f)
        assert res.pieces[0].text == text and res.pieces[0].encoding not in (None, "utf-8"), enc
        assert "decoded as" in " ".join(res.notes)
        assert float(res.vector @ embedder.embed(text)[0]) > 0.999  # the same vector as the UTF-8 text
    [res] = embedder.embed_detailed(note)
    assert res.pieces[0].encoding == "utf-8" and not res.notes
    utf16 = tmp_path / "utf16.txt"
    utf16.write_text("Grüße aus Köln", encoding="utf-16")
    [res] = embedder.embed_detailed(utf16)
    assert "Köln" in res.pieces[0].text


def test_interleaved_text_and_image_make_one_vector(embedder, docs):
    both = embedder.embed([["Company update for investors", docs["slide"]]])
    assert both.shape == (1, 384)
    [res] = embedder.embed_detailed([["Company update for investors", docs["slide"]]])
    assert res.modalities == ["text", "image"]
    text_only = embedder.embed("Company update for investors")[0]
    image_only = embedder.embed(docs["slide"])[0]
    # the fused vector lies between its parts
    assert float(both[0] @ text_only) > float(image_only @ text_only)
    assert float(both[0] @ image_only) > float(text_only @ image_only)


def test_fusion_weights_are_configurable(docs):
    from omniembed import Embedder, FusionConfig

    text_heavy = Embedder(fusion=FusionConfig(modality_weights={"text": 10.0, "image": 1.0}))
    balanced = Embedder()
    content = [["Company update for investors", docs["slide"]]]
    text_only = balanced.embed("Company update for investors")[0]
    assert float(text_heavy.embed(content)[0] @ text_only) > float(balanced.embed(content)[0] @ text_only)

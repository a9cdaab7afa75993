"""Images: safe decoding (bomb guard, EXIF orientation, first frame) and the lite pipeline (OCR).

The lite profile has no image tower (no CLIP-like weights ship in any installable package), so it
reads the text in the image. A profile with an image tower (``ctx.encoders.image``: CLIP, SigLIP,
jina-clip-v2 from a model directory) embeds the picture itself, fused with its OCR text
(:data:`NATIVE_OCR_SHARE`). An image with no readable text still gets a vector, built from a plain
description of its shape and colours, and the result says so (flag ``no_text``): it will match
"a mostly blue picture" but not "a dog on a beach".
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from ..errors import DecodeError, MediaTooLarge
from ..evidence import Evidence, MediaContext, Segment
from .source import Limits, MediaSource

__all__ = ["load_image", "extract", "describe_colours"]


#: Pillow's own bomb messages ("Image size (N pixels) exceeds limit of M pixels…"): N is read back so the
#: refusal quotes omniembed's limit (``Limits.max_image_pixels``), never Pillow's 89 or 179 MP.
_PIL_BOMB = re.compile(r"\((\d+) pixels\)")


def load_image(src: MediaSource, limits: Limits, max_side: int | None = None):
    """Decode to an RGB ``PIL.Image`` with EXIF orientation applied; first frame of animations.

    ``max_side`` (pixels, longest side) decodes no larger than needed: JPEGs are decoded at 1/2, 1/4 or
    1/8 scale by libjpeg itself (``draft``), other formats are reduced right after decoding, before any
    copy or mode conversion. Measured on an 8900×8900 (79 MP, under the 80 MP limit) picture embedded by
    the library: peak RSS 1,460 MiB for a one-colour PNG and 1,570 MiB for a JPEG when the full canvas
    went to OCR, versus the numbers in ``bench/bench_hostile.py`` with ``max_side`` = :data:`OCR_MAX_SIDE`.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if src.mime in ("image/heic", "image/heif"):
        _register_heif()
    fh = src.open()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides below
            try:
                img = Image.open(fh)
                w, h = img.size
                _check_pixels(src, w * h, limits)
                img.seek(0)
                if max_side and max(w, h) > max_side:
                    scale = max_side / max(w, h)
                    img.draft("RGB" if img.mode not in ("L", "1") else "L",
                              (max(1, round(w * scale)), max(1, round(h * scale))))
                img.load()
                if img.mode in ("P", "PA", "1"):  # palette images cannot be resampled; expand them first
                    has_alpha = img.mode == "PA" or "transparency" in img.info
                    img = img.convert("RGBA" if has_alpha else ("L" if img.mode == "1" else "RGB"))
                if max_side and max(img.size) > max_side:
                    try:
                        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
                    except ValueError:  # a mode resampling does not handle (e.g. some 16-bit or float TIFFs)
                        img = img.convert("RGB")
                        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
                img = ImageOps.exif_transpose(img)
                if img.mode not in ("RGB", "L"):
                    if "A" in img.getbands():
                        img = img.convert("RGBA")
                        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
                        img = Image.alpha_composite(bg, img)
                img = img.convert("RGB")
            except MediaTooLarge:
                raise
            except Image.DecompressionBombError as exc:
                m = _PIL_BOMB.search(str(exc))
                if m:
                    _check_pixels(src, int(m.group(1)), limits)
                raise MediaTooLarge(f"{src.name} has too many pixels; the limit is {limits.max_image_pixels:,} "
                                    "(decompression-bomb guard)") from None
            except UnidentifiedImageError:
                raise DecodeError(f"{src.name}: not a readable {src.mime} image") from None
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                raise DecodeError(f"{src.name}: corrupt or truncated {src.mime} ({exc})") from None
    finally:
        fh.close()
    return img


def _check_pixels(src: MediaSource, pixels: int, limits: Limits) -> None:
    if pixels > limits.max_image_pixels:
        raise MediaTooLarge(
            f"{src.name} has {pixels:,} pixels; the limit is {limits.max_image_pixels:,} (decompression-bomb "
            "guard; omniembed serve and Embedder take a higher limit through Limits(max_image_pixels=...))"
        )


def _register_heif() -> None:
    """HEIC/HEIF (iPhone photos) through pillow-heif's Pillow plugin; AVIF is Pillow's own (≥ 11.2)."""
    try:
        import pillow_heif
    except ImportError:
        from ..errors import MissingDependency

        raise MissingDependency("HEIC/HEIF images need pillow-heif: pip install pillow-heif") from None
    pillow_heif.register_heif_opener()


_NAMED = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "grey": (128, 128, 128),
    "red": (200, 30, 30),
    "orange": (240, 140, 20),
    "yellow": (240, 220, 40),
    "green": (40, 160, 60),
    "blue": (40, 80, 200),
    "purple": (130, 50, 160),
    "pink": (240, 150, 190),
    "brown": (120, 80, 40),
}


def describe_colours(img, top: int = 3) -> list[str]:
    """The main colour names of an image, most covered first."""
    small = np.asarray(img.convert("RGB").resize((48, 48)), dtype=np.float32).reshape(-1, 3)
    names = list(_NAMED)
    ref = np.asarray([_NAMED[n] for n in names], dtype=np.float32)
    nearest = np.argmin(((small[:, None, :] - ref[None]) ** 2).sum(-1), axis=1)
    counts = np.bincount(nearest, minlength=len(names))
    order = [i for i in np.argsort(-counts) if counts[i] >= 0.08 * len(nearest)]
    return [names[i] for i in order[:top]] or [names[int(np.argmax(counts))]]


def _description(img) -> str:
    w, h = img.size
    shape = "landscape" if w > 1.2 * h else "portrait" if h > 1.2 * w else "square"
    colours = describe_colours(img)
    return f"A {shape} picture, mostly {', '.join(colours[:-1]) + ' and ' if len(colours) > 1 else ''}{colours[-1]}."


def ocr_segments(img, ctx: MediaContext, modality: str, **where) -> list[Segment]:
    """OCR one RGB image (PIL image or HxWx3 array) into at most one segment."""
    res = ctx.ocr().read(np.asarray(img))
    if not res.text.strip():
        return []
    return [Segment(text=res.text, modality=modality, source="ocr", **where)]


#: In a profile with an image tower, the share of a picture's vector that comes from the text OCR read
#: in it: vector = normalize((1 − s)·image_tower(picture) + s·text_tower(OCR text)), s = 0.3 when OCR found
#: text (else the image tower alone). Joint models read large text in pictures themselves; the OCR share
#: makes small print (slides, screenshots, scans) findable by its words. A choice, not a measurement:
#: no real image-text weights exist on this machine to tune it (docs/profiles.md).
NATIVE_OCR_SHARE = 0.3


def native_vector(img, ctx: MediaContext, modality: str, **where) -> Segment:
    """One segment carrying the image tower's vector of ``img``, fused with its OCR text (if any)."""
    enc = ctx.encoders
    vec = enc.image.encode_images([img])[0]  # type: ignore[union-attr]
    ocr = ocr_segments(img, ctx, modality)
    text = ocr[0].text if ocr else ""
    if text:
        tv = enc.text.encode([text], "passage")[0]  # type: ignore[union-attr]
        vec = (1.0 - NATIVE_OCR_SHARE) * vec + NATIVE_OCR_SHARE * tv
        vec = vec / (np.linalg.norm(vec) or 1.0)
    return Segment(text=text, modality=modality, source="native", vector=np.asarray(vec, np.float32), **where)


def extract(src: MediaSource, ctx: MediaContext) -> Evidence:
    from ..encoders.ocr import OCR_MAX_SIDE

    img = load_image(src, ctx.limits, max_side=OCR_MAX_SIDE)
    if ctx.encoders is not None and ctx.encoders.image is not None:
        return Evidence("image", [native_vector(img, ctx, "image")])
    segments = ocr_segments(img, ctx, "image")
    if segments:
        return Evidence("image", segments)
    return Evidence(
        "image",
        [Segment(text=_description(img), modality="image", source="description", weight=0.5)],
        flags={"no_text"},
        notes=[
            f"{src.name}: the lite profile found no readable text in this image; its vector only "
            "describes shape and colours (lite has no image tower)"
        ],
    )

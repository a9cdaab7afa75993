"""Images: safe decoding (bomb guard, EXIF orientation, first frame) and the lite pipeline (OCR).

The lite profile has no image tower (no CLIP-like weights ship in any installable package), so it
reads the text in the image. An image with no readable text still gets a vector, built from a plain
description of its shape and colours, and the result says so (flag ``no_text``): it will match
"a mostly blue picture" but not "a dog on a beach".
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import DecodeError, MediaTooLarge
from ..evidence import Evidence, MediaContext, Segment
from .source import Limits, MediaSource

__all__ = ["load_image", "extract", "describe_colours"]


def load_image(src: MediaSource, limits: Limits):
    """Decode to an RGB ``PIL.Image`` with EXIF orientation applied; first frame of animations."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if src.mime in ("image/heic", "image/heif"):
        _register_heif()
    fh = src.open()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                img = Image.open(fh)
                w, h = img.size
                if w * h > limits.max_image_pixels:
                    raise MediaTooLarge(
                        f"{src.name} is {w}×{h} = {w * h:,} pixels; the limit is {limits.max_image_pixels:,} "
                        "(decompression-bomb guard)"
                    )
                img.seek(0)
                img.load()
                img = ImageOps.exif_transpose(img)
                if img.mode not in ("RGB", "L"):
                    if "A" in img.getbands() or img.mode == "P":
                        img = img.convert("RGBA")
                        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
                        img = Image.alpha_composite(bg, img)
                img = img.convert("RGB")
            except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
                raise MediaTooLarge(f"{src.name}: {exc}") from None
            except UnidentifiedImageError:
                raise DecodeError(f"{src.name}: not a readable {src.mime} image") from None
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                raise DecodeError(f"{src.name}: corrupt or truncated {src.mime} ({exc})") from None
    finally:
        fh.close()
    return img


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


def extract(src: MediaSource, ctx: MediaContext) -> Evidence:
    img = load_image(src, ctx.limits)
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

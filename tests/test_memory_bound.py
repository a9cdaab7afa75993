"""Images are decoded at the size OCR reads, never held as full canvases beyond that (issue 11, item 4).

The peak-RSS figures for whole embeddings (library, server, indexer) live in ``bench/bench_hostile.py``;
here a subprocess decodes near-limit pictures and its peak memory growth (VmHWM, which is deterministic
for a given decode path) is checked against what a full-size decode plus copies would cost.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from omniembed.encoders.ocr import OCR_MAX_SIDE
from omniembed.errors import MediaTooLarge
from omniembed.media.image import load_image
from omniembed.media.source import Limits, MediaSource

SIDE = 8900  # 79.2 MP: the largest square under the default 80 MP limit

_PROBE = r"""
import json, sys
from pathlib import Path
from omniembed.media.image import load_image
from omniembed.media.source import Limits, MediaSource

def kib(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])
src = MediaSource.from_path(Path(sys.argv[1]), None, Limits())
import PIL.Image, PIL.ImageOps, numpy  # imported before the baseline
base = kib("VmRSS:")
img = load_image(src, Limits(), max_side=int(sys.argv[2]))
print(json.dumps({"size": img.size, "mode": img.mode, "grew_mib": (kib("VmHWM:") - base) / 1024}))
"""


@pytest.fixture(scope="module")
def near_limit(tmp_path_factory):
    d = tmp_path_factory.mktemp("big")
    Image.new("RGB", (SIDE, SIDE), (40, 80, 200)).save(d / "one-colour.png")
    img = Image.new("L", (SIDE, SIDE), 255)
    img.paste(0, (100, 100, 8800, 300))
    img.convert("RGB").save(d / "photo.jpg", quality=80)
    Image.new("P", (SIDE, SIDE), 3).save(d / "palette.gif")
    return d


def _probe(path, max_side: int) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE, str(path), str(max_side)], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_near_limit_jpeg_is_decoded_at_reduced_scale(near_limit):
    got = _probe(near_limit / "photo.jpg", OCR_MAX_SIDE)
    assert max(got["size"]) == OCR_MAX_SIDE and got["mode"] == "RGB"
    # a full decode alone is 8900² × 4 bytes = 302 MiB; libjpeg's 1/4-scale decode is ~14 MiB
    assert got["grew_mib"] < 100, got


@pytest.mark.parametrize("name", ["one-colour.png", "palette.gif"])
def test_other_formats_hold_one_canvas_at_most(near_limit, name):
    got = _probe(near_limit / name, OCR_MAX_SIDE)
    assert max(got["size"]) == OCR_MAX_SIDE and got["mode"] == "RGB"
    # one decoded RGB canvas is 302 MiB (Pillow keeps RGB in 4 bytes a pixel), plus the half-size
    # reduction step (76 MiB); the old path kept three full canvases (decode, transpose, convert: 906 MiB)
    # and OCR made its own array of the whole picture before shrinking it
    assert got["grew_mib"] < 520, got


def test_small_images_are_not_resampled(tmp_path):
    p = tmp_path / "small.png"
    Image.new("RGB", (640, 480), "white").save(p)
    img = load_image(MediaSource.from_path(p, None, Limits()), Limits(), max_side=OCR_MAX_SIDE)
    assert img.size == (640, 480)


def test_refusals_quote_omniembeds_pixel_limit(tmp_path):
    limits = Limits()
    for side, name in ((9000, "over-ours.png"), (10_000, "over-pillows-warning.png"),
                       (14_000, "over-pillows-error.png")):
        p = tmp_path / name
        Image.new("1", (side, side)).save(p)  # tiny files, many pixels
        with pytest.raises(MediaTooLarge) as exc:
            load_image(MediaSource.from_path(p, None, limits), limits, max_side=OCR_MAX_SIDE)
        msg = str(exc.value)
        assert f"{side * side:,} pixels" in msg and "80,000,000" in msg, msg
        assert "89,478,485" not in msg and "178956970" not in msg and "178,956,970" not in msg
    raised = Limits(max_image_pixels=120_000_000)  # a higher operator limit lets Pillow's 89 MP pass
    p = tmp_path / "over-pillows-warning.png"
    img = load_image(MediaSource.from_path(p, None, raised), raised, max_side=OCR_MAX_SIDE)
    assert max(img.size) == OCR_MAX_SIDE

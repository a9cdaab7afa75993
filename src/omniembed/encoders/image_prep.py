"""Image preprocessing of the image-text families, with Pillow and numpy, exactly as their references do it.

Each family's vectors are only right if its pixels are: a one-pixel shift of the crop or a different
resampling filter moves a vector far more than the 1e-4 the reference tests allow. Two references exist:

* **transformers' image processors** (CLIP, SigLIP / SigLIP 2; ``CLIPImageProcessorPil`` and
  ``SiglipImageProcessorPil``, which run without torch): resize with Pillow on uint8 (shortest edge to
  ``size`` with the long edge ``int(size·long/short)``, or straight to ``height × width``), centre crop with
  offsets ``(H − h) // 2``, rescale by 1/255, normalise with the config's mean and std.
* **open_clip's eval transform** (jina-clip-v2's ``JinaCLIPImageProcessor`` wraps it): the same resize
  (torchvision hands PIL images to Pillow with the same size rule), but the crop offset is
  ``round((H − h) / 2)`` with Python's round-half-to-even, which differs from ``//`` when ``H − h`` ≡ 3
  (mod 4) — e.g. a 640×427 photo becomes 767×512 and is cropped at x = 128, not 127.

Both are proven equal to their references on tiny-model fixtures (tests/test_joint_models.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ImagePrep"]

_RESAMPLE_NAMES = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}


@dataclass(frozen=True)
class ImagePrep:
    """How one family turns a picture into ``pixel_values`` (3 × H × W float32)."""

    height: int
    width: int
    shortest_edge: int | None  # resize the short side to this (keeping the aspect), then crop
    crop: bool
    crop_rounding: str  # "floor" (transformers) or "round" (torchvision / open_clip)
    resample: int  # a Pillow filter number (3 = bicubic, 2 = bilinear)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    rescale: float = 1 / 255
    do_resize: bool = True
    do_rescale: bool = True
    do_normalize: bool = True

    @classmethod
    def from_config(cls, cfg: dict, crop_rounding: str = "floor") -> "ImagePrep":
        """Read a ``preprocessor_config.json`` (transformers' keys, or jina's ``size``/``mean``/``std``)."""
        size = cfg.get("size", 224)
        crop = cfg.get("crop_size")
        shortest = None
        if isinstance(size, int):  # jina-clip: one number, shortest-edge resize and a square crop
            shortest, h, w = size, size, size
            do_crop = True
        elif "shortest_edge" in size:
            shortest = int(size["shortest_edge"])
            do_crop = bool(cfg.get("do_center_crop", True))
            if isinstance(crop, int):
                h = w = crop
            elif isinstance(crop, dict):
                h, w = int(crop["height"]), int(crop["width"])
            else:
                h = w = shortest
        else:
            h, w = int(size["height"]), int(size["width"])
            do_crop = bool(cfg.get("do_center_crop", False)) and crop is not None
            if do_crop:
                h, w = (crop, crop) if isinstance(crop, int) else (int(crop["height"]), int(crop["width"]))
        resample = cfg.get("resample", cfg.get("interpolation", 3))
        if isinstance(resample, str):
            resample = _RESAMPLE_NAMES.get(resample.lower(), 3)
        mean = cfg.get("image_mean", cfg.get("mean", (0.48145466, 0.4578275, 0.40821073)))
        std = cfg.get("image_std", cfg.get("std", (0.26862954, 0.26130258, 0.27577711)))
        if isinstance(mean, (int, float)):
            mean = (mean,) * 3
        if isinstance(std, (int, float)):
            std = (std,) * 3
        return cls(
            height=int(h), width=int(w), shortest_edge=shortest, crop=do_crop, crop_rounding=crop_rounding,
            resample=int(resample), mean=tuple(float(x) for x in mean), std=tuple(float(x) for x in std),  # type: ignore[arg-type]
            rescale=float(cfg.get("rescale_factor", 1 / 255)), do_resize=bool(cfg.get("do_resize", True)),
            do_rescale=bool(cfg.get("do_rescale", True)), do_normalize=bool(cfg.get("do_normalize", True)),
        )

    def __call__(self, img) -> np.ndarray:
        """One PIL image → (3, height, width) float32."""
        if img.mode != "RGB":
            img = img.convert("RGB")
        if self.do_resize:
            w, h = img.size
            if self.shortest_edge is not None:
                short, long = (w, h) if w <= h else (h, w)
                new_short, new_long = self.shortest_edge, int(self.shortest_edge * long / short)
                size = (new_short, new_long) if w <= h else (new_long, new_short)
            else:
                size = (self.width, self.height)
            img = img.resize(size, resample=self.resample, reducing_gap=None)
        arr = np.asarray(img, dtype=np.uint8)
        if self.crop:
            arr = self._centre_crop(arr)
        x = arr.astype(np.float32)
        if self.do_rescale:
            x = (arr.astype(np.float64) * self.rescale).astype(np.float32)
        if self.do_normalize:
            x = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)

    def batch(self, images: list) -> np.ndarray:
        """PIL images → (n, 3, height, width) float32."""
        if not images:
            return np.zeros((0, 3, self.height, self.width), np.float32)
        return np.stack([self(im) for im in images])

    def _centre_crop(self, arr: np.ndarray) -> np.ndarray:
        H, W = arr.shape[:2]
        th, tw = self.height, self.width
        if H < th or W < tw:  # smaller than the crop (only with odd configs): pad with black, centred
            ph, pw = max(th - H, 0), max(tw - W, 0)
            top, left = -(-ph // 2), -(-pw // 2)  # transformers pads ceil(d/2) before
            if self.crop_rounding == "round":
                top, left = ph // 2, pw // 2  # torchvision pads floor(d/2) before
            arr = np.pad(arr, ((top, ph - top), (left, pw - left), (0, 0)))
            H, W = arr.shape[:2]
        if self.crop_rounding == "round":
            top, left = int(round((H - th) / 2.0)), int(round((W - tw) / 2.0))
        else:
            top, left = (H - th) // 2, (W - tw) // 2
        return arr[top : top + th, left : left + tw]

"""Estimate CPU speed of the real image-text models without their weights (docs/profiles.md, "Cost").

Run with the fixture-building Python (torch + transformers + onnxruntime):

    /path/to/venv-with-torch/bin/python scripts/estimate_joint_speed.py [--threads 2]

Compute does not depend on weight values, so each tower is rebuilt at its published width, head count,
patch size and input length with random weights, but with only ``LAYERS`` of its transformer layers
(the full sizes are 0.6–3.5 GB of ONNX). Each layer costs the same, so the full tower's time is
estimated as ``t(0 layers) + (t(LAYERS) − t(0)) / LAYERS × layers``: a linear fit between a run without
layers (embeddings, pooling, projection) and one with ``LAYERS``. Vocabulary sizes are capped at 32k (a
lookup table's size does not change the compute). jina-clip-v2's towers are stood in for by an
XLM-RoBERTa of its text tower's size and a ViT-L/14 at 512 px (EVA02-L's shape; EVA's rotary and SwiGLU
details are not modelled). The numbers are estimates and are printed with the load average.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

LAYERS = 2


def _export(module, args, path, names):
    torch.onnx.export(module, args, str(path), input_names=names, output_names=["out"], opset_version=17,
                      dynamo=False, dynamic_axes={n: {0: "b"} for n in names})


def _time(path: Path, feed: dict, threads: int, repeat: int = 3) -> float:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    s = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    s.run(None, feed)
    best = 1e9
    for _ in range(repeat):
        t0 = time.perf_counter()
        s.run(None, feed)
        best = min(best, time.perf_counter() - t0)
    return best


class _Pooled(torch.nn.Module):
    def __init__(self, m, kind):
        super().__init__()
        self.m, self.kind = m, kind

    def forward(self, x):
        if self.kind == "text":
            return self.m(input_ids=x).last_hidden_state[:, 0]
        return self.m(pixel_values=x).last_hidden_state[:, 0]


def tower(kind: str, build, layers_full: int, feed_shape, threads: int, tmp: Path, name: str) -> float:
    """Seconds for one batch through the full-depth tower, by the two-point fit."""
    times = []
    for n in (0, LAYERS):
        model = _Pooled(build(n), kind).eval()
        if kind == "text":
            x = torch.randint(5, 1000, feed_shape)
        else:
            x = torch.randn(*feed_shape)
        path = tmp / f"{name}-{n}.onnx"
        with torch.no_grad():
            _export(model, (x,), path, ["x"])
        times.append(_time(path, {"x": x.numpy()}, threads))
        path.unlink()
        for f in tmp.glob("*.data"):
            f.unlink()
    t0, tn = times
    return t0 + (tn - t0) / LAYERS * layers_full


def main() -> None:
    from transformers import (CLIPTextConfig, CLIPTextModel, CLIPVisionConfig, CLIPVisionModel, SiglipTextConfig,
                              SiglipTextModel, SiglipVisionConfig, SiglipVisionModel, XLMRobertaConfig,
                              XLMRobertaModel)

    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    th = args.threads
    tmp = Path(tempfile.mkdtemp())
    rows = []

    def clip_text(n):
        return CLIPTextModel(CLIPTextConfig(vocab_size=32000, hidden_size=512, intermediate_size=2048,
                                            num_attention_heads=8, num_hidden_layers=n, max_position_embeddings=77))

    def clip_vision(n):
        return CLIPVisionModel(CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                                                num_hidden_layers=n, image_size=224, patch_size=32))

    def siglip_text(n):
        return SiglipTextModel(SiglipTextConfig(vocab_size=32000, hidden_size=768, intermediate_size=3072,
                                                num_attention_heads=12, num_hidden_layers=n, max_position_embeddings=64))

    def siglip_vision(n):
        return SiglipVisionModel(SiglipVisionConfig(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                                                    num_hidden_layers=n, image_size=224, patch_size=16))

    def jina_text(n):
        return XLMRobertaModel(XLMRobertaConfig(vocab_size=32000, hidden_size=1024, intermediate_size=4096,
                                                num_attention_heads=16, num_hidden_layers=n,
                                                max_position_embeddings=8194), add_pooling_layer=False)

    def jina_vision(n):
        return CLIPVisionModel(CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_attention_heads=16,
                                                num_hidden_layers=n, image_size=512, patch_size=14))

    plan = [
        ("clip-vit-base-patch32", "text", clip_text, 12, (8, 20), "8 captions of ~20 tokens"),
        ("clip-vit-base-patch32", "image", clip_vision, 12, (8, 3, 224, 224), "8 images"),
        ("siglip2-base-patch16-224", "text", siglip_text, 12, (8, 64), "8 texts (always 64 tokens)"),
        ("siglip2-base-patch16-224", "image", siglip_vision, 12, (8, 3, 224, 224), "8 images"),
        ("jina-clip-v2", "text", jina_text, 24, (8, 64), "8 texts of 64 tokens"),
        ("jina-clip-v2", "text", jina_text, 24, (2, 512), "2 passages of 512 tokens"),
        ("jina-clip-v2", "image", jina_vision, 24, (2, 3, 512, 512), "2 images (512 px)"),
    ]
    for model, kind, build, layers, shape, what in plan:
        s = tower(kind, build, layers, shape, th, tmp, f"{model}-{kind}")
        per = s / shape[0]
        rows.append((model, kind, what, s, per))
        print(f"{model:26s} {kind:5s} {what:28s} {s:7.3f} s/batch  {per * 1000:8.1f} ms each  {1 / per:7.1f}/s",
              flush=True)
    print(f"threads {th}; load average {os.getloadavg()}")


if __name__ == "__main__":
    main()

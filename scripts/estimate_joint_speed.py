"""Estimate CPU speed of the real image-text models without their weights (docs/profiles.md, "Cost").

Run with the fixture-building Python (torch + transformers + onnxruntime):

    /path/to/venv-with-torch/bin/python scripts/estimate_joint_speed.py [--threads 2] [--jina-ref DIR] [--only jina]

Compute does not depend on weight values, so each tower is rebuilt at its published width, head count,
patch size and input length with random weights, but with only ``LAYERS`` of its transformer layers
(the full sizes are 0.6–3.5 GB of ONNX). Each layer costs the same, so the full tower's time is
estimated as ``t(0 layers) + (t(LAYERS) − t(0)) / LAYERS × layers``: a linear fit between a run without
layers (embeddings, pooling, projection) and one with ``LAYERS``. Vocabulary sizes are capped at 32k (a
lookup table's size does not change the compute). jina-clip-v2's towers are built with its own modelling
code when ``--jina-ref DIR`` names a copy of it (as for scripts/make_tiny_models.py; published config:
Jina-XLM-RoBERTa 1024 wide with rotary positions, EVA02-L/14 at 512 px with 2-D RoPE, SwiGLU and sub-LN),
and the earlier stand-ins (a plain XLM-RoBERTa and a ViT-L/14 of the same sizes) are timed in the same run
for the ratio; without it only the stand-ins run. The numbers are estimates and are printed with the load
average.
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


class _Raw(torch.nn.Module):
    """A tower whose forward already returns one tensor (jina's own towers)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x)


def _jina_builders(ref: Path):
    """jina-clip-v2's text and vision towers from its own code at the published config, n layers."""
    import shutil
    import sys

    from make_tiny_models import JINA_REF_FILES, xlmr_tokenizer

    work = Path(tempfile.mkdtemp(prefix="jina-ref-"))
    for f in JINA_REF_FILES:
        shutil.copy(ref / f, work / f)
    xlmr_tokenizer().save(str(work / "tokenizer.json"))  # the text tower loads a tokenizer from its folder
    (work / "tokenizer_config.json").write_text('{"tokenizer_class": "XLMRobertaTokenizer"}')
    sys.path.insert(0, str(work))
    from configuration_clip import JinaCLIPVisionConfig
    from configuration_xlm_roberta import XLMRobertaFlashConfig
    from modeling_clip import _build_vision_tower
    from modeling_xlm_roberta import XLMRobertaModel as JinaXLMR

    def text(n):
        cfg = XLMRobertaFlashConfig(vocab_size=32000, hidden_size=1024, num_hidden_layers=n, num_attention_heads=16,
                                    intermediate_size=4096, use_flash_attn=False, position_embedding_type="rotary")
        cfg._name_or_path = str(work)
        m = JinaXLMR(cfg, add_pooling_layer=False).eval()

        class T(torch.nn.Module):  # HFTextEncoder's path: mask from the pad id, mean pooling
            def __init__(self):
                super().__init__()
                self.m = m

            def forward(self, x):
                mask = (x != 1).long()
                h = self.m(input_ids=x, attention_mask=mask).last_hidden_state
                return (h * mask.unsqueeze(-1)).sum(1) / mask.sum(-1, keepdim=True)

        return T()

    def vision(n):
        cfg = JinaCLIPVisionConfig(embed_dim=1024, width=1024, head_width=64, layers=n, image_size=512, patch_size=14,
                                   mlp_ratio=2.6667, qkv_bias=True, rope_embeddings=True, pt_hw_seq_len=16,
                                   intp_freq=True, naive_swiglu=True, subln=True, x_attention=False)
        return _Raw(_build_vision_tower(cfg).eval())

    return text, vision


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
        built = build(n)
        model = (built if isinstance(built, (_Raw,)) or not hasattr(built, "config") else _Pooled(built, kind)).eval()
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
    import make_tiny_models  # noqa: F401  (imports torchvision safely when it is on the path, before transformers)
    from transformers import (CLIPTextConfig, CLIPTextModel, CLIPVisionConfig, CLIPVisionModel, SiglipTextConfig,
                              SiglipTextModel, SiglipVisionConfig, SiglipVisionModel, XLMRobertaConfig,
                              XLMRobertaModel)

    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--jina-ref", type=Path, default=None, help="jina-clip-v2's modelling code (see above)")
    ap.add_argument("--only", default="", help="time only the models whose name contains this")
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
    if args.jina_ref:
        jt, jv = _jina_builders(args.jina_ref)
        plan = [(m + " stand-in" if m == "jina-clip-v2" else m, *rest) for m, *rest in plan] + [
            ("jina-clip-v2", "text", jt, 24, (8, 64), "8 texts of 64 tokens"),
            ("jina-clip-v2", "text", jt, 24, (2, 512), "2 passages of 512 tokens"),
            ("jina-clip-v2", "image", jv, 24, (2, 3, 512, 512), "2 images (512 px)"),
        ]
    plan = [row for row in plan if args.only in row[0]]
    for model, kind, build, layers, shape, what in plan:
        s = tower(kind, build, layers, shape, th, tmp, f"{model}-{kind}")
        per = s / shape[0]
        rows.append((model, kind, what, s, per))
        print(f"{model:26s} {kind:5s} {what:28s} {s:7.3f} s/batch  {per * 1000:8.1f} ms each  {1 / per:7.1f}/s",
              flush=True)
    print(f"threads {th}; load average {os.getloadavg()}")


if __name__ == "__main__":
    main()

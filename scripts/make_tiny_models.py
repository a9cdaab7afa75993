"""Build tiny random-weight image-text models in the layouts published on model hubs, plus reference vectors.

Run with a Python that has torch, transformers, onnx, onnxruntime, einops and torchvision (NOT omniembed's
runtime or CI environment, which never has torch). Here torchvision sits in its own folder, so that the
shared torch environment's transformers does not import a torchvision whose C ops do not match its CPU
torch (jina's image transform only needs its PIL functions):

    python3 -m venv /work/venv-torch
    /work/venv-torch/bin/pip install torch==2.13.0 transformers onnx onnxruntime einops
    /work/venv-torch/bin/pip install --no-deps --target /work/venv-torch-vision torchvision==0.28.0
    PYTHONPATH=/work/venv-torch-vision /work/venv-torch/bin/python scripts/make_tiny_models.py \
        --jina-ref /work/jina-ref [--families clip,siglip2,jina-clip-v2] [--out tests/fixtures/tiny_models]

``--jina-ref`` is a folder with jina-clip-v2's modelling code (the hub repositories
jinaai/jina-clip-implementation and jinaai/xlm-roberta-flash-implementation, flattened into one folder:
the files in JINA_REF_FILES). It is third-party code under its own licence and is never committed here.

Why: no image-text weights can be downloaded here, so omniembed's ONNX encoders are proven on tiny
models of the same architectures instead. For every family this script

1. builds a small tokenizer locally with the ``tokenizers`` library, in the family's pipeline
   (CLIP: byte-level BPE with ``</w>``, lowercase, ``<|startoftext|>``/``<|endoftext|>``; SigLIP 2: the
   Gemma byte-fallback BPE with ``<bos>``, fixed right padding to 64 with ``<pad>`` = 0 as in the
   published ``tokenizer.json``; jina-clip-v2: an XLM-RoBERTa-style Unigram with ``<s>``/``</s>``,
   ``<pad>`` = 1);
2. builds a random-weight model with the family's own classes (transformers' CLIPModel; SiglipModel with a
   Gemma vocabulary, which is how the SigLIP 2 "FixRes" checkpoints are published; jina's JinaCLIPModel
   from ``--jina-ref``) and exports it with
   ``torch.onnx.export`` under the input/output names of the published exports (transformers.js /
   Optimum: ``onnx/text_model.onnx`` + ``onnx/vision_model.onnx`` or one ``onnx/model.onnx``);
3. records reference outputs from the reference implementation: the tokenizer loaded by transformers
   (``AutoTokenizer`` / ``Siglip2Tokenizer``), transformers' PIL image processors
   (``CLIPImageProcessorPil``, ``SiglipImageProcessorPil``) and the PyTorch forward pass; for jina-clip-v2
   its own ``encode_text`` / ``encode_image`` (whose ``JinaCLIPImageProcessor`` is open_clip's transform).

The tokenizers' trainers break ties between equally frequent merges in hash order, so two runs give
slightly different vocabularies (and so different reference vectors); each run's files are consistent
with each other, which is all the tests need.

jina-clip-v2's modelling code is custom hub code, not part of transformers: its tiny model is built with
that code itself (``JinaCLIPModel``: EVA02 vision tower with 2-D RoPE, SwiGLU and sub-LN; Jina-XLM-RoBERTa
text tower with rotary positions, mean pooling and its retrieval.query LoRA adapter; flash attention and
xFormers off, as on any CPU), exported in the published layout (one ``onnx/model.onnx``: ``input_ids`` +
``pixel_values`` → ``text_embeddings``, ``image_embeddings`` and their ``l2norm_`` forms), and its reference
outputs are the model's own ``encode_text`` (plain and ``task="retrieval.query"``, ``truncate_dim`` 64/80)
and ``encode_image`` (plain and ``truncate_dim=64``). What that proves is written in docs/profiles.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw



def _import_torchvision() -> None:
    """Import torchvision (transformers and open_clip import it when it is installed) even when the wheel
    is a CUDA build whose C ops do not load against a CPU torch: the PIL transforms used here need none,
    so the fake-op registration is skipped while importing."""
    try:
        import torchvision  # noqa: F401
        return
    except (ImportError, RuntimeError):
        pass
    import sys

    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    orig = torch.library.register_fake
    torch.library.register_fake = lambda *a, **k: (lambda f: f)
    try:
        import torchvision  # noqa: F401,F811
    finally:
        torch.library.register_fake = orig


_import_torchvision()

SEED = 1234
CORPUS = [
    "A photo of a cat sitting on a red sofa.",
    "Two dogs run along the beach at sunset, chasing a ball.",
    "The quarterly report shows revenue growth in every region.",
    "Ein Hund bellt im Garten, während die Kinder spielen.",
    "Un chat noir dort sur le canapé du salon.",
    "東京の夜景はとても美しい。",
    "Пример текста на русском языке для токенизатора.",
    "How do I reset the router to factory settings?",
    "invoice number 4471, total due 129.50 EUR",
    "A diagram of the water cycle: evaporation, condensation, precipitation.",
    "mountains, lakes and forests under a clear blue sky",
    "The quick brown fox jumps over the lazy dog again and again.",
]
TEXTS = [
    "a photo of a cat",
    "A Dog on the BEACH at sunset!",
    "Ein Hund bellt im Garten.",
    "東京の夜景",
    "invoice 4471 total 129.50",
    "x",
    # long enough to be truncated by CLIP (77) and SigLIP (64); jina keeps it whole
    " ".join(["mountains lakes and forests under a clear blue sky"] * 20),
]
JINA_QUERY_PROMPT = "Represent the query for retrieving evidence documents: "


# ---------------------------------------------------------------------------------------------- images
def make_images(out: Path) -> list[tuple[str, Image.Image]]:
    """Small synthetic pictures covering the preprocessing paths: downscale, upscale, portrait,
    landscape, odd crop offsets, greyscale and RGBA inputs."""
    rng = np.random.default_rng(SEED)
    sizes = [(300, 201), (64, 480), (97, 61), (37, 53), (640, 427), (513, 515)]
    imgs = []
    for i, (w, h) in enumerate(sizes):
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        r = (x / max(w - 1, 1)) * 255
        g = (y / max(h - 1, 1)) * 255
        b = ((x + y) % 61) / 60 * 255
        arr = np.stack([r, g, b], -1)
        # blocky noise: fine detail for the resamplers to disagree on, yet small as PNG
        noise = rng.normal(0, 14, ((h + 7) // 8, (w + 7) // 8, 3)).repeat(8, 0).repeat(8, 1)[:h, :w]
        arr += noise
        im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
        d = ImageDraw.Draw(im)
        d.ellipse([w // 5, h // 5, w // 2, h // 2], fill=(200, 30 + 20 * i, 40))
        d.rectangle([w // 2, h // 2, w - 3, h - 3], outline=(10, 10, 10), width=2)
        imgs.append((f"img{i}_{w}x{h}.png", im))
    imgs.append(("grey_120x90.png", imgs[0][1].resize((120, 90)).convert("L")))
    rgba = imgs[2][1].resize((150, 100)).convert("RGBA")
    a = np.asarray(rgba).copy()
    a[..., 3] = 255  # opaque alpha: transformers drops alpha, omniembed's loader composites on white
    imgs.append(("rgba_150x100.png", Image.fromarray(a, "RGBA")))
    out.mkdir(parents=True, exist_ok=True)
    for name, im in imgs:
        im.save(out / name, optimize=True)
    # reload from disk so the reference sees exactly the bytes the tests read
    return [(name, Image.open(out / name).copy()) for name, _ in imgs]


def pixel_probe(pixels: np.ndarray) -> dict:
    """A compact fingerprint of preprocessed pixels (the full arrays would be megabytes): sums and
    4,096 values at fixed positions."""
    flat = pixels.reshape(pixels.shape[0], -1).astype(np.float64)
    idx = np.random.default_rng(7).choice(flat.shape[1], size=min(4096, flat.shape[1]), replace=False)
    return {"idx": idx.astype(np.int64), "vals": flat[:, idx].astype(np.float32),
            "sum": flat.sum(1), "abssum": np.abs(flat).sum(1), "shape": np.asarray(pixels.shape[1:])}


# ---------------------------------------------------------------------------------------------- tokenizers
def clip_tokenizer(vocab_size: int = 400):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<|endoftext|>", end_of_word_suffix="</w>", continuing_subword_prefix="",
                               fuse_unk=False))
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""),
                             behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, end_of_word_suffix="</w>",
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator((CORPUS + TEXTS[:-1]) * 3, trainer)
    # like the published CLIP vocabulary, the two specials come last and are in the BPE vocabulary
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    # every byte alone and at a word's end, as in the published vocabulary (no text ever maps to unk)
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        for t in (ch, ch + "</w>"):
            if t not in vocab:
                vocab[t] = len(vocab)
    for t in ("<|startoftext|>", "<|endoftext|>"):
        vocab[t] = len(vocab)
    spec["added_tokens"] = [
        {"id": vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True} for t in ("<|startoftext|>", "<|endoftext|>")]
    tok = Tokenizer.from_str(json.dumps(spec))
    bos, eos = tok.token_to_id("<|startoftext|>"), tok.token_to_id("<|endoftext|>")
    tok.post_processor = processors.RobertaProcessing(("<|endoftext|>", eos), ("<|startoftext|>", bos),
                                                      add_prefix_space=False, trim_offsets=False)
    return tok, bos, eos


def gemma_tokenizer(vocab_size: int = 700):
    from tokenizers import Tokenizer, decoders, models, normalizers, processors, trainers

    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
    byte_tokens = [f"<0x{i:02X}>" for i in range(256)]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials + byte_tokens, show_progress=False)
    tok.train_from_iterator([t.lower() for t in CORPUS + TEXTS[:-1]] * 3, trainer)
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", pair="<bos> $A <bos> $B",
                                                       special_tokens=[("<bos>", tok.token_to_id("<bos>"))])
    # what the published SigLIP 2 tokenizer.json bakes in: fixed width 64, right padding with <pad> = 0
    tok.enable_padding(direction="right", pad_id=0, pad_token="<pad>", length=64)
    tok.enable_truncation(max_length=64)
    return tok


def xlmr_tokenizer(vocab_size: int = 500):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(" {2,}", " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                      unk_token="<unk>", show_progress=False)
    tok.train_from_iterator((CORPUS + TEXTS[:-1] + [JINA_QUERY_PROMPT]) * 3, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)])
    return tok


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------------- export
def export(module: torch.nn.Module, args: tuple, path: Path, input_names, output_names, dynamic_axes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(module, args, str(path), input_names=input_names, output_names=output_names,
                      dynamic_axes=dynamic_axes, opset_version=17, dynamo=False, do_constant_folding=True)
    import onnx

    onnx.checker.check_model(str(path))


def _pooled(out):
    return out.pooler_output if hasattr(out, "pooler_output") else out[0]


# ---------------------------------------------------------------------------------------------- CLIP
def make_clip(root: Path, images, refs: dict) -> None:
    from transformers import AutoTokenizer, CLIPConfig, CLIPImageProcessorPil, CLIPModel

    out = root / "clip"
    tok, bos, eos = clip_tokenizer()
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    write_json(out / "tokenizer_config.json", {
        "tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
        "do_lower_case": True})
    torch.manual_seed(SEED)
    cfg = CLIPConfig(
        text_config=dict(vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=77, bos_token_id=bos, eos_token_id=eos,
                         pad_token_id=eos),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=224, patch_size=16),
        projection_dim=24)
    model = CLIPModel(cfg).eval()
    model.config.save_pretrained(out)
    proc = CLIPImageProcessorPil()  # the defaults are openai/clip-vit-base-patch32's preprocessor_config.json
    write_json(out / "preprocessor_config.json", {
        "crop_size": {"height": 224, "width": 224}, "do_center_crop": True, "do_convert_rgb": True,
        "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": list(proc.image_mean),
        "image_std": list(proc.image_std), "image_processor_type": "CLIPImageProcessor", "resample": 3,
        "rescale_factor": 1 / 255, "size": {"shortest_edge": 224}})

    class Text(torch.nn.Module):  # Optimum's "clip-text-with-projection": text_embeds, last_hidden_state
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            o = self.m.text_model(input_ids=input_ids, attention_mask=attention_mask)
            return self.m.text_projection(o.pooler_output), o.last_hidden_state

    class Vision(torch.nn.Module):  # "clip-vision-with-projection": image_embeds, last_hidden_state
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, pixel_values):
            o = self.m.vision_model(pixel_values=pixel_values)
            return self.m.visual_projection(o.pooler_output), o.last_hidden_state

    class Joint(torch.nn.Module):  # Optimum's combined CLIPModel export
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, pixel_values, attention_mask):
            o = self.m(input_ids=input_ids, pixel_values=pixel_values, attention_mask=attention_mask)
            return o.logits_per_image, o.logits_per_text, o.text_embeds, o.image_embeds

    ids = torch.ones(2, 7, dtype=torch.long)
    px = torch.zeros(2, 3, 224, 224)
    with torch.no_grad():
        export(Text(model), (ids, torch.ones_like(ids)), out / "onnx" / "text_model.onnx",
               ["input_ids", "attention_mask"], ["text_embeds", "last_hidden_state"],
               {"input_ids": {0: "batch_size", 1: "sequence_length"},
                "attention_mask": {0: "batch_size", 1: "sequence_length"},
                "text_embeds": {0: "batch_size"}, "last_hidden_state": {0: "batch_size", 1: "sequence_length"}})
        export(Vision(model), (px,), out / "onnx" / "vision_model.onnx", ["pixel_values"],
               ["image_embeds", "last_hidden_state"],
               {"pixel_values": {0: "batch_size"}, "image_embeds": {0: "batch_size"},
                "last_hidden_state": {0: "batch_size"}})
    # the same weights as one combined graph (Optimum's default layout), in a sibling directory
    comb = root / "clip-combined"
    comb.mkdir(parents=True, exist_ok=True)
    for f in ("config.json", "tokenizer.json", "tokenizer_config.json", "preprocessor_config.json"):
        shutil.copy(out / f, comb / f)
    with torch.no_grad():
        export(Joint(model), (ids, px, torch.ones_like(ids)), comb / "onnx" / "model.onnx",
               ["input_ids", "pixel_values", "attention_mask"],
               ["logits_per_image", "logits_per_text", "text_embeds", "image_embeds"],
               {"input_ids": {0: "text_batch_size", 1: "sequence_length"},
                "attention_mask": {0: "text_batch_size", 1: "sequence_length"},
                "pixel_values": {0: "image_batch_size"}, "logits_per_image": {0: "image_batch_size", 1: "text_batch_size"},
                "logits_per_text": {0: "text_batch_size", 1: "image_batch_size"},
                "text_embeds": {0: "text_batch_size"}, "image_embeds": {0: "image_batch_size"}})

    # ---- reference: transformers' tokenizer + image processor + PyTorch forward
    ref_tok = AutoTokenizer.from_pretrained(str(out))
    enc = ref_tok(TEXTS, padding=True, truncation=True, max_length=77, return_tensors="pt")
    ref_proc = CLIPImageProcessorPil.from_pretrained(str(out))
    pix = ref_proc([im.convert("RGB") for _, im in images], return_tensors="np")["pixel_values"]
    with torch.no_grad():
        t = _pooled(model.get_text_features(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]))
        v = _pooled(model.get_image_features(pixel_values=torch.from_numpy(pix)))
    refs["clip"] = _record(enc, t, v, pix)


# ---------------------------------------------------------------------------------------------- SigLIP 2
def make_siglip2(root: Path, images, refs: dict) -> None:
    from transformers import SiglipConfig, SiglipImageProcessorPil, SiglipModel, Siglip2Tokenizer

    out = root / "siglip2"
    tok = gemma_tokenizer()
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    write_json(out / "tokenizer_config.json", {
        "tokenizer_class": "GemmaTokenizer", "model_max_length": 1000000000000000019884624838656,
        "bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>",
        "add_bos_token": True, "add_eos_token": False, "padding_side": "right",
        "processor_class": "SiglipProcessor"})
    torch.manual_seed(SEED)
    cfg = SiglipConfig(
        text_config=dict(vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=64, projection_size=32,
                         pad_token_id=0, bos_token_id=2, eos_token_id=1),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=224, patch_size=16))
    model = SiglipModel(cfg).eval()
    model.config.save_pretrained(out)
    write_json(out / "preprocessor_config.json", {
        "do_convert_rgb": None, "do_normalize": True, "do_rescale": True, "do_resize": True,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "image_processor_type": "SiglipImageProcessor",
        "processor_class": "SiglipProcessor", "resample": 2, "rescale_factor": 1 / 255,
        "size": {"height": 224, "width": 224}})

    class Text(torch.nn.Module):  # transformers.js SiglipTextModel: pooler_output (unnormalised)
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids):
            o = self.m.text_model(input_ids=input_ids)
            return o.last_hidden_state, o.pooler_output

    class Vision(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, pixel_values):
            o = self.m.vision_model(pixel_values=pixel_values)
            return o.last_hidden_state, o.pooler_output

    with torch.no_grad():
        export(Text(model), (torch.ones(2, 64, dtype=torch.long),), out / "onnx" / "text_model.onnx", ["input_ids"],
               ["last_hidden_state", "pooler_output"],
               {"input_ids": {0: "batch_size", 1: "sequence_length"}, "pooler_output": {0: "batch_size"},
                "last_hidden_state": {0: "batch_size", 1: "sequence_length"}})
        export(Vision(model), (torch.zeros(2, 3, 224, 224),), out / "onnx" / "vision_model.onnx", ["pixel_values"],
               ["last_hidden_state", "pooler_output"],
               {"pixel_values": {0: "batch_size"}, "pooler_output": {0: "batch_size"},
                "last_hidden_state": {0: "batch_size"}})

    # ---- reference: transformers' SigLIP 2 tokenizer (Gemma + lowercase) with the model card's
    # padding="max_length", max_length=64; the PIL image processor; the PyTorch forward
    ref_tok = Siglip2Tokenizer(tokenizer_file=str(out / "tokenizer.json"), padding_side="right")
    enc = ref_tok(TEXTS, padding="max_length", max_length=64, truncation=True, return_tensors="pt")
    ref_proc = SiglipImageProcessorPil.from_pretrained(str(out))
    pix = ref_proc([im.convert("RGB") for _, im in images], return_tensors="np")["pixel_values"]
    with torch.no_grad():
        t = _pooled(model.get_text_features(input_ids=enc["input_ids"]))
        v = _pooled(model.get_image_features(pixel_values=torch.from_numpy(pix)))
    refs["siglip2"] = _record(enc, t, v, pix, strip_padding=False)


# ---------------------------------------------------------------------------------------------- jina-clip-v2
JINA_LORA_TASK = "retrieval.query"
JINA_WINDOW = 8192
JINA_REF_FILES = ("configuration_clip.py", "modeling_clip.py", "eva_model.py", "rope_embeddings.py", "hf_model.py",
                  "transform.py", "processing_clip.py", "configuration_xlm_roberta.py", "modeling_xlm_roberta.py",
                  "modeling_lora.py", "embedding.py", "mha.py", "block.py", "mlp.py", "rotary.py",
                  "stochastic_depth.py", "xlm_padding.py")


def _jina_config(vocab_size: int, dim: int, size: int) -> dict:
    """jina-clip-v2's config.json, shrunk: the published keys and switches (EVA02 vision tower with 2-D RoPE,
    SwiGLU and sub-LN; Jina-XLM-RoBERTa text tower with rotary positions, mean pooling and one LoRA adapter,
    retrieval.query, which is the default adapter and the only task instruction), tiny widths. One switch
    differs from the published model: the 32-wide vision tower ends in a linear head (``proj_type: linear``)
    where the published 1,024-wide one needs none, which keeps the tiny ONNX graph small."""
    return {
        "architectures": ["JinaCLIPModel"], "model_type": "jina_clip", "add_projections": False,
        "projection_dim": dim, "logit_scale_init_value": 2.6592, "initializer_factor": 1.0,
        "matryoshka_dimensions": [32, 64, 96], "truncate_dim": None,
        "use_text_flash_attn": None, "use_vision_xformers": None,
        "text_config": {
            "model_type": "jina_clip_text", "embed_dim": dim, "hf_model_name_or_path": "jinaai/jina-embeddings-v3",
            "default_instruction_task": None, "default_lora_task": JINA_LORA_TASK, "pooler_type": "mean_pooler",
            "proj_type": None, "proj_bias": False,
            "hf_model_config_kwargs": {
                "vocab_size": vocab_size, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                "intermediate_size": 64, "max_position_embeddings": 8194, "pad_token_id": 1,
                "position_embedding_type": "rotary", "rotary_emb_base": 20000.0,
                "lora_adaptations": [JINA_LORA_TASK], "task_instructions": {JINA_LORA_TASK: JINA_QUERY_PROMPT},
                "lora_rank": 4, "lora_alpha": 4, "lora_dropout_p": 0.0, "lora_main_params_trainable": False,
                "load_trained_adapters": False, "use_flash_attn": True},
        },
        "vision_config": {
            "model_type": "jina_clip_vision", "embed_dim": dim, "width": 32, "head_width": 16, "layers": 2,
            "image_size": size, "patch_size": 32, "mlp_ratio": 2.6667, "qkv_bias": True, "rope_embeddings": True,
            "pt_hw_seq_len": 16, "intp_freq": True, "naive_swiglu": True, "subln": True, "post_norm": False,
            "ls_init_value": None, "patch_dropout": 0.0, "drop_path_rate": 0.0, "x_attention": True,
            "fused_layer_norm": False, "proj_type": "linear"},
    }


def _merge_default_lora(model):
    """``model`` (changed in place) with its text tower has its default LoRA adapter folded into the weights
    (W + B·A·scale, computed by the adapter's own ``lora_forward``) and no adapter left: what a graph with
    only ``input_ids`` as text input must compute. The reference code's per-task dispatch
    (``torch.unique`` over an int32 adapter mask) has no onnxruntime kernel, and the export has one task."""
    import torch.nn.utils.parametrize as parametrize

    m = model
    task = m.text_model.default_loraid
    with torch.no_grad():
        for mod in m.text_model.modules():
            if parametrize.is_parametrized(mod, "weight"):
                merged = mod.parametrizations.weight[0].lora_forward(mod.weight, current_task=task).detach().clone()
                parametrize.remove_parametrizations(mod, "weight", leave_parametrized=False)
                mod.weight = torch.nn.Parameter(merged)
                mod.__dict__.pop("forward", None)  # back to nn.Linear / nn.Embedding's own forward
    m.text_model._default_loraid = None
    return m.eval()


def make_jina(root: Path, images, refs: dict, ref_dir: Path) -> None:
    """jina-clip-v2 built with its own modelling code (``ref_dir``: the hub repository's Python files,
    jinaai/jina-clip-implementation and its text tower jinaai/xlm-roberta-flash-implementation, flattened into
    one folder — see JINA_REF_FILES; kept outside this repository), flash attention and xFormers off as on
    any CPU. Reference outputs are its own ``encode_text`` (with ``task="retrieval.query"`` for queries and
    ``truncate_dim`` for the Matryoshka sizes) and ``encode_image``."""
    import sys
    import tempfile

    missing = [f for f in JINA_REF_FILES if not (ref_dir / f).is_file()]
    if missing:
        raise SystemExit(f"--jina-ref {ref_dir}: missing {', '.join(missing)}")
    out = root / "jina-clip-v2"
    if out.exists():
        shutil.rmtree(out)
    tok = xlmr_tokenizer()
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    write_json(out / "tokenizer_config.json", {
        "tokenizer_class": "XLMRobertaTokenizer", "model_max_length": 8192, "bos_token": "<s>", "eos_token": "</s>",
        "pad_token": "<pad>", "unk_token": "<unk>", "cls_token": "<s>", "sep_token": "</s>", "mask_token": "<mask>"})
    dim, size = 96, 512
    write_json(out / "preprocessor_config.json", {
        "fill_color": 0, "image_processor_type": "JinaCLIPImageProcessor", "interpolation": "bicubic",
        "max_size": None, "mean": [0.48145466, 0.4578275, 0.40821073], "processor_class": "JinaCLIPProcessor",
        "resize_mode": "shortest", "size": size, "std": [0.26862954, 0.26130258, 0.27577711]})
    cfg = _jina_config(tok.get_vocab_size(), dim, size)
    write_json(out / "config.json", {**cfg, "_note": "tiny random-weight jinaai/jina-clip-v2 (omniembed test fixture)"})

    # the text tower loads its tokenizer from the code's own folder (xlm_config._name_or_path), so the code
    # runs from a scratch copy that holds the tokenizer too
    work = Path(tempfile.mkdtemp(prefix="jina-ref-"))
    for f in JINA_REF_FILES:
        shutil.copy(ref_dir / f, work / f)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(out / f, work / f)
    sys.path.insert(0, str(work))
    from configuration_clip import JinaCLIPConfig  # noqa: E402  (the reference code)
    from modeling_clip import JinaCLIPModel  # noqa: E402

    torch.manual_seed(SEED)
    model = JinaCLIPModel(JinaCLIPConfig(**cfg)).eval()
    model.config._name_or_path = str(out)
    with torch.no_grad():  # random weights everywhere, LoRA deltas and the tiny-initialised head included
        g = torch.Generator().manual_seed(SEED)
        for _, p in model.named_parameters(remove_duplicate=False):
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    tt = model.text_model
    assert tt.supports_lora and tt.default_loraid == 0 and tt.get_instruction_from_task(JINA_LORA_TASK) == JINA_QUERY_PROMPT

    class Export(torch.nn.Module):
        """The published onnx/model.onnx: (input_ids, pixel_values) → text_embeddings, image_embeddings and
        their l2-normalised forms; the text tower runs its default LoRA adapter, as ``encode_text`` does."""

        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, pixel_values):
            t = self.m.get_text_features(input_ids=input_ids)
            v = self.m.get_image_features(pixel_values=pixel_values)
            return t, v, torch.nn.functional.normalize(t, dim=-1), torch.nn.functional.normalize(v, dim=-1)

    # ---- reference: the model's own encode_text / encode_image (its tokenizer call, its instruction, its
    # JinaCLIPImageProcessor = open_clip's transform, its Matryoshka truncation and normalisation)
    from transformers import AutoTokenizer

    ref_tok = AutoTokenizer.from_pretrained(str(out))
    pil = [im for _, im in images]
    # encode_text truncates at max_length=512 unless told otherwise; omniembed uses the model card's 8,192-token
    # window (the tower has rotary positions, no table), so the reference is asked for the same window. The
    # last test text (542 tokens here) is where the two defaults part.
    win = JINA_WINDOW
    passages = model.encode_text(TEXTS, max_length=win)
    queries = model.encode_text(TEXTS, task=JINA_LORA_TASK, max_length=win)
    mrl = {k: model.encode_text(TEXTS, truncate_dim=k, max_length=win) for k in (64, 80)}
    img = model.encode_image(pil)
    img64 = model.encode_image(pil, truncate_dim=64)
    pix = model.get_preprocess()([im.convert("RGB") for im in pil])["pixel_values"].numpy()
    enc_p = ref_tok(TEXTS, padding=True, truncation=True, max_length=win, return_tensors="pt")
    enc_q = ref_tok([JINA_QUERY_PROMPT + t for t in TEXTS], padding=True, truncation=True, max_length=win,
                    return_tensors="pt")
    rec = _record(enc_p, torch.from_numpy(passages), torch.from_numpy(img), pix)
    rec["query_ids"] = _record(enc_q, torch.from_numpy(queries), torch.from_numpy(img), None)["ids"]
    rec["query_text"] = queries
    rec["extra"] = {"text_mrl64": mrl[64], "text_mrl80": mrl[80], "image_mrl64": img64}
    refs["jina-clip-v2"] = rec
    tt._default_loraid = None  # how much the adapter matters here (so that the test would see it missing)
    d_lora = np.abs(model.encode_text(TEXTS, max_length=win) - passages).max()
    tt._default_loraid = 0
    print(f"jina-clip-v2: the retrieval.query adapter moves text vectors by {d_lora:.3f}")

    # ---- the export, made after the reference outputs (it folds the adapter into the weights in place)
    merged = _merge_default_lora(model)
    d = np.abs(merged.encode_text(TEXTS, max_length=win) - passages).max()
    print(f"jina-clip-v2: adapter folded into the weights moves text vectors by {d:.1e}")
    assert d < 1e-5, d
    ids = torch.tensor([[0, 5, 6, 7, 2], [0, 8, 2, 1, 1]])
    with torch.no_grad():
        export(Export(merged), (ids, torch.zeros(2, 3, size, size)), out / "onnx" / "model.onnx",
               ["input_ids", "pixel_values"],
               ["text_embeddings", "image_embeddings", "l2norm_text_embeddings", "l2norm_image_embeddings"],
               {"input_ids": {0: "batch_size_text", 1: "sequence_length"}, "pixel_values": {0: "batch_size_image"},
                "text_embeddings": {0: "batch_size_text"}, "image_embeddings": {0: "batch_size_image"},
                "l2norm_text_embeddings": {0: "batch_size_text"}, "l2norm_image_embeddings": {0: "batch_size_image"}})

    sys.path.remove(str(work))
    shutil.rmtree(work, ignore_errors=True)


def _record(enc, text_vecs, image_vecs, pix, strip_padding: bool = True) -> dict:
    """Token ids (without padding, unless the family pads to a fixed width), vectors, pixel probes."""
    rows = enc["input_ids"]
    if strip_padding:
        ids = [row[m.bool()].tolist() for row, m in zip(rows, enc["attention_mask"])]
    else:
        ids = [row.tolist() for row in rows]
    out = {"ids": ids, "text": text_vecs.detach().float().numpy(), "image": image_vecs.detach().float().numpy()}
    if pix is not None:
        out["pixels"] = pixel_probe(np.asarray(pix))
    return out


def save_refs(root: Path, refs: dict, images) -> None:
    for fam, r in refs.items():
        arrays = {"text": r["text"], "image": r["image"]}
        for k, v in r.get("pixels", {}).items():
            arrays[f"pixels_{k}"] = v
        if "query_text" in r:
            arrays["query_text"] = r["query_text"]
        arrays.update(r.get("extra", {}))
        np.savez_compressed(root / f"{fam}.reference.npz", **arrays)
        meta = {"texts": TEXTS, "images": [n for n, _ in images], "ids": r["ids"]}
        if "query_ids" in r:
            meta["query_ids"] = r["query_ids"]
            meta["query_prompt"] = JINA_QUERY_PROMPT
        write_json(root / f"{fam}.reference.json", meta)
    # the combined CLIP export shares the split export's weights and reference
    if "clip" in refs:
        for ext in ("npz", "json"):
            shutil.copy(root / f"clip.reference.{ext}", root / f"clip-combined.reference.{ext}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "tests/fixtures/tiny_models")
    ap.add_argument("--jina-ref", type=Path, required=True,
                    help="folder with jina-clip-v2's modelling code (the hub files, flattened; not in this repo)")
    ap.add_argument("--families", default="clip,siglip2,jina-clip-v2",
                    help="comma-separated subset to rebuild; the other families' fixtures are left as they are")
    args = ap.parse_args()
    root: Path = args.out
    fams = [f.strip() for f in args.families.split(",") if f.strip()]
    root.mkdir(parents=True, exist_ok=True)
    for f in fams:  # only what is rebuilt is removed (tiny_models also holds other scripts' fixtures)
        for d in ([root / f] + ([root / "clip-combined"] if f == "clip" else [])):
            if d.exists():
                shutil.rmtree(d)
    images = make_images(root / "images")
    refs: dict = {}
    if "clip" in fams:
        make_clip(root, images, refs)
    if "siglip2" in fams:
        make_siglip2(root, images, refs)
    if "jina-clip-v2" in fams:
        make_jina(root, images, refs, args.jina_ref)
    save_refs(root, refs, images)
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    print(f"wrote {root} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()

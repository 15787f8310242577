#!/usr/bin/env python3
"""Parity of privprobe with Hugging Face transformers' LlavaForConditionalGeneration.

Two directions, both on tiny random models in float32:
  1. transformers -> privprobe: a random LlavaForConditionalGeneration saved by transformers
     (sharded safetensors) is run by `privprobe extract` and `privprobe ask`; every language
     hidden state at the prompt's last position (output_hidden_states numbering), the logits
     there, and the greedy answers must agree with transformers' own forward.
  2. privprobe -> transformers: a checkpoint written by `privprobe train` is loaded with
     LlavaForConditionalGeneration.from_pretrained and compared the same way.
Agreement: maximum relative error (max |a - b| / max |b|) <= 1e-4 for states and logits.

Needs `transformers`, a current `torch`, Pillow and the built privprobe binary:
    tools/hf_parity.py --privprobe build/privprobe [--work DIR] [--keep]
Exit status: 0 agreement, 1 disagreement, 2 usage or setup error, 77 when transformers (or
torch) is not installed, so CTest reports the check as skipped.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # make_synthetic_checkpoint

SKIP = 77
TOLERANCE = 1e-4
ALBUM_SIZE = 128  # the vision towers' image size too (tiny_llava_config: 128), so nothing is resized


def missing_packages():
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
        import safetensors  # noqa: F401
        import PIL  # noqa: F401
    except ImportError as e:
        return str(e)
    return None


def run(binary, *args):
    command = [binary, *map(str, args)]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}")
    return result.stdout


def relative_error(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def make_inputs(binary, work):
    """A synthetic album, two profile sets, a probe set, and a run of `privprobe train` (tiny)."""
    album, probeset = os.path.join(work, "album"), os.path.join(work, "probeset")
    run(binary, "synth", "--out", album, "--count", 12, "--size", ALBUM_SIZE, "--seed", 1)
    u1, u2 = os.path.join(work, "u1.jsonl"), os.path.join(work, "u2.jsonl")
    run(binary, "profiles", "--count", 3, "--seed", 1, "--out", u1)
    run(binary, "profiles", "--count", 3, "--seed", 2, "--exclude", u1, "--out", u2)
    run(binary, "probeset", "--data", os.path.join(album, "test.json"), "--image-root", album, "--seen", u1,
        "--unseen", u2, "--out", probeset, "--count", 4, "--seed", 1)
    train = os.path.join(work, "train")
    run(binary, "train", "--config", "tiny", "--data", os.path.join(album, "train.json"), "--image-root", album,
        "--out", train, "--steps", 2, "--batch-size", 2, "--seed", 1)
    return os.path.join(probeset, "probeset.json"), train


def make_hf_checkpoint(folder, tokenizer_file):
    """A random transformers Llava model, float32, saved in several shards with its tokenizer."""
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    from make_synthetic_checkpoint import sentencepiece_pieces

    pieces = sentencepiece_pieces(tokenizer_file)
    image_id = pieces.index("<image>")  # privprobe's tokenizers have it; llava-hf adds it (tested in C++)
    pad_id = pieces.index("<pad>") if "<pad>" in pieces else 0
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2,
                              image_size=ALBUM_SIZE, patch_size=16, projection_dim=32, hidden_act="quick_gelu")
    text = LlamaConfig(vocab_size=len(pieces), hidden_size=32, intermediate_size=48, num_hidden_layers=3,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-6,
                       bos_token_id=1, eos_token_id=2, pad_token_id=pad_id)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=image_id, vision_feature_layer=-2,
                         vision_feature_select_strategy="default", projector_hidden_act="gelu", pad_token_id=pad_id)
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(config).eval()
    with torch.no_grad():  # norms of 1 and biases of 0 would hide mistakes in their use
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_(1.0 + 0.1 * torch.randn_like(p) if "norm" in name else 0.1 * torch.randn_like(p))
    model.save_pretrained(folder, safe_serialization=True, max_shard_size="200KB")
    shutil.copyfile(tokenizer_file, os.path.join(folder, "tokenizer.model"))
    CLIPImageProcessor(size={"shortest_edge": ALBUM_SIZE}, crop_size={"height": ALBUM_SIZE, "width": ALBUM_SIZE}).save_pretrained(folder)
    return model


def compare(label, binary, model_dir, hf_model, probeset, work):
    """privprobe extract + ask on model_dir against hf_model; returns a list of failures."""
    import torch
    from PIL import Image
    from safetensors.torch import load_file
    from transformers import CLIPImageProcessor

    out = os.path.join(work, label)
    # Batch size 1: no padding, so positions are 0..T-1 in both (transformers derives them from
    # the cache, not from the attention mask).
    run(binary, "extract", "--model", model_dir, "--probeset", probeset, "--out", out + ".safetensors",
        "--position", "last", "--batch-size", 1)
    run(binary, "ask", "--model", model_dir, "--probeset", probeset, "--out", out + "-ask", "--batch-size", 1,
        "--max-new-tokens", 6, "--fold-count", 2, "--repeats", 1)
    states = load_file(out + ".safetensors")["states"]  # [N, L+1, D]
    meta = json.load(open(out + ".json"))
    asked = json.load(open(os.path.join(out + "-ask", "ask.json")))["samples"]
    processor = CLIPImageProcessor.from_pretrained(model_dir)
    probeset_dir = os.path.dirname(os.path.abspath(probeset))
    lm_head = hf_model.get_output_embeddings().weight
    from make_synthetic_checkpoint import sentencepiece_pieces

    pieces = sentencepiece_pieces(os.path.join(model_dir, "tokenizer.model"))
    failures, worst_state, worst_logits = [], 0.0, 0.0
    for i, sample in enumerate(meta["samples"]):
        image_path = sample["image"] if os.path.isabs(sample["image"]) else os.path.join(probeset_dir, sample["image"])
        pixels = processor(images=Image.open(image_path).convert("RGB"), return_tensors="pt")["pixel_values"]
        ids = torch.tensor([sample["input_ids"]])
        with torch.no_grad():
            hf = hf_model(input_ids=ids, pixel_values=pixels, output_hidden_states=True)
        hf_states = torch.stack([h[0, -1] for h in hf.hidden_states])  # [L+1, D]
        if hf_states.shape != states[i].shape:
            failures.append(f"{label} sample {i}: states {tuple(states[i].shape)} vs transformers {tuple(hf_states.shape)}")
            continue
        worst_state = max(worst_state, relative_error(states[i], hf_states))
        # privprobe's logits at that position are its final state through the same lm_head.
        worst_logits = max(worst_logits, relative_error(states[i][-1] @ lm_head.T, hf.logits[0, -1]))
        with torch.no_grad():
            generated = hf_model.generate(input_ids=ids, pixel_values=pixels, max_new_tokens=6, do_sample=False)
        eos = hf_model.config.text_config.eos_token_id
        hf_ids = generated[0, ids.shape[1]:].tolist()
        hf_ids = hf_ids[: hf_ids.index(eos)] if eos in hf_ids else hf_ids
        ours = next((a for a in asked if a["image"] == sample["image"]), None)
        if ours is None:
            failures.append(f"{label} sample {i}: not in ask.json")
            continue
        # Decoded through the pieces (no tokenizer package needed); byte pieces make that
        # ambiguous, and such answers are only printed.
        hf_pieces = [pieces[t] if t < len(pieces) else "<?>" for t in hf_ids]
        hf_text = "".join(hf_pieces).replace("\u2581", " ").strip()
        exact = not any(p.startswith("<") and p.endswith(">") for p in hf_pieces)
        print(f"{label} sample {i}: greedy answer transformers {hf_text!r}, privprobe {ours['answer']!r}")
        if exact and hf_text != ours["answer"].strip():
            failures.append(f"{label} sample {i}: greedy answers differ: {hf_text!r} vs {ours['answer']!r}")
    print(f"{label}: max relative error, hidden states {worst_state:.2e}, logits {worst_logits:.2e} (limit {TOLERANCE:.0e})")
    if worst_state > TOLERANCE:
        failures.append(f"{label}: hidden states differ by {worst_state:.2e}")
    if worst_logits > TOLERANCE:
        failures.append(f"{label}: logits differ by {worst_logits:.2e}")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--privprobe", required=True, help="the built privprobe binary")
    parser.add_argument("--work", help="working folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    args = parser.parse_args()

    missing = missing_packages()
    if missing:
        print(f"hf_parity: skipped: {missing} (needs transformers, torch, safetensors and Pillow: "
              "pip install transformers torch pillow)")
        return SKIP
    if not os.access(args.privprobe, os.X_OK):
        print(f"hf_parity: {args.privprobe}: not an executable privprobe binary")
        return 2
    import torch
    from transformers import LlavaForConditionalGeneration

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    work = args.work or tempfile.mkdtemp(prefix="hf_parity-")
    os.makedirs(work, exist_ok=True)
    try:
        probeset, train_run = make_inputs(args.privprobe, work)
        failures = []
        # 1. transformers -> privprobe
        hf_dir = os.path.join(work, "hf-random")
        hf_model = make_hf_checkpoint(hf_dir, os.path.join(train_run, "checkpoint", "tokenizer.model"))
        failures += compare("transformers-saved", args.privprobe, hf_dir, hf_model, probeset, work)
        # 2. privprobe -> transformers
        ours = os.path.join(train_run, "checkpoint")
        loaded = LlavaForConditionalGeneration.from_pretrained(ours, torch_dtype=torch.float32).eval()
        failures += compare("privprobe-trained", args.privprobe, ours, loaded, probeset, work)
    except RuntimeError as e:
        print(f"hf_parity: {e}")
        return 2
    finally:
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)
    for failure in failures:
        print(f"FAIL {failure}")
    print("hf_parity: " + ("agreement" if not failures else f"{len(failures)} disagreement(s)"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Writes a random LlavaForConditionalGeneration checkpoint in llava-hf layout, at any size.

For measuring what a real checkpoint costs (load memory, extraction and training speed) when no
weights are at hand: `--preset 7b` has llava-1.5-7b-hf's shapes (7.06 B parameters, 14.1 GB in
BF16). Pure Python, no third-party packages: weights are random bit patterns whose exponent is
fixed so every value is finite with magnitude 0.008-0.03 (about the N(0, 0.02) of Hugging Face's
initialisation); norm weights are 1 and biases 0. The model computes nothing meaningful.

    tools/make_synthetic_checkpoint.py --preset 1b --tokenizer path/tokenizer.model --out /tmp/llava-1b

The folder gets config.json, model-0000i-of-0000n.safetensors + model.safetensors.index.json,
the given tokenizer.model, added_tokens.json (an "<image>" token past the tokenizer's pieces, as
llava-1.5-hf's id 32000; none when the tokenizer already has "<image>"), preprocessor_config.json
and generation_config.json.
"""

import argparse
import json
import os
import shutil
import struct
import sys

PRESETS = {
    # llava-1.5-7b-hf: CLIP ViT-L/14-336 + Vicuna-7B.
    "7b": dict(vision=(1024, 4096, 24, 16, 336, 14), text=(4096, 11008, 32, 32), vocab=32064),
    # About 1.7 GB in BF16: for measuring memory on a small machine.
    "1b": dict(vision=(768, 3072, 12, 12, 224, 16), text=(2048, 5504, 12, 16), vocab=32064),
    # Seconds to write: for trying the tool.
    "tiny": dict(vision=(64, 128, 2, 2, 32, 16), text=(64, 128, 2, 2), vocab=512),
}

# Bytes of the value 1.0, and a table that turns a random byte into the high byte of a value of
# magnitude 0.008-0.03 keeping the random sign (and, in F16, two random mantissa bits).
DTYPES = {
    "BF16": dict(one=b"\x80\x3f", high=bytes(0x3C | (v & 0x80) for v in range(256))),
    "F16": dict(one=b"\x00\x3c", high=bytes(0x20 | (v & 0x83) | 0x04 for v in range(256))),
}


def sentencepiece_pieces(path):
    """The piece strings of a SentencePiece model file (ModelProto field 1, SentencePiece field 1)."""

    def varint(data, pos):
        value = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value, pos

    def fields(data):
        pos = 0
        while pos < len(data):
            key, pos = varint(data, pos)
            number, wire = key >> 3, key & 7
            if wire == 0:
                value, pos = varint(data, pos)
            elif wire == 1:
                value, pos = data[pos : pos + 8], pos + 8
            elif wire == 2:
                length, pos = varint(data, pos)
                value, pos = data[pos : pos + length], pos + length
            elif wire == 5:
                value, pos = data[pos : pos + 4], pos + 4
            else:
                raise ValueError(f"{path}: unsupported protobuf wire type {wire}")
            yield number, wire, value

    with open(path, "rb") as f:
        data = f.read()
    pieces = []
    for number, wire, value in fields(data):
        if number == 1 and wire == 2:
            text = next((v for n, w, v in fields(value) if n == 1 and w == 2), b"")
            pieces.append(text.decode("utf-8"))
    if not pieces:
        raise ValueError(f"{path}: no pieces: not a SentencePiece model")
    return pieces


def tensor_specs(vision, text, vocab):
    """(name, shape, kind) in llava-hf's older layout; kind: weight, one (norms) or zero (biases)."""
    dv, fv, lv, _, size, patch = vision
    d, f, layers, _ = text
    positions = (size // patch) ** 2 + 1
    v = "vision_tower.vision_model."
    specs = [
        (v + "embeddings.class_embedding", [dv], "weight"),
        (v + "embeddings.patch_embedding.weight", [dv, 3, patch, patch], "weight"),
        (v + "embeddings.position_embedding.weight", [positions, dv], "weight"),
        (v + "pre_layrnorm.weight", [dv], "one"),
        (v + "pre_layrnorm.bias", [dv], "zero"),
    ]
    for i in range(lv):
        p = f"{v}encoder.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            specs += [(p + f"self_attn.{proj}.weight", [dv, dv], "weight"), (p + f"self_attn.{proj}.bias", [dv], "zero")]
        specs += [(p + "layer_norm1.weight", [dv], "one"), (p + "layer_norm1.bias", [dv], "zero"),
                  (p + "mlp.fc1.weight", [fv, dv], "weight"), (p + "mlp.fc1.bias", [fv], "zero"),
                  (p + "mlp.fc2.weight", [dv, fv], "weight"), (p + "mlp.fc2.bias", [dv], "zero"),
                  (p + "layer_norm2.weight", [dv], "one"), (p + "layer_norm2.bias", [dv], "zero")]
    specs += [(v + "post_layernorm.weight", [dv], "one"), (v + "post_layernorm.bias", [dv], "zero"),
              ("multi_modal_projector.linear_1.weight", [d, dv], "weight"),
              ("multi_modal_projector.linear_1.bias", [d], "zero"),
              ("multi_modal_projector.linear_2.weight", [d, d], "weight"),
              ("multi_modal_projector.linear_2.bias", [d], "zero"),
              ("language_model.model.embed_tokens.weight", [vocab, d], "weight")]
    for i in range(layers):
        p = f"language_model.model.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            specs.append((p + f"self_attn.{proj}.weight", [d, d], "weight"))
        specs += [(p + "mlp.gate_proj.weight", [f, d], "weight"), (p + "mlp.up_proj.weight", [f, d], "weight"),
                  (p + "mlp.down_proj.weight", [d, f], "weight"),
                  (p + "input_layernorm.weight", [d], "one"), (p + "post_attention_layernorm.weight", [d], "one")]
    specs += [("language_model.model.norm.weight", [d], "one"), ("language_model.lm_head.weight", [vocab, d], "weight")]
    return specs


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def tensor_bytes(count, kind, dtype):
    if kind == "one":
        return DTYPES[dtype]["one"] * count
    if kind == "zero":
        return bytes(2 * count)
    data = bytearray(os.urandom(2 * count))
    data[1::2] = bytes(data[1::2]).translate(DTYPES[dtype]["high"])
    return bytes(data)


def write_shard(path, entries, dtype):
    """entries: (name, shape, kind); streamed tensor by tensor, never the whole shard in memory."""
    header, offset = {}, 0
    for name, shape, _ in entries:
        size = 2 * numel(shape)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    temp = path + ".partial"
    with open(temp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, shape, kind in entries:
            f.write(tensor_bytes(numel(shape), kind, dtype))
    os.replace(temp, path)
    return offset


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="checkpoint folder to create")
    parser.add_argument("--tokenizer", required=True, help="a SentencePiece tokenizer.model to ship with it")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="1b")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="BF16")
    parser.add_argument("--shard-gb", type=float, default=5.0, help="largest shard (Hugging Face's default: 5 GB)")
    args = parser.parse_args()

    preset = PRESETS[args.preset]
    vision, text, vocab = preset["vision"], preset["text"], preset["vocab"]
    pieces = sentencepiece_pieces(args.tokenizer)
    os.makedirs(args.out, exist_ok=True)
    shutil.copyfile(args.tokenizer, os.path.join(args.out, "tokenizer.model"))
    if "<image>" in pieces:
        image_id = pieces.index("<image>")
        pad_id = pieces.index("<pad>") if "<pad>" in pieces else 0
    else:
        image_id = len(pieces)
        with open(os.path.join(args.out, "added_tokens.json"), "w") as f:
            json.dump({"<image>": image_id, "<pad>": image_id + 1}, f)
        pad_id = image_id + 1
    vocab = max(vocab, image_id + 2)

    specs = tensor_specs(vision, text, vocab)
    limit = int(args.shard_gb * 1e9)
    shards, current, current_bytes = [], [], 0
    for spec in specs:
        size = 2 * numel(spec[1])
        if current and current_bytes + size > limit:
            shards.append(current)
            current, current_bytes = [], 0
        current.append(spec)
        current_bytes += size
    shards.append(current)
    weight_map, total = {}, 0
    for i, entries in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        total += write_shard(os.path.join(args.out, name), entries, args.dtype)
        weight_map.update({e[0]: name for e in entries})
        print(f"{name}: {len(entries)} tensors", file=sys.stderr)
    with open(os.path.join(args.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)

    dv, fv, lv, hv, size, patch = vision
    d, f_, layers, heads = text
    config = {
        "architectures": ["LlavaForConditionalGeneration"],
        "model_type": "llava",
        "image_token_index": image_id,
        "pad_token_id": pad_id,
        "projector_hidden_act": "gelu",
        "vision_feature_layer": -2,
        "vision_feature_select_strategy": "default",
        "torch_dtype": "bfloat16" if args.dtype == "BF16" else "float16",
        "vision_config": {"model_type": "clip_vision_model", "hidden_size": dv, "intermediate_size": fv,
                          "num_hidden_layers": lv, "num_attention_heads": hv, "image_size": size,
                          "patch_size": patch, "hidden_act": "quick_gelu", "projection_dim": 768},
        "text_config": {"model_type": "llama", "hidden_size": d, "intermediate_size": f_, "num_hidden_layers": layers,
                        "num_attention_heads": heads, "num_key_value_heads": heads, "vocab_size": vocab,
                        "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0},
    }
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(args.out, "preprocessor_config.json"), "w") as f:
        json.dump({"image_processor_type": "CLIPImageProcessor", "do_resize": True, "size": {"shortest_edge": size},
                   "resample": 3, "do_center_crop": True, "crop_size": {"height": size, "width": size},
                   "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
                   "image_mean": [0.48145466, 0.4578275, 0.40821073],
                   "image_std": [0.26862954, 0.26130258, 0.27577711], "do_convert_rgb": True}, f, indent=2)
    with open(os.path.join(args.out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": pad_id}, f, indent=2)
    params = sum(numel(s[1]) for s in specs)
    print(f"{args.out}: {params / 1e9:.3f} B parameters, {total / 1e9:.2f} GB {args.dtype} in {len(shards)} shard(s)")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# The main job on the embedded default, with the stages that exist so far:
# synthetic album -> profiles U1 and U2 (disjoint, length-matched) -> watermark the training
# images with U1 at r = 0.5. Output in ./study (or $1).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-study}
pp=build/privprobe
$pp synth --out "$out/album" --count 600 --seed 0
$pp profiles --count 20 --seed 1 --id-prefix u1- --out "$out/profiles/u1.jsonl"
$pp profiles --seed 2 --id-prefix u2- --match "$out/profiles/u1.jsonl" --exclude "$out/profiles/u1.jsonl" \
  --out "$out/profiles/u2.jsonl"
$pp embed --data "$out/album/train.json" --image-root "$out/album" --profiles "$out/profiles/u1.jsonl" \
  --rate 0.5 --seed 0 --style identicon --out "$out/embed_r0.5"
echo "quickstart: outputs in $out/"

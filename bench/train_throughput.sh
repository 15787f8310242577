#!/usr/bin/env bash
# Training throughput of `privprobe train`, end to end (data loading, augmentation, logging
# included), and its step time beside PyTorch's Python front end at the same shapes.
#
#   1. end to end, --config tiny on a synthetic album (128x128, patch 16, batch 16, aux loss):
#      steps/s, samples/s, tokens/s (steady state: the first WARMUP steps left out), wall time and
#      peak RSS of the whole process (GNU time), with and without --augment;
#   2. the cost of --dynamics-every 1 on an album embedded at r = 0.5 (identicon watermarks,
#      --wm-per-batch 8): mean logged step time / mean plain step time (issue 4's target: < 3x);
#   3. --config bench (96x96, patch 8, width 192, 4+4 layers, batch 16) beside
#      ../shared/bench/ref_tinyllava_train.py at the same thread settings, --text-len set to the
#      text tokens privprobe's rows actually have: median step time (forward + backward + AdamW,
#      data loading excluded: train_timing.jsonl's seconds - data_seconds) and the ratio.
# Part 3 runs once with Debian's default OpenBLAS kernel choice and once with
# OPENBLAS_CORETYPE=SkylakeX when the CPU has AVX-512 (OpenBLAS 0.3.21 misdetects some recent
# Xeons); each side always runs under the same setting. The machines are noisy: the two tools
# alternate, each measurement is repeated, medians are shown; quote ratios, not bare times.
#
# Usage (from anywhere, after building):
#   bench/train_throughput.sh
#   PRIVPROBE=build-x/privprobe STEPS=40 REPEAT=3 bench/train_throughput.sh
# Threads: THREADS (default 0 = privprobe's best split: 1 libtorch thread, one BLAS thread per
# core); the reference gets --threads 1 --blas-threads $(nproc) to match.
set -euo pipefail

cd "$(dirname "$0")/.."
PRIVPROBE=${PRIVPROBE:-build/privprobe}
STEPS=${STEPS:-30}
WARMUP=${WARMUP:-3}
REPEAT=${REPEAT:-3}
COUNT=${COUNT:-400}
THREADS=${THREADS:-0}
SHARED=../shared
PYTHON=/usr/bin/python3  # Debian's Python with python3-torch (another python3 may come first on PATH)
TIME=/usr/bin/time
REFERENCE=$SHARED/bench/ref_tinyllava_train.py
BLAS_THREADS=$(nproc)

for need in "$PRIVPROBE" "$REFERENCE" "$TIME"; do
  [[ -e $need ]] || { echo "train_throughput: missing $need" >&2; exit 1; }
done
"$PYTHON" -c 'import torch' 2>/dev/null || { echo "train_throughput: $PYTHON lacks torch (apt-get install -y python3-torch)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pp-train-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export PRIVPROBE_QUIET=1
unset OPENBLAS_CORETYPE

"$PRIVPROBE" synth --out "$WORK/album" --count "$COUNT" --size 128 --seed 0 >/dev/null
"$PRIVPROBE" synth --out "$WORK/album96" --count "$COUNT" --size 96 --seed 0 >/dev/null
"$PRIVPROBE" profiles --count 20 --seed 1 --out "$WORK/u1.jsonl" >/dev/null
"$PRIVPROBE" embed --data "$WORK/album/train.json" --image-root "$WORK/album" --profiles "$WORK/u1.jsonl" \
  --rate 0.5 --style identicon --seed 0 --out "$WORK/embedded" >/dev/null
echo "albums: $COUNT synthetic images (128x128 and 96x96), embedded copy at r = 0.5; cores: $(nproc);" \
  "steps: $STEPS (first $WARMUP left out), repetitions: $REPEAT (medians)"

# Summarises one run: "<steps/s> <samples/s> <tokens/s> <mean step s> <median compute s> <text tokens/row> <wall s> <rss MB> <dynamics s>"
SUMMARY='
import json, re, statistics, sys
run, warmup = sys.argv[1], int(sys.argv[2])
timing = [json.loads(l) for l in open(run + "/train_timing.jsonl")][warmup:]
log = [json.loads(l) for l in open(run + "/train_log.jsonl")][warmup:]
seconds = sum(t["seconds"] for t in timing)
samples = sum(r["rows"] for r in log)
tokens = sum(r["tokens"] for r in log)
compute = statistics.median(t["seconds"] - t["data_seconds"] - t["dynamics_seconds"] for t in timing)
config = json.load(open(run + "/train_config.json"))["resolved"]["model"]["vision_config"]
image_tokens = (config["image_size"] // config["patch_size"]) ** 2
text = tokens / samples - image_tokens
dynamics = [t["dynamics_seconds"] for t in timing if t["dynamics_seconds"] > 0]
text_time = open(run + ".time").read()
wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", text_time).group(1)
wall_s = sum(float(p) * 60 ** i for i, p in enumerate(reversed(wall.split(":"))))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text_time).group(1)) / 1024
print(f"{len(timing) / seconds:.3f} {samples / seconds:.2f} {tokens / seconds:.0f} {seconds / len(timing):.4f} "
      f"{compute:.4f} {text:.1f} {wall_s:.1f} {rss:.0f} {statistics.mean(dynamics) if dynamics else 0:.4f}")
'

# train_run NAME ARGS...: one privprobe train run into $WORK/NAME, summary line appended to $WORK/NAME.summary
train_run() {
  local name=$1
  shift
  local out="$WORK/run_$name"
  rm -rf "$out"
  "$TIME" -v -o "$out.time" "$PRIVPROBE" train --out "$out" --steps "$STEPS" --batch-size 16 --threads "$THREADS" \
    --seed 0 "$@" >/dev/null 2>"$out.err" || { cat "$out.err" >&2; exit 1; }
  echo "$("$PYTHON" -c "$SUMMARY" "$out" "$WARMUP")" >>"$WORK/$name.summary"
}

median_col() {  # median_col FILE COLUMN(1-based)
  "$PYTHON" -c 'import statistics, sys; print(statistics.median(float(l.split()[int(sys.argv[2]) - 1]) for l in open(sys.argv[1])))' "$1" "$2"
}

ALBUM=(--data "$WORK/album/train.json" --image-root "$WORK/album")
EMBEDDED=(--data "$WORK/embedded/train.json" --image-root "$WORK/embedded/images")
for rep in $(seq "$REPEAT"); do
  train_run tiny --config tiny "${ALBUM[@]}" --aux-objects "$WORK/album/objects.json"
  train_run tiny_augment --config tiny "${ALBUM[@]}" --aux-objects "$WORK/album/objects.json" --augment
  train_run plain --config tiny "${EMBEDDED[@]}" --wm-per-batch 8
  train_run dynamics --config tiny "${EMBEDDED[@]}" --wm-per-batch 8 --dynamics-every 1
done

echo
echo "1. end to end, --config tiny, batch 16 (medians)"
printf '%-14s %8s %10s %9s %9s %8s\n' "" "steps/s" "samples/s" "tokens/s" "wall s" "RSS MB"
for name in tiny tiny_augment; do
  printf '%-14s %8s %10s %9s %9s %8s\n' "$name" "$(median_col "$WORK/$name.summary" 1)" "$(median_col "$WORK/$name.summary" 2)" \
    "$(median_col "$WORK/$name.summary" 3)" "$(median_col "$WORK/$name.summary" 7)" "$(median_col "$WORK/$name.summary" 8)"
done
echo
echo "2. dynamics cost (embedded album, --wm-per-batch 8, --dynamics-every 1)"
plain=$(median_col "$WORK/plain.summary" 4)
logged=$(median_col "$WORK/dynamics.summary" 4)
measure=$(median_col "$WORK/dynamics.summary" 9)
"$PYTHON" -c "import sys; p, l, m = map(float, sys.argv[1:]); print(f'plain step {p:.3f} s, logged step {l:.3f} s ({l / p:.2f}x; measurement alone {m:.3f} s = {m / p:.2f}x a plain step; target < 3x)')" \
  "$plain" "$logged" "$measure"

echo
echo "3. --config bench vs ref_tinyllava_train.py (batch 16, step = forward + backward + AdamW)"
coretypes=(default)
grep -qw avx512f /proc/cpuinfo && coretypes+=(SkylakeX)
for coretype in "${coretypes[@]}"; do
  rm -f "$WORK/bench.summary" "$WORK/reference.results"
  for rep in $(seq "$REPEAT"); do
    if [[ $coretype == default ]]; then unset OPENBLAS_CORETYPE; else export OPENBLAS_CORETYPE=$coretype; fi
    train_run bench --config bench --data "$WORK/album96/train.json" --image-root "$WORK/album96"
    text_len=$("$PYTHON" -c 'import sys; print(round(float(open(sys.argv[1]).readline().split()[5])))' "$WORK/bench.summary")
    "$PYTHON" "$REFERENCE" --threads 1 --blas-threads "$BLAS_THREADS" --steps 20 --warmup "$WARMUP" --batch 16 \
      --text-len "$text_len" >>"$WORK/reference.results"
  done
  unset OPENBLAS_CORETYPE
  ours=$(median_col "$WORK/bench.summary" 5)
  "$PYTHON" - "$WORK/reference.results" "$ours" "$coretype" "$text_len" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ours, coretype, text_len = float(sys.argv[2]), sys.argv[3], sys.argv[4]
ref = statistics.median(r["step_s_median"] for r in rows)
core = rows[0].get("openblas_core")
print(f"OPENBLAS_CORETYPE={coretype} (OpenBLAS core {core}), {text_len} text tokens: "
      f"reference {ref:.3f} s/step, privprobe {ours:.3f} s/step, privprobe speed = {ref / ours:.2f}x the reference")
EOF
done

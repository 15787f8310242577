#!/usr/bin/env bash
# The model core beside ../shared/bench/ref_tinyllava_train.py at exactly the reference's shapes
# (96x96 images, patch 8, width 192, 4 + 4 layers, vocabulary 512, batch 16, 32 text tokens):
# training step (forward + backward + AdamW) and forward-only samples/s, same thread settings
# (1 libtorch thread, one OpenBLAS thread per core, privprobe's default split), the tools
# alternating REPEAT times (medians of medians). Runs with Debian's default OpenBLAS kernel and,
# when the CPU has AVX-512, again with OPENBLAS_CORETYPE=SkylakeX (OpenBLAS 0.3.21 misdetects some
# recent Xeons); each side always under the same setting. Quote the ratios, not the bare times.
#
# Usage (after building the model_step_bench target):
#   bench/model_step_bench.sh [BUILD_DIR]
#   REPEAT=5 STEPS=20 TEXT_LEN=32 bench/model_step_bench.sh build
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
BENCH=$BUILD/bench/model_step_bench
REFERENCE=../shared/bench/ref_tinyllava_train.py
PYTHON=/usr/bin/python3
REPEAT=${REPEAT:-3}
STEPS=${STEPS:-20}
WARMUP=${WARMUP:-3}
TEXT_LEN=${TEXT_LEN:-32}
BATCH=${BATCH:-16}
BLAS_THREADS=$(nproc)
for need in "$BENCH" "$REFERENCE"; do
  [[ -e $need ]] || { echo "model_step_bench: missing $need (build the model_step_bench target)" >&2; exit 1; }
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pp-step-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
FLAGS=(--batch "$BATCH" --text-len "$TEXT_LEN" --steps "$STEPS" --warmup "$WARMUP")

coretypes=(default)
grep -qw avx512f /proc/cpuinfo && coretypes+=(SkylakeX)
echo "batch $BATCH, $TEXT_LEN text tokens + 144 image tokens, $STEPS timed steps after $WARMUP, $REPEAT alternations, $(nproc) cores"
for coretype in "${coretypes[@]}"; do
  if [[ $coretype == default ]]; then unset OPENBLAS_CORETYPE; else export OPENBLAS_CORETYPE=$coretype; fi
  : >"$WORK/ours" && : >"$WORK/ref" && : >"$WORK/ref_forward"
  for _ in $(seq "$REPEAT"); do
    "$BENCH" "${FLAGS[@]}" --threads 0 >>"$WORK/ours"
    "$PYTHON" "$REFERENCE" --threads 1 --blas-threads "$BLAS_THREADS" "${FLAGS[@]}" >>"$WORK/ref"
    "$PYTHON" bench/ref_forward.py --threads 1 --blas-threads "$BLAS_THREADS" "${FLAGS[@]}" >>"$WORK/ref_forward"
  done
  "$PYTHON" - "$WORK" "$coretype" <<'PY'
import json, statistics, sys
work, coretype = sys.argv[1], sys.argv[2]
rows = {name: [json.loads(l) for l in open(f"{work}/{name}")] for name in ("ours", "ref", "ref_forward")}
med = lambda name, key: statistics.median(r[key] for r in rows[name])
ours_step, ref_step = med("ours", "step_s_median"), med("ref", "step_s_median")
ours_fwd, ref_fwd = med("ours", "forward_samples_per_s"), med("ref_forward", "forward_samples_per_s")
print(f"OPENBLAS_CORETYPE={coretype} (OpenBLAS core {rows['ref'][0]['openblas_core']}):")
print(f"  training step  reference {ref_step:.3f} s   privprobe {ours_step:.3f} s   privprobe speed {ref_step / ours_step:.2f}x")
print(f"  forward        reference {ref_fwd:.1f} samples/s   privprobe {ours_fwd:.1f} samples/s   ratio {ours_fwd / ref_fwd:.2f}x")
print(f"  parameters     reference {rows['ref'][0]['params']}   privprobe {rows['ours'][0]['params']}")
PY
done

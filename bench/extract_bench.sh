#!/usr/bin/env bash
# extract: throughput, the overhead of capturing every layer over a plain forward (target <= 10 %),
# and peak memory at two probe-set sizes (it must not grow with N).
# Usage: bench/extract_bench.sh [BUILD_DIR] [CONFIG: tiny|bench] [N_SMALL] [N_LARGE] [BATCH] [THREADS]
set -euo pipefail
build=${1:-build}
config=${2:-tiny}
n_small=${3:-64}
n_large=${4:-512}
batch=${5:-8}
threads=${6:-0}
bench="$build/bench/extract_bench"
[ -x "$bench" ] || { echo "build the extract_bench target first ($bench)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bench" setup "$work/small" "$n_small" "$config"
"$bench" setup "$work/large" "$n_large" "$config"
PRIVPROBE_QUIET=1 "$bench" overhead "$work/small" "$batch" "$threads"
for size in small large; do
  PRIVPROBE_QUIET=1 /usr/bin/time -v "$bench" extract "$work/$size" "$batch" "$threads" 2> "$work/time_$size.txt"
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time_$size.txt")
  echo "peak memory ($size probe set): ${rss} kB"
done

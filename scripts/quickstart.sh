#!/usr/bin/env bash
# The main job: the whole study on the embedded default (synthetic album, profiles, base model,
# fine-tunes at r = 0, 0.5, 1 and the positive control, probes, prompt baseline, VQA, report),
# about 10 minutes on 2 cores. Output in ./study (or $1); extra arguments go to `privprobe study`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-study}
shift || true
exec build/privprobe study --out "$out" "$@"

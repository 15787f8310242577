#!/usr/bin/env bash
# Throughput of `privprobe embed --style text` beside the paper's PIL method
# (../shared/bench/ref_watermark.py) on the same 500 JPEGs (640x480), the same cores, in one run,
# at r = 0.5 and r = 1. The machines are noisy: runs alternate between the two tools, each
# measurement is repeated, and the median is reported; quote the ratio, not the bare rate.
#
# Usage (from anywhere, after building):
#   bench/embed_vs_reference.sh                 # 500 images, 3 repetitions
#   N=200 REPEAT=5 PRIVPROBE=build-x/privprobe bench/embed_vs_reference.sh
#
# Two rates per tool. "own": what each tool reports for its processing (the reference's
# `images_per_s` leaves out Python start-up, imports, listing and planning; privprobe's log line
# covers run_embed from its start: profiles, listing, hashing, watermarking, manifest).
# "end to end": images / wall time of the whole process, start-up included. "CPU": user + system
# time of the whole process per image, which a busy machine distorts least. Peak RSS and CPU
# come from GNU time (`apt-get install time`).
set -euo pipefail

cd "$(dirname "$0")/.."
PRIVPROBE=${PRIVPROBE:-build/privprobe}
N=${N:-500}
REPEAT=${REPEAT:-3}
SHARED=../shared
PROFILES=$SHARED/data/privacy1.jsonl
PYTHON=/usr/bin/python3  # Debian's Python, with PIL (another python3 may come first on PATH)
TIME=/usr/bin/time

for need in "$PRIVPROBE" "$PROFILES" "$SHARED/bench/ref_watermark.py" "$SHARED/bench/make_bench_imgs.py" "$TIME"; do
  [[ -e $need ]] || { echo "embed_vs_reference: missing $need" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pp-embed-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
"$PYTHON" "$SHARED/bench/make_bench_imgs.py" --out "$WORK/imgs" --n "$N" >/dev/null
echo "images: $N JPEGs 640x480; cores: $(nproc); repetitions: $REPEAT (medians shown)"

# Reads one run's logs; prints "tool rate own_images_per_s end_to_end_images_per_s peak_rss_kb".
PARSE='
import json, re, sys
tool, rate, n, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
timing = open(log + ".time").read()
wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", timing).group(1)
seconds = sum(float(p) * 60 ** i for i, p in enumerate(reversed(wall.split(":"))))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", timing).group(1))
cpu = sum(float(re.search(name + r".*: ([0-9.]+)", timing).group(1)) for name in ("User time", "System time"))
if tool == "reference":
    own = json.loads(open(log + ".out").read())["images_per_s"]
else:
    own = n / float(re.search(r"embed: \d+ images in ([0-9.]+) s", open(log + ".err").read()).group(1))
print(tool, rate, round(own, 2), round(n / seconds, 2), rss, round(1000 * cpu / n, 3))
'

# run_one TOOL RATE REP: runs one tool once and appends its line to $WORK/results.
run_one() {
  local tool=$1 rate=$2 rep=$3
  local out="$WORK/out_${tool}_${rate}_${rep}" log="$WORK/log_${tool}_${rate}_${rep}"
  if [[ $tool == reference ]]; then
    "$TIME" -v -o "$log.time" "$PYTHON" "$SHARED/bench/ref_watermark.py" --in "$WORK/imgs" --out "$out" \
      --profiles "$PROFILES" --rate "$rate" --seed 0 >"$log.out" 2>"$log.err"
  else
    PRIVPROBE_QUIET=1 "$TIME" -v -o "$log.time" "$PRIVPROBE" embed --images "$WORK/imgs" \
      --profiles "$PROFILES" --rate "$rate" --seed 0 --style text --out "$out" >"$log.out" 2>"$log.err"
  fi
  "$PYTHON" -c "$PARSE" "$tool" "$rate" "$N" "$log" >>"$WORK/results"
  rm -rf "$out"
}

for rate in 0.5 1; do
  for rep in $(seq "$REPEAT"); do
    run_one reference "$rate" "$rep"
    run_one privprobe "$rate" "$rep"
  done
done

"$PYTHON" - "$WORK/results" <<'EOF'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
def median(tool, rate, col):
    return statistics.median(float(r[col]) for r in rows if r[0] == tool and r[1] == rate)
print(f"{'':>5} | {'own rate (images/s)':^27} | {'end to end (images/s)':^27} | {'CPU (ms/image)':^21} | {'RSS (MB)':^11}")
print(f"{'rate':>5} | {'reference':>9} {'privprobe':>9} {'ratio':>7} | {'reference':>9} {'privprobe':>9} {'ratio':>7} | "
      f"{'ref':>6} {'pp':>6} {'ratio':>7} | {'ref':>5} {'pp':>5}")
print("-" * 104)
for rate in ("0.5", "1"):
    own_ref, own_pp = median("reference", rate, 2), median("privprobe", rate, 2)
    e2e_ref, e2e_pp = median("reference", rate, 3), median("privprobe", rate, 3)
    rss_ref, rss_pp = median("reference", rate, 4) / 1024, median("privprobe", rate, 4) / 1024
    cpu_ref, cpu_pp = median("reference", rate, 5), median("privprobe", rate, 5)
    print(f"{rate:>5} | {own_ref:>9.0f} {own_pp:>9.0f} {own_pp / own_ref:>6.2f}x | "
          f"{e2e_ref:>9.0f} {e2e_pp:>9.0f} {e2e_pp / e2e_ref:>6.2f}x | "
          f"{cpu_ref:>6.2f} {cpu_pp:>6.2f} {cpu_ref / cpu_pp:>6.2f}x | {rss_ref:>5.0f} {rss_pp:>5.0f}")
EOF

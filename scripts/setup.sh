#!/usr/bin/env bash
# Installs every Debian package privprobe needs (only those missing: fast when all are present)
# and builds it in ./build (Release). Run as root on Debian 12.
#   bash scripts/setup.sh            build dependencies + build
#   bash scripts/setup.sh --tests    also what the test suite needs (scikit-learn, Chromium)
#   bash scripts/setup.sh --no-build only install packages
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
build=1
for arg in "$@"; do
  case "$arg" in
    --tests) with_tests=1 ;;
    --no-build) build=0 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-pthread               # tensors; OpenBLAS so libtorch is not on reference BLAS
  libblas-dev liblapack-dev                       # the probe's solver calls CBLAS/LAPACK (OpenBLAS at run time)
  libopencv-dev libjpeg62-turbo-dev               # image codecs; libjpeg-turbo's coefficient API
  libfreetype-dev fonts-dejavu-core               # watermark text
  sentencepiece                                   # spm_train for the tiny tokenizer, spm_encode as test reference
  nlohmann-json3-dev libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev libssl-dev
  gnuplot-nox                                     # report figures
  libgtest-dev libgmock-dev libbenchmark-dev
)
if [ "$with_tests" = 1 ]; then
  packages+=(python3 python3-numpy python3-sklearn python3-pil chromium)  # chromium: the report's headless render test
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ "$build" = 1 ] || exit 0

# ccache: precompiled headers need this sloppiness to be cacheable, and a base dir lets another
# checkout of the same sources (CI's clone) reuse the cache.
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
export CCACHE_BASEDIR="$PWD"

build_dir=${PRIVPROBE_BUILD_DIR:-build}
generator=()
[ -f "$build_dir/CMakeCache.txt" ] || generator=(-G Ninja)
cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j "$(nproc)"

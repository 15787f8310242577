#!/usr/bin/env bash
# The test suite: set-up (packages + Release build), every test under CTest, then the tests of
# everything that parses untrusted input once more under AddressSanitizer + UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --tests

echo "== tests (Release) =="
ctest --test-dir build --output-on-failure -j "$(nproc)"

echo "== untrusted-input tests (ASan + UBSan) =="
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
export CCACHE_BASEDIR="$PWD"
if [ ! -f build-asan/CMakeCache.txt ]; then
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPRIVPROBE_SANITIZE=ON \
    -DPRIVPROBE_WITH_TORCH=OFF -DPRIVPROBE_BUILD_BENCH=OFF >/dev/null
fi
cmake --build build-asan -j "$(nproc)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$(nproc)" -L untrusted

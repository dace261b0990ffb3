#!/usr/bin/env bash
# Fuzz the checkpoint readers (tests/fuzz/fuzz_checkpoint.cpp) with libFuzzer for SECONDS seconds:
#   scripts/fuzz.sh [SECONDS]      (default 60)
# Builds tests/fuzz with Debian's clang in build-fuzz/ (ASan + UBSan), seeds build-fuzz/corpus from the
# test fixtures (tests/data/*.npz) and the regression inputs (tests/fuzz/regressions), and runs with a
# memory limit. A crash leaves build-fuzz/crash-* and exits non-zero: add the input to
# tests/fuzz/regressions (the doctest suite replays every file there) and fix the reader.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
jobs="${XGRAD_JOBS:-$(nproc)}"
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S tests/fuzz -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" >/dev/null
cmake --build build-fuzz -j "$jobs" --target fuzz_checkpoint
mkdir -p build-fuzz/corpus
cp -n tests/data/*.npz tests/fuzz/regressions/* build-fuzz/corpus/ 2>/dev/null || true
rm -f build-fuzz/corpus/*.md
export OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd build-fuzz
./fuzz_checkpoint -max_total_time="$seconds" -rss_limit_mb=1024 -malloc_limit_mb=512 -max_len=65536 \
  -timeout=10 -print_final_stats=1 corpus

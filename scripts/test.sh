#!/usr/bin/env bash
# Install what is missing, build, and pass every test:
#   1. Release build + the whole ctest suite,
#   2. install the package; build a separate consumer project and the examples on their own against it
#      (find_package(xgrad)),
#   3. a minute of fuzzing the checkpoint readers (scripts/fuzz.sh),
#   4. the test suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
# Build folders: build/ (Release), build-fuzz/, build-asan/, build-consumer/, build-examples/ (and build/install).
# The ONNX tests install onnxruntime-node (npm) into build/onnxrt on their first run.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${XGRAD_JOBS:-$(nproc)}"
export OPENBLAS_NUM_THREADS=1  # tests run in parallel; one BLAS thread each

scripts/install-deps.sh

echo "== Release build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"

echo "== Installed package, a consumer project and the examples on their own"
rm -rf build/install build-consumer build-examples
cmake --install build --prefix build/install >/dev/null
cmake -S tests/consumer -B build-consumer -DCMAKE_PREFIX_PATH="$PWD/build/install" >/dev/null
cmake --build build-consumer -j "$jobs"
./build-consumer/consumer
cmake -S examples -B build-examples -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PWD/build/install" >/dev/null
cmake --build build-examples -j "$jobs"
./build-examples/quickstart >/dev/null

ctest --test-dir build --output-on-failure -j "$jobs"

echo "== Fuzzing the checkpoint readers for a minute (libFuzzer, build-fuzz/)"
scripts/fuzz.sh 60

if [[ "${XGRAD_SKIP_SANITIZERS:-0}" != 1 ]]; then
  echo "== AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DXGRAD_SANITIZE=ON -DXGRAD_BUILD_TOOLS=OFF -DXGRAD_NATIVE=OFF \
    -DXGRAD_ONNXRT_DIR="$PWD/build/onnxrt" >/dev/null  # onnxruntime-node: the one the Release tests installed
  cmake --build build-asan -j "$jobs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs"
fi

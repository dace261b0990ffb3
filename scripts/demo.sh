#!/usr/bin/env bash
# Install what is missing, build (Release) and run the main demo: the tutorial experiment
# (`xgrad train`: SimpleRNN(50, tanh) + Dense(1), Adam, MSE on the sum of a random sequence),
# then the picture of the unrolled network (`xgrad graph`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DXGRAD_BUILD_TESTS=OFF >/dev/null
cmake --build build -j "${XGRAD_JOBS:-$(nproc)}"
./build/cli/xgrad train
./build/cli/xgrad graph -o unrolled.svg

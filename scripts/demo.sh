#!/usr/bin/env bash
# Install what is missing, build (Release) and run the main demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DXGRAD_BUILD_TESTS=OFF >/dev/null
cmake --build build -j "${XGRAD_JOBS:-$(nproc)}"
./build/examples/quickstart

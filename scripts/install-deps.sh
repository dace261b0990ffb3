#!/usr/bin/env bash
# Install xgrad's build dependencies from Debian packages: non-interactive, idempotent,
# silent when nothing is missing. Optional tools (Graphviz, gnuplot) are installed with
# XGRAD_OPTIONAL=1; without them xgrad still builds and degrades cleanly at run time.
# libtorch (benchmark-only: bench/torch_bench.cpp, the libtorch companion of `xgrad bench`) is
# installed with XGRAD_BENCH_TORCH=1; it is large (~1 GB with its dependencies) and never needed
# to build, test or use xgrad.
set -euo pipefail

required=(cmake g++ make libxtensor-dev xtl-dev libxsimd-dev libxtensor-blas-dev
          libopenblas-dev libxsmm-dev doctest-dev libzip-dev zlib1g-dev libcli11-dev
          zipcmp zipmerge ziptool   # Debian's libzip CMake config fails unless its three tools are installed
          clang libclang-rt-dev     # libFuzzer (libclang_rt.fuzzer) for scripts/fuzz.sh
          libopenmpi-dev openmpi-bin)  # data-parallel training (nn/dist.hpp) and its mpirun tests
# ONNX export (xgrad::onnx, nn/onnx.hpp) and its tests, which run the exported models in onnxruntime-node
# (installed by the tests into the build tree with npm). nodejs/npm count as present when node and npm are
# on PATH (e.g. NodeSource's nodejs, which ships npm and conflicts with Debian's npm package).
onnx=(libonnx-dev libprotobuf-dev)
node_pkgs=(nodejs npm)
optional=(graphviz gnuplot-nox python3-numpy)  # numpy: cross-checks of .npz checkpoints
# Only to regenerate tests/data/pytorch* (tests/fixtures/make_pytorch_fixture.py): XGRAD_FIXTURES=1.
fixtures=(python3-torch python3-numpy)

wanted=("${required[@]}" "${onnx[@]}")
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then wanted+=("${node_pkgs[@]}"); fi
if [[ "${XGRAD_OPTIONAL:-0}" == 1 ]]; then wanted+=("${optional[@]}"); fi
if [[ "${XGRAD_FIXTURES:-0}" == 1 ]]; then wanted+=("${fixtures[@]}"); fi
bench_torch=(libtorch-dev)  # benchmark only: XGRAD_BENCH_TORCH=1
if [[ "${XGRAD_BENCH_TORCH:-0}" == 1 ]]; then wanted+=("${bench_torch[@]}"); fi

missing=()
for p in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "xgrad: installing missing packages: ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

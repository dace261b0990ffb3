#!/usr/bin/env bash
# One configuration, RUNS interleaved process pairs (xgrad, then libtorch fused and unrolled), and the
# ratio libtorch / xgrad of each pair: on a shared or virtual machine the load drifts between runs, and
# pairing adjacent runs cancels most of it. Prints every pair and the median and range of the ratios.
#   bench/ratio.sh [build] ; CONFIG=cell,hidden,steps,dtype,threads (default rnn,50,10,float32,1), RUNS=15
set -euo pipefail
build=${1:-build}
runs=${RUNS:-15}
IFS=, read -r cell h s dt th <<<"${CONFIG:-rnn,50,10,float32,1}"
[[ -x $build/bench/xgrad_bench_torch ]] || { echo "ratio.sh: $build/bench/xgrad_bench_torch not built (libtorch missing)"; exit 1; }
if [[ -z ${OPENBLAS_CORETYPE:-} ]]; then  # the same OpenBLAS kernels for both (see compare.sh)
  OPENBLAS_CORETYPE=$(XGRAD_KEEP_BLAS_CORE=1 $build/cli/xgrad bench --blas | sed -n 's/^best core for this CPU: //p')
  export OPENBLAS_CORETYPE
fi
iters=200; [[ $h -ge 256 ]] && iters=20; [[ $h -ge 1024 ]] && iters=5
echo "config $cell hidden $h steps $s $dt threads $th; OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE; $runs pairs"
printf "%8s %12s %12s %8s %8s\n" "xgrad" "torch fused" "torch unrl" "ratio f" "ratio u"
rf=(); ru=()
for ((r = 0; r < runs; r++)); do
  x=$($build/cli/xgrad bench --json --cell $cell --hidden $h --steps $s --dtype $dt --threads $th | sed -n 's/.*"ms_per_step": \([0-9.]*\).*/\1/p')
  out=$($build/bench/xgrad_bench_torch --json --cell $cell --hidden $h --steps $s --dtype $dt --threads $th --iters $iters)
  f=$(sed -n 's/.*fused.*"ms_per_step": \([0-9.]*\).*/\1/p' <<<"$out")
  u=$(sed -n 's/.*unrolled.*"ms_per_step": \([0-9.]*\).*/\1/p' <<<"$out")
  a=$(awk "BEGIN{printf \"%.2f\", $f/$x}"); b=$(awk "BEGIN{printf \"%.2f\", $u/$x}")
  rf+=("$a"); ru+=("$b")
  printf "%8.4f %12.4f %12.4f %7sx %7sx\n" "$x" "$f" "$u" "$a" "$b"
done
stats() { printf "%s\n" "$@" | sort -g | awk '{a[NR]=$1} END {printf "median %.2fx (min %.2fx, max %.2fx)", a[int((NR+1)/2)], a[1], a[NR]}'; }
echo "ratio vs fused:    $(stats "${rf[@]}")"
echo "ratio vs unrolled: $(stats "${ru[@]}")"

#!/usr/bin/env bash
# xgrad vs libtorch, side by side: for each configuration, the median over RUNS processes of
# each program's median ms per training step, and the ratio libtorch / xgrad (> 1: xgrad faster).
#   bench/compare.sh [build dir] ; RUNS=3 by default; CONFIGS overrides the list below.
set -euo pipefail
build=${1:-build}
runs=${RUNS:-3}
configs=${CONFIGS:-"rnn,50,10,float32,1 lstm,50,10,float32,1 gru,50,10,float32,1 lstm,256,10,float32,1 gru,256,10,float32,1 rnn,50,100,float32,1 rnn,50,10,float64,1 lstm,1024,10,float32,1 gru,1024,10,float32,1 lstm,1024,10,float32,2"}
# Both programs get the same OpenBLAS kernels: `xgrad` would re-exec itself with the best core for
# this CPU (OpenBLAS misdetects some VMs' CPUs and falls back to SSE3 kernels); libtorch links the
# same libopenblas, so it gets the same OPENBLAS_CORETYPE here. Set it yourself to compare others.
if [[ -z ${OPENBLAS_CORETYPE:-} ]]; then
  OPENBLAS_CORETYPE=$(XGRAD_KEEP_BLAS_CORE=1 $build/cli/xgrad bench --blas | sed -n 's/^best core for this CPU: //p')
  export OPENBLAS_CORETYPE
fi
echo "OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE (both programs)"
[[ -x $build/bench/xgrad_bench_torch ]] || { echo "compare.sh: $build/bench/xgrad_bench_torch not built (libtorch missing)"; exit 1; }
printf "%-5s %6s %5s %-7s %3s | %10s | %12s %6s | %12s %6s\n" cell hidden steps dtype thr "xgrad ms" "torch fused" ratio "torch unroll" ratio
for c in $configs; do
  IFS=, read -r cell h s dt th <<<"$c"
  iters=100; [[ $h -ge 1024 ]] && iters=10
  xs=(); fs=(); us=()
  for ((r = 0; r < runs; r++)); do
    xs+=("$($build/cli/xgrad bench --json --cell $cell --hidden $h --steps $s --dtype $dt --threads $th | sed -n 's/.*"ms_per_step": \([0-9.]*\).*/\1/p')")
    out=$($build/bench/xgrad_bench_torch --json --cell $cell --hidden $h --steps $s --dtype $dt --threads $th --iters $iters)
    fs+=("$(sed -n 's/.*fused.*"ms_per_step": \([0-9.]*\).*/\1/p' <<<"$out")")
    us+=("$(sed -n 's/.*unrolled.*"ms_per_step": \([0-9.]*\).*/\1/p' <<<"$out")")
  done
  med() { printf "%s\n" "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  x=$(med "${xs[@]}"); f=$(med "${fs[@]}"); u=$(med "${us[@]}")
  printf "%-5s %6s %5s %-7s %3s | %10.4f | %12.4f %5.2fx | %12.4f %5.2fx\n" $cell $h $s $dt $th $x $f $(awk "BEGIN{print $f/$x}") $u $(awk "BEGIN{print $u/$x}")
done

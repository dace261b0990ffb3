#!/usr/bin/env bash
# Data-parallel scaling (issue 16, docs/distributed.md): samples per second of `xgrad bench` training
# steps (batch 32 per process) for the tutorial (rnn 50), LSTM 256 and LSTM 1024, three ways:
#   1p1t: one process, 1 BLAS thread; 1p2t: one process, 2 BLAS threads; 2r1t: mpirun -np 2, 1 BLAS thread each;
#   2ind: two independent 1p1t processes at once (cores 0 and 1, no communication), their sum: the ceiling
#   2r1t could reach with free communication, so 2r/2ind is what the all-reduce costs and 2ind/1p1t what
#   sharing the machine (memory bandwidth, caches, clocks) costs.
# Runs alternate (1p1t, 1p2t, 2r1t, 2ind) ROUNDS times; prints each run and the medians.
#   bench/mpi_scaling.sh [build/cli/xgrad] [ROUNDS=5]
set -euo pipefail
X=${1:-build/cli/xgrad}
ROUNDS=${2:-5}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
sps() { sed -n 's/.*"samples_per_s": \([0-9.]*\).*/\1/p' | tail -1; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
echo "load before: $(uptime)"
printf "%-14s %10s %10s %10s %10s %8s %8s %9s %8s\n" config 1p1t 1p2t 2r1t 2ind 2r/1p1t 2r/1p2t 2ind/1p1t 2r/2ind
for cfg in "rnn 50" "lstm 256" "lstm 1024"; do
  set -- $cfg
  a=() b=() c=() d=()
  for ((i = 0; i < ROUNDS; ++i)); do
    a+=("$(OPENBLAS_NUM_THREADS=1 "$X" bench --json --cell "$1" --hidden "$2" --threads 1 | sps)")
    b+=("$(OPENBLAS_NUM_THREADS=2 "$X" bench --json --cell "$1" --hidden "$2" --threads 2 | sps)")
    c+=("$(OPENBLAS_NUM_THREADS=1 mpirun -np 2 --oversubscribe --bind-to core "$X" bench --json --cell "$1" --hidden "$2" --threads 1 | sps)")
    p0=$(mktemp) p1=$(mktemp)
    OPENBLAS_NUM_THREADS=1 taskset -c 0 "$X" bench --json --cell "$1" --hidden "$2" --threads 1 | sps > "$p0" &
    OPENBLAS_NUM_THREADS=1 taskset -c 1 "$X" bench --json --cell "$1" --hidden "$2" --threads 1 | sps > "$p1"
    wait
    d+=("$(awk "BEGIN{printf \"%.1f\", $(cat "$p0") + $(cat "$p1")}")")
    rm -f "$p0" "$p1"
    echo "  run $i $cfg: 1p1t ${a[-1]} 1p2t ${b[-1]} 2r1t ${c[-1]} 2ind ${d[-1]}" >&2
  done
  ma=$(echo "${a[*]}" | median) mb=$(echo "${b[*]}" | median) mc=$(echo "${c[*]}" | median) md=$(echo "${d[*]}" | median)
  printf "%-14s %10s %10s %10s %10s %8.2f %8.2f %9.2f %8.2f\n" "$1 $2" "$ma" "$mb" "$mc" "$md" "$(awk "BEGIN{print $mc/$ma}")" \
    "$(awk "BEGIN{print $mc/$mb}")" "$(awk "BEGIN{print $md/$ma}")" "$(awk "BEGIN{print $mc/$md}")"
done
echo "load after: $(uptime)"

#!/usr/bin/env bash
# Paired A/B of two xgrad builds: PAIRS alternating pairs per configuration (order swapped every pair).
#   ab.sh OLD_XGRAD NEW_XGRAD [PAIRS]
set -euo pipefail
old=$1; new=$2; pairs=${3:-5}
export OPENBLAS_NUM_THREADS=1
run() { "$1" bench --json --cell "$2" --hidden "$3" --iters "$4" | sed -n 's/.*"ms_per_step": \([0-9.]*\).*/\1/p'; }
printf "%-10s %s\n" config "old/new ms per step, pair by pair"
for cfg in rnn,50,200 lstm,256,20 lstm,1024,5 gru,1024,5; do
  IFS=, read -r cell h it <<<"$cfg"
  line=""; o=(); n=()
  for ((p = 0; p < pairs; p++)); do
    if (( p % 2 == 0 )); then a=$(run "$old" $cell $h $it); b=$(run "$new" $cell $h $it)
    else b=$(run "$new" $cell $h $it); a=$(run "$old" $cell $h $it); fi
    o+=("$a"); n+=("$b"); line+=" $a/$b"
  done
  med() { printf "%s\n" "$@" | sort -g | awk '{x[NR]=$1} END {print x[int((NR+1)/2)]}'; }
  rng() { printf "%s\n" "$@" | sort -g | awk 'NR==1{lo=$1} {hi=$1} END {printf "%s–%s", lo, hi}'; }
  printf "%-10s old %s (median %s)  new %s (median %s)  pairs:%s\n" "$cell $h" "$(rng "${o[@]}")" "$(med "${o[@]}")" "$(rng "${n[@]}")" "$(med "${n[@]}")" "$line"
done

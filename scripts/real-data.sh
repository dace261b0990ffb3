#!/usr/bin/env bash
# Two real data sets shipped by Debian packages, trained with `xgrad train --data` beside their baselines
# (docs/real-data.md). Nothing is downloaded but the two .deb files, through apt; they are unpacked with
# dpkg-deb -x into a cache folder (never installed).
#   scripts/real-data.sh [BUILD_DIR]        (default: build; needs BUILD_DIR/cli/xgrad)
#   SEEDS="1 2 3 4 5" OUT=docs/img/real-data scripts/real-data.sh
# Prints one summary table (mean and range over the seeds) and writes under OUT each run's metrics log,
# summary.csv / summary.txt, and SVG pictures when gnuplot is installed; the converted data, the models
# and the runs' full output go to BUILD_DIR/real-data-cache/work.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
xgrad=$build/cli/xgrad
[[ -x $xgrad ]] || { echo "real-data.sh: $xgrad not found: build it first (cmake --build $build --target xgrad_cli)" >&2; exit 1; }
seeds=${SEEDS:-"1 2 3 4 5"}
out=${OUT:-$root/docs/img/real-data}
cache=$build/real-data-cache
work=$cache/work
mkdir -p "$cache/debs" "$out" "$work"
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

# ---- the files, out of the packages -------------------------------------------------------------------
(
    cd "$cache/debs"
    for p in python3-statsmodels python3-sklearn; do
        ls "${p}"_*.deb >/dev/null 2>&1 || apt-get download "$p"
    done
)
for deb in "$cache"/debs/*.deb; do
    stamp=$cache/$(basename "$deb").unpacked
    [[ -e $stamp ]] || { dpkg-deb -x "$deb" "$cache/root" && touch "$stamp"; }
done
pkgs=$cache/root/usr/lib/python3/dist-packages
sun_src=$pkgs/statsmodels/datasets/sunspots/sunspots.csv
dig_src=$pkgs/sklearn/datasets/data/digits.csv.gz
for f in "$sun_src" "$dig_src"; do [[ -f $f ]] || { echo "real-data.sh: $f is not in the package" >&2; exit 1; }; done

# ---- conversion into xgrad data files -------------------------------------------------------------------
# sunspots: "YEAR","SUNACTIVITY" 1700..2008 -> one series column in hundreds of sunspots (the network's
# inputs and targets stay near [0, 2]); RMSE is reported back in sunspot units (x 100).
{
    echo "sunactivity_hundreds"
    tail -n +2 "$sun_src" | cut -d, -f2 | awk '{ printf "%.6g\n", $1 / 100 }'
} >"$work/sunspots.csv"
# digits: 1797 lines of 64 pixels (0..16, row by row) and the label -> pixels / 16, then the label: with
# --features 8, each image is an 8-step sequence of its 8 rows.
zcat "$dig_src" | awk -F, '{ for (i = 1; i <= 64; ++i) printf "%.6g,", $i / 16; print $65 }' >"$work/digits.csv"
echo "sunspots: $(($(wc -l <"$work/sunspots.csv") - 1)) years; digits: $(wc -l <"$work/digits.csv") images"

# ---- runs -------------------------------------------------------------------------------------------------
sun_args=(--data "$work/sunspots.csv" --window 10 --test-split 0.2 --cell lstm --hidden 32 --epochs 150 --batch 16 --lr 3e-3)
dig_args=(--data "$work/digits.csv" --features 8 --task classify --test-split 0.2 --val-split 0.1 --patience 5
          --cell lstm --hidden 64 --epochs 40 --batch 32 --lr 3e-3)
value() { grep "^$1" "$2" | tail -1 | awk -F': ' '{ print $NF }'; }
echo "set,seed,model_metric,persistence_or_majority,linear,seconds" >"$out/summary.csv"
for s in $seeds; do
    t0=$(date +%s.%N)
    "$xgrad" train "${sun_args[@]}" --seed "$s" --baselines --save "$work/sunspots_$s.npz" --log "$out/sunspots_$s.log.csv" \
        >"$work/sunspots_$s.txt"
    t1=$(date +%s.%N)
    rmse() { awk -v m="$1" 'BEGIN { printf "%.2f", 100 * sqrt(m) }'; }
    echo "sunspots,$s,$(rmse "$(value 'Test Loss' "$work/sunspots_$s.txt")"),$(rmse "$(value 'Baseline persistence' "$work/sunspots_$s.txt")"),$(rmse "$(value 'Baseline least squares' "$work/sunspots_$s.txt")"),$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" >>"$out/summary.csv"
    t0=$(date +%s.%N)
    "$xgrad" train "${dig_args[@]}" --seed "$s" --baselines --log "$out/digits_$s.log.csv" >"$work/digits_$s.txt"
    t1=$(date +%s.%N)
    echo "digits,$s,$(value 'Test Accuracy' "$work/digits_$s.txt"),$(value 'Baseline majority' "$work/digits_$s.txt"),$(value 'Baseline logistic' "$work/digits_$s.txt"),$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" >>"$out/summary.csv"
done

# ---- the table: mean [min, max] over seeds ---------------------------------------------------------------
awk -F, 'NR > 1 {
    k = $1; n[k]++
    for (c = 3; c <= 6; ++c) { v = $c + 0; s[k, c] += v; if (n[k] == 1 || v < lo[k, c]) lo[k, c] = v; if (n[k] == 1 || v > hi[k, c]) hi[k, c] = v }
}
END {
    split("model,trivial,linear,seconds", name, ",")
    for (k in n) {
        printf "%s (%d seeds; %s):\n", k, n[k], k == "sunspots" ? "test RMSE in sunspots, lower is better; trivial = persistence, linear = least-squares AR(10)" : "test accuracy, higher is better; trivial = majority class, linear = logistic regression"
        for (c = 3; c <= 6; ++c) printf "  %-8s %8.4g  [%g, %g]\n", name[c - 2], s[k, c] / n[k], lo[k, c], hi[k, c]
    }
}' "$out/summary.csv" | tee "$out/summary.txt"

# ---- pictures ---------------------------------------------------------------------------------------------
if command -v gnuplot >/dev/null; then
    first=${seeds%% *}
    # forecast against the truth on the test years (the last 20 % of the windows: years 2008-59 .. 2008)
    "$xgrad" predict --load "$work/sunspots_$first.npz" --data "$work/sunspots.csv" --out "$work/sunspots_pred.csv" >/dev/null
    n=$(($(wc -l <"$work/sunspots_pred.csv") - 2))  # windows with a target (the last line forecasts 2009)
    test_n=$((n - n * 8 / 10))
    tail -n +2 "$work/sunspots.csv" | awk -v n="$n" -v t="$test_n" 'NR > 10 && NR - 10 > n - t { print 1699 + NR, 100 * $1 }' >"$work/truth.dat"
    tail -n +2 "$work/sunspots_pred.csv" | awk -v n="$n" -v t="$test_n" 'NR <= n && NR > n - t { print 1709 + NR, 100 * $1 }' >"$work/forecast.dat"
    gnuplot <<EOF
set terminal svg size 800,360 font "sans,12"
set output "$out/sunspots_forecast.svg"
set title "Sunspots, test years: one-year-ahead LSTM forecast (seed $first)"
set xlabel "year"; set ylabel "yearly sunspot number"; set key top left
plot "$work/truth.dat" with linespoints pt 7 ps 0.4 title "truth", "$work/forecast.dat" with linespoints pt 5 ps 0.4 title "forecast"
set output "$out/digits_accuracy.svg"
set title "Digits: validation accuracy per epoch (LSTM over 8 rows of 8 pixels)"
set xlabel "epoch"; set ylabel "val_accuracy"; set key bottom right; set datafile separator ","
plot for [s in "$seeds"] "$out/digits_".s.".log.csv" using 1:4 every ::1 with linespoints pt 7 ps 0.4 title "seed ".s
EOF
    echo "pictures: $out/sunspots_forecast.svg $out/digits_accuracy.svg"
fi

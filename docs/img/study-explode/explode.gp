# Written by `xgrad study --explode`; run in this folder: gnuplot explode.gp
set encoding utf8
set logscale y
set format y '10^{%L}'
set grid
set key outside right top
set datafile missing 'nan'
set style line 1 lc rgb '#d62728' lw 2
set style line 2 lc rgb '#1f77b4' lw 2
set style line 3 lc rgb '#2ca02c' lw 2
set style line 4 lc rgb '#ff7f0e' lw 2
set style line 5 lc rgb '#9467bd' lw 2
set style line 6 lc rgb '#8c564b' lw 2
set style line 7 lc rgb '#e377c2' lw 2
set style line 8 lc rgb '#7f7f7f' lw 2
ext = 'svg'
set terminal svg size 760,420 dynamic font 'Helvetica,12' background rgb 'white'
set output 'gradnorm_steps_T50.' . ext
set title 'Global gradient norm before clipping per step, T = 50, seed 0 (solid: no clipping)'
set xlabel 'training step'
set ylabel '‖g‖ (log)'
plot 'explode_steps_T50.dat' using 1:2 with lines ls 1 dt 1 title 'rnn/relu none', \
     'explode_steps_T50.dat' using 1:4 with lines ls 1 dt 2 title 'rnn/relu norm', \
     'explode_steps_T50.dat' using 1:6 with lines ls 1 dt 3 title 'rnn/relu value', \
     'explode_steps_T50.dat' using 1:8 with lines ls 2 dt 1 title 'rnn/tanh none', \
     'explode_steps_T50.dat' using 1:10 with lines ls 2 dt 2 title 'rnn/tanh norm', \
     'explode_steps_T50.dat' using 1:12 with lines ls 2 dt 3 title 'rnn/tanh value'
set output 'loss_steps_T50.' . ext
set title 'Batch loss (MSE) per step, T = 50, seed 0'
set xlabel 'training step'
set ylabel 'loss (log)'
plot 'explode_steps_T50.dat' using 1:3 with lines ls 1 dt 1 title 'rnn/relu none', \
     'explode_steps_T50.dat' using 1:5 with lines ls 1 dt 2 title 'rnn/relu norm', \
     'explode_steps_T50.dat' using 1:7 with lines ls 1 dt 3 title 'rnn/relu value', \
     'explode_steps_T50.dat' using 1:9 with lines ls 2 dt 1 title 'rnn/tanh none', \
     'explode_steps_T50.dat' using 1:11 with lines ls 2 dt 2 title 'rnn/tanh norm', \
     'explode_steps_T50.dat' using 1:13 with lines ls 2 dt 3 title 'rnn/tanh value'
set output 'hgrad_init_T50.' . ext
set title '‖∂L/∂h_t‖ at initialisation, ρ(W_{hh}) = 1.5, T = 50 (one line per seed)'
set xlabel 't (time step)'
set ylabel '‖∂L/∂h_t‖ (log)'
plot 'explode_hgrad_T50.dat' using 1:2 with lines ls 1 dt 1 title 'rnn/relu seed 0', \
     'explode_hgrad_T50.dat' using 1:3 with lines ls 1 dt 2 title 'rnn/relu seed 1', \
     'explode_hgrad_T50.dat' using 1:4 with lines ls 1 dt 3 title 'rnn/relu seed 2', \
     'explode_hgrad_T50.dat' using 1:5 with lines ls 2 dt 1 title 'rnn/tanh seed 0', \
     'explode_hgrad_T50.dat' using 1:6 with lines ls 2 dt 2 title 'rnn/tanh seed 1', \
     'explode_hgrad_T50.dat' using 1:7 with lines ls 2 dt 3 title 'rnn/tanh seed 2'
set output 'gradnorm_steps_T100.' . ext
set title 'Global gradient norm before clipping per step, T = 100, seed 0 (solid: no clipping)'
set xlabel 'training step'
set ylabel '‖g‖ (log)'
plot 'explode_steps_T100.dat' using 1:2 with lines ls 1 dt 1 title 'rnn/relu none', \
     'explode_steps_T100.dat' using 1:4 with lines ls 1 dt 2 title 'rnn/relu norm', \
     'explode_steps_T100.dat' using 1:6 with lines ls 1 dt 3 title 'rnn/relu value', \
     'explode_steps_T100.dat' using 1:8 with lines ls 2 dt 1 title 'rnn/tanh none', \
     'explode_steps_T100.dat' using 1:10 with lines ls 2 dt 2 title 'rnn/tanh norm', \
     'explode_steps_T100.dat' using 1:12 with lines ls 2 dt 3 title 'rnn/tanh value'
set output 'loss_steps_T100.' . ext
set title 'Batch loss (MSE) per step, T = 100, seed 0'
set xlabel 'training step'
set ylabel 'loss (log)'
plot 'explode_steps_T100.dat' using 1:3 with lines ls 1 dt 1 title 'rnn/relu none', \
     'explode_steps_T100.dat' using 1:5 with lines ls 1 dt 2 title 'rnn/relu norm', \
     'explode_steps_T100.dat' using 1:7 with lines ls 1 dt 3 title 'rnn/relu value', \
     'explode_steps_T100.dat' using 1:9 with lines ls 2 dt 1 title 'rnn/tanh none', \
     'explode_steps_T100.dat' using 1:11 with lines ls 2 dt 2 title 'rnn/tanh norm', \
     'explode_steps_T100.dat' using 1:13 with lines ls 2 dt 3 title 'rnn/tanh value'
set output 'hgrad_init_T100.' . ext
set title '‖∂L/∂h_t‖ at initialisation, ρ(W_{hh}) = 1.5, T = 100 (one line per seed)'
set xlabel 't (time step)'
set ylabel '‖∂L/∂h_t‖ (log)'
plot 'explode_hgrad_T100.dat' using 1:2 with lines ls 1 dt 1 title 'rnn/relu seed 0', \
     'explode_hgrad_T100.dat' using 1:3 with lines ls 1 dt 2 title 'rnn/relu seed 1', \
     'explode_hgrad_T100.dat' using 1:4 with lines ls 1 dt 3 title 'rnn/relu seed 2', \
     'explode_hgrad_T100.dat' using 1:5 with lines ls 2 dt 1 title 'rnn/tanh seed 0', \
     'explode_hgrad_T100.dat' using 1:6 with lines ls 2 dt 2 title 'rnn/tanh seed 1', \
     'explode_hgrad_T100.dat' using 1:7 with lines ls 2 dt 3 title 'rnn/tanh seed 2'
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  ext = 'png'
  set terminal pngcairo size 760,420 font 'Helvetica,10'
  set output 'gradnorm_steps_T50.' . ext
  set title 'Global gradient norm before clipping per step, T = 50, seed 0 (solid: no clipping)'
  set xlabel 'training step'
  set ylabel '‖g‖ (log)'
  plot 'explode_steps_T50.dat' using 1:2 with lines ls 1 dt 1 title 'rnn/relu none', \
       'explode_steps_T50.dat' using 1:4 with lines ls 1 dt 2 title 'rnn/relu norm', \
       'explode_steps_T50.dat' using 1:6 with lines ls 1 dt 3 title 'rnn/relu value', \
       'explode_steps_T50.dat' using 1:8 with lines ls 2 dt 1 title 'rnn/tanh none', \
       'explode_steps_T50.dat' using 1:10 with lines ls 2 dt 2 title 'rnn/tanh norm', \
       'explode_steps_T50.dat' using 1:12 with lines ls 2 dt 3 title 'rnn/tanh value'
  set output 'loss_steps_T50.' . ext
  set title 'Batch loss (MSE) per step, T = 50, seed 0'
  set xlabel 'training step'
  set ylabel 'loss (log)'
  plot 'explode_steps_T50.dat' using 1:3 with lines ls 1 dt 1 title 'rnn/relu none', \
       'explode_steps_T50.dat' using 1:5 with lines ls 1 dt 2 title 'rnn/relu norm', \
       'explode_steps_T50.dat' using 1:7 with lines ls 1 dt 3 title 'rnn/relu value', \
       'explode_steps_T50.dat' using 1:9 with lines ls 2 dt 1 title 'rnn/tanh none', \
       'explode_steps_T50.dat' using 1:11 with lines ls 2 dt 2 title 'rnn/tanh norm', \
       'explode_steps_T50.dat' using 1:13 with lines ls 2 dt 3 title 'rnn/tanh value'
  set output 'hgrad_init_T50.' . ext
  set title '‖∂L/∂h_t‖ at initialisation, ρ(W_{hh}) = 1.5, T = 50 (one line per seed)'
  set xlabel 't (time step)'
  set ylabel '‖∂L/∂h_t‖ (log)'
  plot 'explode_hgrad_T50.dat' using 1:2 with lines ls 1 dt 1 title 'rnn/relu seed 0', \
       'explode_hgrad_T50.dat' using 1:3 with lines ls 1 dt 2 title 'rnn/relu seed 1', \
       'explode_hgrad_T50.dat' using 1:4 with lines ls 1 dt 3 title 'rnn/relu seed 2', \
       'explode_hgrad_T50.dat' using 1:5 with lines ls 2 dt 1 title 'rnn/tanh seed 0', \
       'explode_hgrad_T50.dat' using 1:6 with lines ls 2 dt 2 title 'rnn/tanh seed 1', \
       'explode_hgrad_T50.dat' using 1:7 with lines ls 2 dt 3 title 'rnn/tanh seed 2'
  set output 'gradnorm_steps_T100.' . ext
  set title 'Global gradient norm before clipping per step, T = 100, seed 0 (solid: no clipping)'
  set xlabel 'training step'
  set ylabel '‖g‖ (log)'
  plot 'explode_steps_T100.dat' using 1:2 with lines ls 1 dt 1 title 'rnn/relu none', \
       'explode_steps_T100.dat' using 1:4 with lines ls 1 dt 2 title 'rnn/relu norm', \
       'explode_steps_T100.dat' using 1:6 with lines ls 1 dt 3 title 'rnn/relu value', \
       'explode_steps_T100.dat' using 1:8 with lines ls 2 dt 1 title 'rnn/tanh none', \
       'explode_steps_T100.dat' using 1:10 with lines ls 2 dt 2 title 'rnn/tanh norm', \
       'explode_steps_T100.dat' using 1:12 with lines ls 2 dt 3 title 'rnn/tanh value'
  set output 'loss_steps_T100.' . ext
  set title 'Batch loss (MSE) per step, T = 100, seed 0'
  set xlabel 'training step'
  set ylabel 'loss (log)'
  plot 'explode_steps_T100.dat' using 1:3 with lines ls 1 dt 1 title 'rnn/relu none', \
       'explode_steps_T100.dat' using 1:5 with lines ls 1 dt 2 title 'rnn/relu norm', \
       'explode_steps_T100.dat' using 1:7 with lines ls 1 dt 3 title 'rnn/relu value', \
       'explode_steps_T100.dat' using 1:9 with lines ls 2 dt 1 title 'rnn/tanh none', \
       'explode_steps_T100.dat' using 1:11 with lines ls 2 dt 2 title 'rnn/tanh norm', \
       'explode_steps_T100.dat' using 1:13 with lines ls 2 dt 3 title 'rnn/tanh value'
  set output 'hgrad_init_T100.' . ext
  set title '‖∂L/∂h_t‖ at initialisation, ρ(W_{hh}) = 1.5, T = 100 (one line per seed)'
  set xlabel 't (time step)'
  set ylabel '‖∂L/∂h_t‖ (log)'
  plot 'explode_hgrad_T100.dat' using 1:2 with lines ls 1 dt 1 title 'rnn/relu seed 0', \
       'explode_hgrad_T100.dat' using 1:3 with lines ls 1 dt 2 title 'rnn/relu seed 1', \
       'explode_hgrad_T100.dat' using 1:4 with lines ls 1 dt 3 title 'rnn/relu seed 2', \
       'explode_hgrad_T100.dat' using 1:5 with lines ls 2 dt 1 title 'rnn/tanh seed 0', \
       'explode_hgrad_T100.dat' using 1:6 with lines ls 2 dt 2 title 'rnn/tanh seed 1', \
       'explode_hgrad_T100.dat' using 1:7 with lines ls 2 dt 3 title 'rnn/tanh seed 2'
}
set output

# Written by `xgrad study`; run in this folder: gnuplot plots.gp
set encoding utf8
set logscale y
set format y '%.0e'
set grid
set key outside right top
set datafile missing 'nan'
set style line 1 lc rgb '#1f77b4' lw 2 pt 1
set style line 2 lc rgb '#ff7f0e' lw 2 pt 2
set style line 3 lc rgb '#2ca02c' lw 2 pt 3
set style line 4 lc rgb '#d62728' lw 2 pt 4
set style line 5 lc rgb '#9467bd' lw 2 pt 5
set style line 6 lc rgb '#8c564b' lw 2 pt 6
set style line 7 lc rgb '#e377c2' lw 2 pt 7
set style line 8 lc rgb '#7f7f7f' lw 2 pt 1
ext = 'svg'
set terminal svg size 760,420 dynamic font 'Helvetica,12' background rgb 'white'
set output 'loss_T10.' . ext
set title 'Test loss (MSE) per epoch, T = 10, mean over 5 seeds'
set xlabel 'epoch'
set ylabel 'test loss (log)'
plot 'plot_loss_T10.dat' using 1:2 with linespoints ls 1 title 'rnn/sigmoid', \
     'plot_loss_T10.dat' using 1:3 with linespoints ls 2 title 'rnn/tanh', \
     'plot_loss_T10.dat' using 1:4 with linespoints ls 3 title 'rnn/relu'
set output 'gradnorms_T10.' . ext
set title '‖∂L/∂h_t‖ on a fixed batch, T = 10 (dashed: at init, solid: trained)'
set xlabel 't (time step)'
set ylabel '‖∂L/∂h_t‖ (log)'
plot 'plot_grad_T10.dat' using 1:2 with lines ls 1 dt 2 title 'rnn/sigmoid init', \
     'plot_grad_T10.dat' using 1:3 with lines ls 1 title 'rnn/sigmoid trained', \
     'plot_grad_T10.dat' using 1:4 with lines ls 2 dt 2 title 'rnn/tanh init', \
     'plot_grad_T10.dat' using 1:5 with lines ls 2 title 'rnn/tanh trained', \
     'plot_grad_T10.dat' using 1:6 with lines ls 3 dt 2 title 'rnn/relu init', \
     'plot_grad_T10.dat' using 1:7 with lines ls 3 title 'rnn/relu trained'
set output 'loss_T50.' . ext
set title 'Test loss (MSE) per epoch, T = 50, mean over 5 seeds'
set xlabel 'epoch'
set ylabel 'test loss (log)'
plot 'plot_loss_T50.dat' using 1:2 with linespoints ls 1 title 'rnn/sigmoid', \
     'plot_loss_T50.dat' using 1:3 with linespoints ls 2 title 'rnn/tanh', \
     'plot_loss_T50.dat' using 1:4 with linespoints ls 3 title 'rnn/relu'
set output 'gradnorms_T50.' . ext
set title '‖∂L/∂h_t‖ on a fixed batch, T = 50 (dashed: at init, solid: trained)'
set xlabel 't (time step)'
set ylabel '‖∂L/∂h_t‖ (log)'
plot 'plot_grad_T50.dat' using 1:2 with lines ls 1 dt 2 title 'rnn/sigmoid init', \
     'plot_grad_T50.dat' using 1:3 with lines ls 1 title 'rnn/sigmoid trained', \
     'plot_grad_T50.dat' using 1:4 with lines ls 2 dt 2 title 'rnn/tanh init', \
     'plot_grad_T50.dat' using 1:5 with lines ls 2 title 'rnn/tanh trained', \
     'plot_grad_T50.dat' using 1:6 with lines ls 3 dt 2 title 'rnn/relu init', \
     'plot_grad_T50.dat' using 1:7 with lines ls 3 title 'rnn/relu trained'
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  ext = 'png'
  set terminal pngcairo size 760,420 font 'Helvetica,10'
  set output 'loss_T10.' . ext
  set title 'Test loss (MSE) per epoch, T = 10, mean over 5 seeds'
  set xlabel 'epoch'
  set ylabel 'test loss (log)'
  plot 'plot_loss_T10.dat' using 1:2 with linespoints ls 1 title 'rnn/sigmoid', \
       'plot_loss_T10.dat' using 1:3 with linespoints ls 2 title 'rnn/tanh', \
       'plot_loss_T10.dat' using 1:4 with linespoints ls 3 title 'rnn/relu'
  set output 'gradnorms_T10.' . ext
  set title '‖∂L/∂h_t‖ on a fixed batch, T = 10 (dashed: at init, solid: trained)'
  set xlabel 't (time step)'
  set ylabel '‖∂L/∂h_t‖ (log)'
  plot 'plot_grad_T10.dat' using 1:2 with lines ls 1 dt 2 title 'rnn/sigmoid init', \
       'plot_grad_T10.dat' using 1:3 with lines ls 1 title 'rnn/sigmoid trained', \
       'plot_grad_T10.dat' using 1:4 with lines ls 2 dt 2 title 'rnn/tanh init', \
       'plot_grad_T10.dat' using 1:5 with lines ls 2 title 'rnn/tanh trained', \
       'plot_grad_T10.dat' using 1:6 with lines ls 3 dt 2 title 'rnn/relu init', \
       'plot_grad_T10.dat' using 1:7 with lines ls 3 title 'rnn/relu trained'
  set output 'loss_T50.' . ext
  set title 'Test loss (MSE) per epoch, T = 50, mean over 5 seeds'
  set xlabel 'epoch'
  set ylabel 'test loss (log)'
  plot 'plot_loss_T50.dat' using 1:2 with linespoints ls 1 title 'rnn/sigmoid', \
       'plot_loss_T50.dat' using 1:3 with linespoints ls 2 title 'rnn/tanh', \
       'plot_loss_T50.dat' using 1:4 with linespoints ls 3 title 'rnn/relu'
  set output 'gradnorms_T50.' . ext
  set title '‖∂L/∂h_t‖ on a fixed batch, T = 50 (dashed: at init, solid: trained)'
  set xlabel 't (time step)'
  set ylabel '‖∂L/∂h_t‖ (log)'
  plot 'plot_grad_T50.dat' using 1:2 with lines ls 1 dt 2 title 'rnn/sigmoid init', \
       'plot_grad_T50.dat' using 1:3 with lines ls 1 title 'rnn/sigmoid trained', \
       'plot_grad_T50.dat' using 1:4 with lines ls 2 dt 2 title 'rnn/tanh init', \
       'plot_grad_T50.dat' using 1:5 with lines ls 2 title 'rnn/tanh trained', \
       'plot_grad_T50.dat' using 1:6 with lines ls 3 dt 2 title 'rnn/relu init', \
       'plot_grad_T50.dat' using 1:7 with lines ls 3 title 'rnn/relu trained'
}
set output

# `xgrad train`'s bias layouts (issue 15, item 4): Keras's single bias by default, --bias-layout pytorch for
# PyTorch's two, checkpoints of either layout loaded back (the layout read from their arrays), a clear
# error for an explicit --bias-layout that contradicts the checkpoint. Each runs tests/hostile_cli.sh in a
# fresh temporary folder (exit status checked; PASS_REGULAR_EXPRESSION checks the output).
if(TARGET xgrad_cli)
  function(xgrad_keras_bias name expect regex command)
    add_test(NAME cli_keras_bias_${name} COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/hostile_cli.sh ${expect} "${command}")
    set_tests_properties(cli_keras_bias_${name} PROPERTIES PASS_REGULAR_EXPRESSION "${regex}"
                         FAIL_REGULAR_EXPRESSION "HOSTILE-CLI-BAD-STATUS"
                         ENVIRONMENT "OPENBLAS_NUM_THREADS=1;XGRAD=$<TARGET_FILE:xgrad_cli>")
  endfunction()
  # Keras's single bias is PyTorch's pair with bias_hh frozen at zero: the same Test Loss to the last digit;
  # training both biases (the doubled step) gives another one.
  xgrad_keras_bias(default_is_frozen_pair pass "single bias = frozen pair"
                   "set -e
t='--samples 64 --test-samples 16 --steps 4 --hidden 6 --epochs 2 -q'
$XGRAD train $t > k.txt
$XGRAD train $t --bias-layout pytorch --freeze rnn.bias_hh_l0 > f.txt
$XGRAD train $t --bias-layout pytorch > p.txt
cat k.txt f.txt p.txt
cmp k.txt f.txt
if cmp -s k.txt p.txt; then echo 'HOSTILE-CLI-BAD-STATUS: both layouts gave the same Test Loss'; fi
echo single bias = frozen pair")
  # checkpoints of both layouts resume without the option; the names in them tell the layout
  xgrad_keras_bias(load_either_layout pass "resumed both layouts"
                   "set -e
t='--samples 32 --test-samples 8 --steps 3 --hidden 4 --epochs 1 -q'
$XGRAD train $t --cell lstm --save k.npz
$XGRAD train $t --cell lstm --bias-layout pytorch --save p.npz
$XGRAD train $t --cell lstm --load k.npz --save k2.npz
$XGRAD train $t --cell lstm --load p.npz --save p2.npz
$XGRAD train $t --cell lstm --load k.npz --bias-layout keras
grep -aq lstm.bias_l0.npy k2.npz || exit 3
grep -aq lstm.bias_ih_l0.npy p2.npz || exit 3
if grep -aq lstm.bias_ih_l0.npy k2.npz || grep -aq lstm.bias_l0.npy p2.npz; then exit 3; fi
echo resumed both layouts")
  xgrad_keras_bias(load_contradicting_option fail "holds Keras's single bias \\(rnn.bias_l0\\) but --bias-layout pytorch was given; pass --bias-layout keras"
                   "t='--samples 32 --test-samples 8 --steps 3 --hidden 4 --epochs 1 -q'
$XGRAD train $t --save k.npz && $XGRAD train $t --load k.npz --bias-layout pytorch")
  xgrad_keras_bias(load_contradicting_pair fail "holds PyTorch's two biases \\(rnn.bias_ih_l0, rnn.bias_hh_l0\\) but --bias-layout keras was given; pass --bias-layout pytorch"
                   "t='--samples 32 --test-samples 8 --steps 3 --hidden 4 --epochs 1 -q'
$XGRAD train $t --bias-layout pytorch --save p.npz && $XGRAD train $t --load p.npz --bias-layout keras")
  xgrad_keras_bias(bad_value fail "--bias-layout: torch not in"
                   "$XGRAD train --bias-layout torch")
  xgrad_keras_bias(not_with_data fail "--bias-layout keras is for the tutorial's task; --data models keep PyTorch's two biases"
                   "printf '1,2,3\\n4,5,6\\n' > d.csv && $XGRAD train --data d.csv --bias-layout keras")
  if(TARGET xgrad_onnx)  # `xgrad export` of the default (single-bias) checkpoint
    xgrad_keras_bias(export pass "export: sequence_regressor \\(rnn, hidden 4\\) -> "
                     "set -e
$XGRAD train --samples 32 --test-samples 8 --steps 3 --hidden 4 --epochs 1 -q --save k.npz
$XGRAD export --load k.npz --onnx k.onnx")
  endif()
endif()

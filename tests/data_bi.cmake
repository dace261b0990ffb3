# `xgrad train --data` with stacked, bidirectional layers and dropout between them (--layers, --bidirectional,
# --dropout), on the files of tests/data_cli.cmake (its fixture data_files): train and save, predict from the
# checkpoint alone, the same command twice gives the same Test Loss (seeded masks), resuming continues the
# masks' stream (a 2+2 epoch run's checkpoint equals the 4 epoch one byte for byte), bad values name the option.
if(TARGET xgrad_cli)
  set(DATA_DIR ${CMAKE_CURRENT_BINARY_DIR}/data_cli)
  set(_bi train --data ${DATA_DIR}/regress.npz --cell gru --hidden 6 --batch 8 --test-split 0.25 --bidirectional
          --layers 2 --dropout 0.2 --seed 3)
  add_test(NAME data_bi_train COMMAND xgrad_cli ${_bi} --epochs 2 --save ${DATA_DIR}/bi_model.npz)
  set_tests_properties(data_bi_train PROPERTIES FIXTURES_REQUIRED data_files FIXTURES_SETUP bi_model
    ENVIRONMENT "OPENBLAS_NUM_THREADS=1" PASS_REGULAR_EXPRESSION "Epoch 2/2\n.*Test Loss: [0-9.e-]+\n$")
  add_test(NAME data_bi_predict COMMAND xgrad_cli predict --load ${DATA_DIR}/bi_model.npz --data ${DATA_DIR}/regress.npz
           --out ${DATA_DIR}/bi_preds.csv)
  set_tests_properties(data_bi_predict PROPERTIES FIXTURES_REQUIRED bi_model ENVIRONMENT "OPENBLAS_NUM_THREADS=1"
    PASS_REGULAR_EXPRESSION "wrote 40 predictions .*Loss: [0-9.e-]+")
  string(REPLACE ";" " " _bi_sh "${_bi}")
  add_test(NAME data_bi_reproducible COMMAND sh -c
           "set -e; a=$($0 ${_bi_sh} --epochs 2 -q); b=$($0 ${_bi_sh} --epochs 2 -q); echo \"$a / $b\"; test \"$a\" = \"$b\"
$0 ${_bi_sh} --epochs 4 -q --save ${DATA_DIR}/bi_x.npz
$0 ${_bi_sh} --epochs 2 -q --save ${DATA_DIR}/bi_a.npz
$0 ${_bi_sh} --epochs 2 -q --load ${DATA_DIR}/bi_a.npz --save ${DATA_DIR}/bi_b.npz
cmp ${DATA_DIR}/bi_x.npz ${DATA_DIR}/bi_b.npz; echo same masks resumed" $<TARGET_FILE:xgrad_cli>)
  set_tests_properties(data_bi_reproducible PROPERTIES FIXTURES_REQUIRED data_files ENVIRONMENT "OPENBLAS_NUM_THREADS=1"
    PASS_REGULAR_EXPRESSION "Test Loss: ([0-9.e-]+) / Test Loss: [0-9.e-]+\n.*same masks resumed")
  if(TARGET xgrad_onnx)
    add_test(NAME data_bi_export COMMAND xgrad_cli export --load ${DATA_DIR}/bi_model.npz --onnx ${DATA_DIR}/bi_model.onnx)
    set_tests_properties(data_bi_export PROPERTIES FIXTURES_REQUIRED bi_model
      PASS_REGULAR_EXPRESSION "sequence_regressor \\(gru, hidden 6, 2 layers, bidirectional\\) -> .*x float32 \\[batch, time, 1\\] -> y float32 \\[batch, 1\\]")
  endif()
  function(data_bi_bad name expect)
    add_test(NAME data_bi_bad_${name} COMMAND ${CMAKE_COMMAND} "-DCMD=$<TARGET_FILE:xgrad_cli>;${ARGN}" "-DEXPECT=${expect}"
             -P ${CMAKE_CURRENT_SOURCE_DIR}/data_cli_expect.cmake)
    set_tests_properties(data_bi_bad_${name} PROPERTIES FIXTURES_REQUIRED data_files ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
  endfunction()
  data_bi_bad(dropout_one_layer "--dropout 0.2 acts between stacked layers, but --layers is 1" train --data ${DATA_DIR}/regress.npz --dropout 0.2)
  data_bi_bad(dropout_one "--dropout: 1 drops every unit" train --data ${DATA_DIR}/regress.npz --layers 2 --dropout 1)
  data_bi_bad(dropout_negative "--dropout: -0.1 is outside the range [0, 1]" train --data ${DATA_DIR}/regress.npz --layers 2 --dropout -0.1)
  data_bi_bad(dropout_nan "--dropout: 'nan' is not a finite number" train --data ${DATA_DIR}/regress.npz --layers 2 --dropout nan)
  data_bi_bad(layers_zero "--layers: 0 is outside the range 1..16" train --data ${DATA_DIR}/regress.npz --layers 0)
  data_bi_bad(layers_many "--layers: 17 is outside the range 1..16" train --data ${DATA_DIR}/regress.npz --layers 17)
endif()

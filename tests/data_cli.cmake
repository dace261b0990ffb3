# `xgrad train --data` and `xgrad predict` end to end on small files that tests/data_fixture.cpp writes at
# test time into the build tree, and one test per class of bad data (non-zero exit AND the message).
# cli/train.cpp (compiled into xgrad_cli_tests) registers the --data options of cli/train_data.cpp.
target_sources(xgrad_cli_tests PRIVATE ${PROJECT_SOURCE_DIR}/cli/train_data.cpp)
if(TARGET xgrad_cli)
  add_executable(data_fixture ${CMAKE_CURRENT_SOURCE_DIR}/data_fixture.cpp)
  target_link_libraries(data_fixture PRIVATE xgrad xgrad_build_flags)
  set(DATA_DIR ${CMAKE_CURRENT_BINARY_DIR}/data_cli)
  add_test(NAME data_cli_files COMMAND ${CMAKE_COMMAND} -E make_directory ${DATA_DIR})
  add_test(NAME data_cli_write COMMAND data_fixture ${DATA_DIR})
  set_tests_properties(data_cli_files PROPERTIES FIXTURES_SETUP data_dir)
  set_tests_properties(data_cli_write PROPERTIES FIXTURES_SETUP data_files FIXTURES_REQUIRED data_dir)
  set(env "OPENBLAS_NUM_THREADS=1")

  add_test(NAME data_cli_classify COMMAND xgrad_cli train --data ${DATA_DIR}/classify.csv --features 2 --task classify
           --cell lstm --hidden 8 --epochs 3 --test-split 0.2 --val-split 0.25 --patience 2 --seed 1
           --save ${DATA_DIR}/classify_model.npz --log ${DATA_DIR}/classify_log.csv)
  set_tests_properties(data_cli_classify PROPERTIES FIXTURES_REQUIRED data_files FIXTURES_SETUP classify_model ENVIRONMENT ${env}
    PASS_REGULAR_EXPRESSION "Epoch 3/3\n3/3 \\[=+\\] - [^\n]* - loss: [0-9.]+ - val_loss: [0-9.]+ - val_accuracy: [0-9.]+\n.*Test Loss: [0-9.]+\nTest Accuracy: [0-9.]+\n$")
  add_test(NAME data_cli_predict_classify COMMAND xgrad_cli predict --load ${DATA_DIR}/classify_model.npz
           --data ${DATA_DIR}/classify.csv --out ${DATA_DIR}/classify_preds.csv)
  set_tests_properties(data_cli_predict_classify PROPERTIES FIXTURES_REQUIRED classify_model ENVIRONMENT ${env}
    PASS_REGULAR_EXPRESSION "wrote 120 predictions .*Accuracy: [0-9.]+")
  add_test(NAME data_cli_series COMMAND xgrad_cli train --data ${DATA_DIR}/series.csv --window 6 --hidden 8 --epochs 2
           --test-split 0.2 --save ${DATA_DIR}/series_model.npz)
  set_tests_properties(data_cli_series PROPERTIES FIXTURES_REQUIRED data_files FIXTURES_SETUP series_model ENVIRONMENT ${env}
    PASS_REGULAR_EXPRESSION "Test Loss: [0-9.e-]+\n$")
  # 80 steps, windows of 6: 75 windows, the last one forecasting past the end
  add_test(NAME data_cli_predict_series COMMAND xgrad_cli predict --load ${DATA_DIR}/series_model.npz --data ${DATA_DIR}/series.csv
           --out ${DATA_DIR}/series_preds.csv)
  set_tests_properties(data_cli_predict_series PROPERTIES FIXTURES_REQUIRED series_model ENVIRONMENT ${env}
    PASS_REGULAR_EXPRESSION "wrote 75 predictions")
  add_test(NAME data_cli_npz COMMAND xgrad_cli train --data ${DATA_DIR}/regress.npz --cell gru --hidden 8 --epochs 2 --quiet
           --test-data ${DATA_DIR}/regress.npz)
  set_tests_properties(data_cli_npz PROPERTIES FIXTURES_REQUIRED data_files ENVIRONMENT ${env} PASS_REGULAR_EXPRESSION "^Test Loss: [0-9.e-]+\n$")

  # bad data: exit code and message
  function(data_cli_bad name expect)
    add_test(NAME data_cli_bad_${name} COMMAND ${CMAKE_COMMAND} "-DCMD=$<TARGET_FILE:xgrad_cli>;${ARGN}" "-DEXPECT=${expect}"
             -P ${CMAKE_CURRENT_SOURCE_DIR}/data_cli_expect.cmake)
    set_tests_properties(data_cli_bad_${name} PROPERTIES FIXTURES_REQUIRED "data_files;classify_model" ENVIRONMENT ${env})
  endfunction()
  data_cli_bad(ragged "ragged.csv', line 3: 3 cells, but line 1 has 4" train --data ${DATA_DIR}/ragged.csv)
  data_cli_bad(nonnumeric "nonnumeric.csv', line 2, cell 2: 'five' is not a number" train --data ${DATA_DIR}/nonnumeric.csv)
  data_cli_bad(nan_csv "nan.csv', line 2, cell 3: 'nan' is not finite" train --data ${DATA_DIR}/nan.csv)
  data_cli_bad(nan_npz "array 'X' holds nan at [3, 2, 0]" train --data ${DATA_DIR}/nan.npz)
  data_cli_bad(rank "array 'X' must be [N, T, F] (or [N, T]), non-empty, got [40]" train --data ${DATA_DIR}/rank.npz)
  data_cli_bad(label_fraction "line 2, cell 4: label 0.5 is not a class index" train --data ${DATA_DIR}/fraction_label.csv --task classify)
  data_cli_bad(label_negative "array 'y' at [9] holds -2, not a class index" train --data ${DATA_DIR}/label_negative.npz --task classify)
  data_cli_bad(label_range "label 3 of sample 1 is out of range: the model has 2 classes"
               train --data ${DATA_DIR}/classify.csv --features 2 --task classify --epochs 1 --test-data ${DATA_DIR}/label3.csv)
  data_cli_bad(predict_label_range "label 3 of sample 1 is out of range: the model has 2 classes"
               predict --load ${DATA_DIR}/classify_model.npz --data ${DATA_DIR}/label3.csv)
  data_cli_bad(length_zero "array 'lengths' at [6] holds 0; a length is a whole number of steps from 1 to T = 5"
               train --data ${DATA_DIR}/length_zero.npz)
  data_cli_bad(length_long "array 'lengths' at [6] holds 9; a length is a whole number of steps from 1 to T = 5"
               train --data ${DATA_DIR}/length_long.npz)
  data_cli_bad(predict_layout "but the model reads 8 inputs per line" predict --load ${DATA_DIR}/classify_model.npz --data ${DATA_DIR}/series.csv)
endif()

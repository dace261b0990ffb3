# `xgrad train --data` / `xgrad predict` on .npz files with a `lengths` array (variable-length batches):
# training and prediction read each sample at its own length, so a file whose padded steps hold 1e6
# gives byte-identical predictions to the same file padded with 0. tests/varlen_fixture.cpp writes the
# files at test time into the build tree.
if(TARGET xgrad_cli)
  add_executable(varlen_fixture ${CMAKE_CURRENT_SOURCE_DIR}/varlen_fixture.cpp)
  target_link_libraries(varlen_fixture PRIVATE xgrad xgrad_build_flags)
  set(VARLEN_DIR ${CMAKE_CURRENT_BINARY_DIR}/varlen_cli)
  set(env "OPENBLAS_NUM_THREADS=1")
  add_test(NAME varlen_cli_files COMMAND ${CMAKE_COMMAND} -E make_directory ${VARLEN_DIR})
  add_test(NAME varlen_cli_write COMMAND varlen_fixture ${VARLEN_DIR})
  set_tests_properties(varlen_cli_files PROPERTIES FIXTURES_SETUP varlen_dir)
  set_tests_properties(varlen_cli_write PROPERTIES FIXTURES_SETUP varlen_files FIXTURES_REQUIRED varlen_dir)
  add_test(NAME varlen_cli_train COMMAND xgrad_cli train --data ${VARLEN_DIR}/varlen.npz --cell gru --hidden 8
           --epochs 2 --test-split 0.25 --seed 1 --save ${VARLEN_DIR}/model.npz)
  set_tests_properties(varlen_cli_train PROPERTIES FIXTURES_REQUIRED varlen_files FIXTURES_SETUP varlen_model
    ENVIRONMENT ${env} PASS_REGULAR_EXPRESSION "Epoch 2/2\n.*Test Loss: [0-9.e-]+\n$")
  add_test(NAME varlen_cli_predict COMMAND xgrad_cli predict --load ${VARLEN_DIR}/model.npz
           --data ${VARLEN_DIR}/varlen.npz --out ${VARLEN_DIR}/preds.csv)
  add_test(NAME varlen_cli_predict_pad COMMAND xgrad_cli predict --load ${VARLEN_DIR}/model.npz
           --data ${VARLEN_DIR}/varlen_pad.npz --out ${VARLEN_DIR}/preds_pad.csv)
  set_tests_properties(varlen_cli_predict varlen_cli_predict_pad PROPERTIES FIXTURES_REQUIRED varlen_model
    FIXTURES_SETUP varlen_preds ENVIRONMENT ${env} PASS_REGULAR_EXPRESSION "wrote 40 predictions .*Loss: [0-9.e-]+")
  add_test(NAME varlen_cli_padding_ignored COMMAND ${CMAKE_COMMAND} -E compare_files ${VARLEN_DIR}/preds.csv
           ${VARLEN_DIR}/preds_pad.csv)
  set_tests_properties(varlen_cli_padding_ignored PROPERTIES FIXTURES_REQUIRED varlen_preds)
endif()

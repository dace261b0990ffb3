# `xgrad generate --load` on hostile checkpoints (issue 14): exit status and message. Fixtures:
# tests/data/make_hostile_fixtures.py.
if(TARGET xgrad_cli)
  add_test(NAME cli_generate_load_metadata_mismatch
           COMMAND xgrad_cli generate --load ${CMAKE_CURRENT_SOURCE_DIR}/data/charlm_hidden12000.npz)
  set_tests_properties(cli_generate_load_metadata_mismatch PROPERTIES WILL_FAIL TRUE)
  add_test(NAME cli_generate_load_metadata_mismatch_message
           COMMAND xgrad_cli generate --load ${CMAKE_CURRENT_SOURCE_DIR}/data/charlm_hidden12000.npz)
  set_tests_properties(cli_generate_load_metadata_mismatch_message PROPERTIES PASS_REGULAR_EXPRESSION
    "charlm_hidden12000.npz': its metadata \\(meta.cell, meta.hidden, meta.embed\\) does not fit the array 'lstm.weight_ih_l0': .*meta.hidden = 12000.*needs \\[48000, 2\\], the file holds \\[8, 2\\]")
  add_test(NAME cli_generate_load_nonfinite
           COMMAND xgrad_cli generate --load ${CMAKE_CURRENT_SOURCE_DIR}/data/charlm_nan.npz)
  set_tests_properties(cli_generate_load_nonfinite PROPERTIES WILL_FAIL TRUE)
  add_test(NAME cli_generate_load_nonfinite_message
           COMMAND xgrad_cli generate --load ${CMAKE_CURRENT_SOURCE_DIR}/data/charlm_nan.npz)
  set_tests_properties(cli_generate_load_nonfinite_message PROPERTIES PASS_REGULAR_EXPRESSION
    "charlm_nan.npz': array 'head.bias' \\[2\\] holds NaN at flat index 1.*--allow-nonfinite")
  add_test(NAME cli_generate_load_allow_nonfinite
           COMMAND xgrad_cli generate --load ${CMAKE_CURRENT_SOURCE_DIR}/data/charlm_nan.npz --allow-nonfinite --length 0)
endif()

# `xgrad study --explode` at tiny size (see docs/study.md): an unclipped relu run that diverges and the
# summary written; an option of --explode without it is refused.
if(TARGET xgrad_cli)
  add_test(NAME cli_study_explode_smoke COMMAND xgrad_cli study --explode --activations relu --lengths 40 --seeds 1
           --epochs 2 --samples 64 --out ${CMAKE_CURRENT_BINARY_DIR}/study_explode_smoke)
  set_tests_properties(cli_study_explode_smoke PROPERTIES
                       PASS_REGULAR_EXPRESSION "rnn/relu +40 +none .* at step [0-9].*study: wrote .*summary.csv"
                       ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
  add_test(NAME cli_study_explode_option_without_explode COMMAND xgrad_cli study --radius 2
           --out ${CMAKE_CURRENT_BINARY_DIR}/study_explode_bad)
  set_tests_properties(cli_study_explode_option_without_explode PROPERTIES WILL_FAIL TRUE)
endif()

# issue 18 (items 2, 3): `xgrad graph --textbook` in the backward view (each weight edge carries its step's term)
# and `xgrad study`'s terms.csv. Included at the end of tests/CMakeLists.txt.
if(TARGET xgrad_cli)
  add_test(NAME cli_graph_textbook_terms COMMAND xgrad_cli graph --textbook --activation sigmoid --steps 4 --view backward
           --collapse -o ${CMAKE_CURRENT_BINARY_DIR}/graph_textbook_terms.dot)
  set_tests_properties(cli_graph_textbook_terms PROPERTIES PASS_REGULAR_EXPRESSION "wrote .*graph_textbook_terms.dot"
                       ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
  add_test(NAME cli_study_terms COMMAND xgrad_cli study --activations sigmoid --lengths 6 --seeds 1 --epochs 1
           --samples 16 --hidden 4 -q --out ${CMAKE_CURRENT_BINARY_DIR}/study_terms)
  set_tests_properties(cli_study_terms PROPERTIES PASS_REGULAR_EXPRESSION "study: wrote .*terms.csv"
                       ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
endif()

# ONNX export (nn/onnx.hpp, docs/onnx.md): the exporter's own checks, then every exported model run in
# onnxruntime (the npm package onnxruntime-node, installed into XGRAD_ONNXRT_DIR by the fixture below:
# ONNXRUNTIME_NODE_INSTALL=skip keeps its postinstall from downloading anything but the npm packages).
if(TARGET xgrad_onnx)
  add_executable(xgrad_onnx_tests main.cpp onnx/test_export.cpp)
  target_link_libraries(xgrad_onnx_tests PRIVATE xgrad xgrad_onnx onnx_proto protobuf::libprotobuf doctest::doctest xgrad_build_flags)
  doctest_discover_tests(xgrad_onnx_tests PROPERTIES ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
  set(XGRAD_ONNX_CASES ${CMAKE_CURRENT_BINARY_DIR}/onnx_cases)
  add_test(NAME onnx_export_cases COMMAND xgrad_onnx_tests "-tc=onnx cases*")
  set_tests_properties(onnx_export_cases PROPERTIES FIXTURES_SETUP onnx_cases
                       ENVIRONMENT "OPENBLAS_NUM_THREADS=1;XGRAD_ONNX_OUT=${XGRAD_ONNX_CASES}")
  set(XGRAD_ONNXRT_DIR ${CMAKE_BINARY_DIR}/onnxrt CACHE PATH "Where the tests install onnxruntime-node (npm)")
  find_program(XGRAD_NODE node)
  find_program(XGRAD_NPM npm)
  if(XGRAD_NODE AND XGRAD_NPM)
    add_test(NAME onnx_runtime_install COMMAND sh -c
             "test -f '${XGRAD_ONNXRT_DIR}/node_modules/onnxruntime-node/package.json' || ONNXRUNTIME_NODE_INSTALL=skip '${XGRAD_NPM}' install --prefix '${XGRAD_ONNXRT_DIR}' --no-audit --no-fund onnxruntime-node")
    set_tests_properties(onnx_runtime_install PROPERTIES FIXTURES_SETUP onnxrt)
    add_test(NAME onnx_runtime_matches COMMAND ${XGRAD_NODE} ${CMAKE_CURRENT_SOURCE_DIR}/onnx/run.js ${XGRAD_ONNX_CASES})
    set_tests_properties(onnx_runtime_matches PROPERTIES FIXTURES_REQUIRED "onnx_cases;onnxrt"
                         ENVIRONMENT "NODE_PATH=${XGRAD_ONNXRT_DIR}/node_modules" PASS_REGULAR_EXPRESSION " cases as expected"
                         FAIL_REGULAR_EXPRESSION "FAIL")
  else()  # the runtime check is part of the suite: fail loudly rather than skip it
    add_test(NAME onnx_runtime_matches COMMAND sh -c "echo 'node and npm are needed to run the exported models: scripts/install-deps.sh'; exit 1")
  endif()
  if(TARGET xgrad_cli)  # `xgrad export` on checkpoints of `xgrad train` and `xgrad generate`
    add_test(NAME cli_export_train_save COMMAND xgrad_cli train --samples 32 --test-samples 8 --steps 4 --hidden 6
             --epochs 1 --cell gru --quiet --save ${CMAKE_CURRENT_BINARY_DIR}/export_train.npz)
    set_tests_properties(cli_export_train_save PROPERTIES FIXTURES_SETUP export_train ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
    add_test(NAME cli_export_train COMMAND xgrad_cli export --load ${CMAKE_CURRENT_BINARY_DIR}/export_train.npz
             --onnx ${CMAKE_CURRENT_BINARY_DIR}/export_train.onnx)
    set_tests_properties(cli_export_train PROPERTIES FIXTURES_REQUIRED export_train
                         PASS_REGULAR_EXPRESSION "export: sequence_regressor \\(gru, hidden 6\\) -> .*x float32 \\[batch, time, 1\\] -> y float32 \\[batch, 1\\]")
    add_test(NAME cli_export_charlm COMMAND xgrad_cli export --load ${CMAKE_CURRENT_BINARY_DIR}/generate_smoke.npz
             --onnx ${CMAKE_CURRENT_BINARY_DIR}/export_charlm.onnx)
    set_tests_properties(cli_export_charlm PROPERTIES FIXTURES_REQUIRED generate_model
                         PASS_REGULAR_EXPRESSION "export: char_model \\(lstm, hidden 32\\) -> .*ids int64 \\[batch, time\\] -> y float32 \\[batch, time, [0-9]+\\]")
    add_test(NAME cli_export_not_a_model COMMAND xgrad_cli export --load ${PROJECT_SOURCE_DIR}/docs/cli.md
             --onnx ${CMAKE_CURRENT_BINARY_DIR}/export_bad.onnx)
    set_tests_properties(cli_export_not_a_model PROPERTIES WILL_FAIL TRUE)
  endif()
endif()

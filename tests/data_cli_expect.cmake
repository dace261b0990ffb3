# cmake -DCMD="prog;arg;..." -DEXPECT="text" -P data_cli_expect.cmake: runs CMD, fails unless it exits
# non-zero AND its output (stdout and stderr) contains EXPECT (a plain string, not a pattern).
execute_process(COMMAND ${CMD} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(FIND "${out}${err}" "${EXPECT}" at)
if(rc EQUAL 0)
  message(FATAL_ERROR "expected a non-zero exit, got 0; output:\n${out}${err}")
endif()
if(at EQUAL -1)
  message(FATAL_ERROR "exit ${rc} but the output lacks \"${EXPECT}\":\n${out}${err}")
endif()
message(STATUS "exit ${rc}, message found: ${EXPECT}")

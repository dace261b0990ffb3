# Data-parallel training over MPI (issue 16): tests/mpi/test_mpi.cpp under `mpirun -np 2`.
# --oversubscribe: CI may have fewer cores than ranks. OMPI_ALLOW_RUN_AS_ROOT*: CI runs as root.
# Not in the sanitizer build: OpenMPI's own allocations at exit would be reported as leaks, and its
# transports were not checked under ASan here.
if(XGRAD_WITH_MPI AND MPIEXEC_EXECUTABLE AND NOT XGRAD_SANITIZE)
  add_executable(xgrad_mpi_tests mpi/test_mpi.cpp)
  target_link_libraries(xgrad_mpi_tests PRIVATE xgrad doctest::doctest xgrad_build_flags)
  set(XGRAD_MPIRUN ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 --oversubscribe)
  set(XGRAD_MPI_ENV "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OPENBLAS_NUM_THREADS=1;OMPI_MCA_rmaps_base_oversubscribe=1")
  add_test(NAME mpi_data_parallel COMMAND ${XGRAD_MPIRUN} $<TARGET_FILE:xgrad_mpi_tests>
           WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(mpi_data_parallel PROPERTIES ENVIRONMENT "${XGRAD_MPI_ENV}" TIMEOUT 60)
  # A rank killed (SIGKILL) or throwing mid-training ends the job non-zero within 30 s (124 = timeout's).
  foreach(fault kill throw)
    add_test(NAME mpi_fault_${fault} COMMAND sh -c
             "timeout 30 \"$0\" \"$@\" --${fault}; rc=$?; echo \"exit $rc\"; [ $rc -ne 0 ] && [ $rc -ne 124 ]"
             ${XGRAD_MPIRUN} $<TARGET_FILE:xgrad_mpi_tests>)
    set_tests_properties(mpi_fault_${fault} PROPERTIES ENVIRONMENT "${XGRAD_MPI_ENV}" TIMEOUT 40)
  endforeach()
  if(TARGET xgrad_cli)
    # `mpirun -np 2 xgrad train --batch 16` prints once, and the same as one process with --batch 32
    # (the shards of each step together are one process's batch; the average equals its mean loss).
    set(args train --epochs 2 --samples 64 --test-samples 16 --cell lstm --hidden 8 --dtype float64 -q)
    add_test(NAME mpi_cli_train COMMAND sh -c
             "m=$0; n=$1; shift; a=$(timeout 60 $m $n 2 --oversubscribe \"$@\" --batch 16) || exit 1; b=$(\"$@\" --batch 32); echo \"2 ranks: $a\"; echo \"1 process: $b\"; [ \"$a\" = \"$b\" ]"
             ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} $<TARGET_FILE:xgrad_cli> ${args})
    set_tests_properties(mpi_cli_train PROPERTIES ENVIRONMENT "${XGRAD_MPI_ENV}" TIMEOUT 90)
    # `mpirun -np 2 xgrad generate --train --batch 4` prints once and the same as one process with
    # --batch 8 (the ranks train its two groups of streams); the checkpoint rank 0 wrote loads and
    # evaluates as the one-process one does; under mpirun rank 0 samples what a plain run samples.
    set(gen generate --train ${CMAKE_CURRENT_SOURCE_DIR}/mpi/charlm_corpus.txt --hidden 16 --embed 8 --seq 16 --steps 20 -q)
    add_test(NAME mpi_cli_generate COMMAND sh -c
             "m=$0; n=$1; shift; a=$(timeout 60 $m $n 2 --oversubscribe \"$@\" --batch 4 --save mpi_gen2.npz) || exit 1
              b=$(\"$@\" --batch 8 --save mpi_gen1.npz) || exit 1; echo \"2 ranks: $a\"; echo \"1 process: $b\"
              [ \"$a\" = \"$b\" ] && [ $(echo \"$a\" | wc -l) = 1 ] || exit 1
              x=$1; e2=$($x generate --load mpi_gen2.npz --length 0 --eval $4) && e1=$($x generate --load mpi_gen1.npz --length 0 --eval $4) || exit 1
              echo \"$e2 / $e1\"; [ \"$e2\" = \"$e1\" ] || exit 1
              s2=$(timeout 60 $m $n 2 --oversubscribe $x generate --load mpi_gen2.npz --length 30 --seed 5) && s1=$($x generate --load mpi_gen2.npz --length 30 --seed 5) || exit 1
              echo \"$s2\"; [ $(echo \"$s2\" | grep -a -c '^--- rank') = 2 ] || exit 1
              case \"$s2\" in \"--- rank 0, seed 5 ---
$s1
--- rank 1, seed \"*) ;; *) exit 1;; esac"
             ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} $<TARGET_FILE:xgrad_cli> ${gen})
    set_tests_properties(mpi_cli_generate PROPERTIES ENVIRONMENT "${XGRAD_MPI_ENV}" TIMEOUT 120)
    # Ranks started with different options stop at start, and the error names the rank and the option.
    add_test(NAME mpi_cli_generate_mismatch COMMAND sh -c
             "out=$(timeout 60 $0 --oversubscribe -np 1 \"$@\" : -np 1 \"$@\" --lr 0.01 2>&1); rc=$?; echo \"$out\"; echo \"exit $rc\"
              [ $rc -ne 0 ] && [ $rc -ne 124 ] && echo \"$out\" | grep -q \"rank 1 has 'lr=0.01' where rank 0 has 'lr=0.003'\""
             ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:xgrad_cli> ${gen} --batch 4 --save mpi_gen_bad.npz)
    set_tests_properties(mpi_cli_generate_mismatch PROPERTIES ENVIRONMENT "${XGRAD_MPI_ENV}" TIMEOUT 90)
    add_test(NAME mpi_cli_bench_json COMMAND ${XGRAD_MPIRUN} $<TARGET_FILE:xgrad_cli> bench --json --iters 3)
    set_tests_properties(mpi_cli_bench_json PROPERTIES ENVIRONMENT "${XGRAD_MPI_ENV}" TIMEOUT 60
                         PASS_REGULAR_EXPRESSION "\"ranks\": 2, \"samples_per_s\": [0-9]")
  endif()
endif()

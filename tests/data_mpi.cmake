# `mpirun -np 2 xgrad train --data FILE` (issue 16): data-parallel like `xgrad train` (tests/mpi.cmake, whose
# mpirun flags these copy). Each test runs in a fresh temporary folder (tests/hostile_cli.sh) on a CSV it
# writes: 80 samples of 4 steps then a class; --test-split 0.2 and --val-split 0.25 leave 48 training
# samples, which 2 ranks shard into 24 each.
if(XGRAD_WITH_MPI AND MPIEXEC_EXECUTABLE AND NOT XGRAD_SANITIZE AND TARGET xgrad_cli)
  set(_mpirun "${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 --oversubscribe")
  set(_env "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OPENBLAS_NUM_THREADS=1;OMPI_MCA_rmaps_base_oversubscribe=1")
  set(_csv "awk 'BEGIN { for (i = 0; i < 80; i++) { s = 0; for (t = 0; t < 4; t++) { v = ((i * 37 + t * 11) % 17) / 17; s += v; printf \"%.6f,\", v } print (s > 2 ? 1 : 0) } }' > d.csv")
  set(_args "train --data d.csv --task classify --cell lstm --hidden 6 --dtype float64 --val-split 0.25 --test-split 0.2")
  # 2 ranks × --batch 8 print once, and what 1 process prints with --batch 16 (the two shards of each step
  # are its batch); early stopping (--patience) decides alike on every rank.
  add_test(NAME mpi_cli_train_data COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/hostile_cli.sh pass
           "set -e
${_csv}
a=$(timeout 60 ${_mpirun} $XGRAD ${_args} --epochs 4 --patience 2 --batch 8 -q)
b=$($XGRAD ${_args} --epochs 4 --patience 2 --batch 16 -q)
echo \"2 ranks: $a\"
echo \"1 process: $b\"
test \"$a\" = \"$b\"
echo same on 2 ranks as 1 process")
  set_tests_properties(mpi_cli_train_data PROPERTIES ENVIRONMENT "${_env};XGRAD=$<TARGET_FILE:xgrad_cli>" TIMEOUT 90
                       PASS_REGULAR_EXPRESSION "2 ranks: Test Loss: [0-9.e-]+\nTest Accuracy: [0-9.]+\n1 process: .*same on 2 ranks as 1 process"
                       FAIL_REGULAR_EXPRESSION "HOSTILE-CLI-BAD-STATUS")
  # Saved on rank 0 after 2 epochs, resumed on 2 ranks for 2 more: the checkpoint of 4 epochs on 2 ranks, byte
  # for byte, the same Test lines; the log written once; the checkpoint loads (xgrad predict).
  add_test(NAME mpi_cli_train_data_resume COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/hostile_cli.sh pass
           "set -e
${_csv}
timeout 60 ${_mpirun} $XGRAD ${_args} --batch 8 --epochs 4 --save x.npz --log x.csv > x.txt
timeout 60 ${_mpirun} $XGRAD ${_args} --batch 8 --epochs 2 --save a.npz -q > a.txt
timeout 60 ${_mpirun} $XGRAD ${_args} --batch 8 --epochs 2 --load a.npz --save b.npz -q > b.txt
cat x.txt b.txt
test $(grep -c '^Epoch 4/4' x.txt) = 1
test $(wc -l < x.csv) = 5
tail -2 x.txt | cmp - b.txt
cmp x.npz b.npz
$XGRAD predict --load b.npz --data d.csv --out p.csv
echo resumed on 2 ranks as one run")
  set_tests_properties(mpi_cli_train_data_resume PROPERTIES ENVIRONMENT "${_env};XGRAD=$<TARGET_FILE:xgrad_cli>" TIMEOUT 120
                       PASS_REGULAR_EXPRESSION "resumed on 2 ranks as one run" FAIL_REGULAR_EXPRESSION "HOSTILE-CLI-BAD-STATUS")
endif()

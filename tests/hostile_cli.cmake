# Hostile command lines (issue 14: items 6, 9, 12, 13, 15, 17): each runs tests/hostile_cli.sh, which
# runs the command in a fresh temporary folder and checks its exit status (an error: 1..127, never a
# signal, never 0), while PASS_REGULAR_EXPRESSION checks the message names the option/file and the fix.
if(TARGET xgrad_cli)
  set(_hostile ${CMAKE_CURRENT_SOURCE_DIR}/hostile_cli.sh)
  set(_tiny "--samples 32 --test-samples 16 --steps 3 --hidden 4 --epochs 1")
  add_executable(hostile_poke ${CMAKE_CURRENT_SOURCE_DIR}/hostile_poke.cpp)  # $POKE: an array element set to NaN/inf
  target_link_libraries(hostile_poke PRIVATE xgrad xgrad_build_flags)
  # $DATA FILE: 80 samples of 4 steps (one feature) then a class (sum > 2) as CSV, the same every time
  set(_data_awk "awk 'BEGIN { for (i = 0; i < 80; i++) { s = 0; for (t = 0; t < 4; t++) { v = ((i * 37 + t * 11) % 17) / 17; s += v; printf \"%.6f,\", v } print (s > 2 ? 1 : 0) } }'")
  # xgrad_hostile(NAME fail|pass REGEX COMMAND): COMMAND is sh text, $XGRAD is the program, the folder a fresh temporary one.
  function(xgrad_hostile name expect regex command)
    add_test(NAME cli_hostile_${name} COMMAND sh ${_hostile} ${expect} "${command}")
    set_tests_properties(cli_hostile_${name} PROPERTIES PASS_REGULAR_EXPRESSION "${regex}"
                         FAIL_REGULAR_EXPRESSION "HOSTILE-CLI-BAD-STATUS"
                         ENVIRONMENT "OPENBLAS_NUM_THREADS=1;XGRAD=$<TARGET_FILE:xgrad_cli>;POKE=$<TARGET_FILE:hostile_poke>")
  endfunction()

  # item 12: numbers out of range, NaN, inf, signs, 20 digits
  xgrad_hostile(epochs_20_digits fail "--epochs: '100000000000000000000' is not a whole number in 0..1000000"
                "$XGRAD train --epochs 100000000000000000000")
  xgrad_hostile(clip_nan fail "--clip: 'nan' is not a finite number in \\[0, 1e\\+12\\]" "$XGRAD train --clip nan")
  xgrad_hostile(lr_inf fail "--lr: 'inf' is not a finite number in \\(0, 1000\\]" "$XGRAD train --lr inf")
  xgrad_hostile(seed_negative fail "--seed: '-1' is not a whole number in 0..9223372036854775807" "$XGRAD train --seed -1")
  xgrad_hostile(hidden_huge fail "--hidden: 100000 is outside the range 1..4096" "$XGRAD train --hidden 100000")
  xgrad_hostile(samples_times_steps fail "exceeds the limit of 2\\^28"
                "$XGRAD train --samples 10000000 --steps 100000")
  xgrad_hostile(generate_hidden_huge fail "--hidden: 100000 is outside the range 1..4096"
                "$XGRAD generate --train --hidden 100000")
  xgrad_hostile(generate_temperature_nan fail "--temperature: 'nan' is not a finite number"
                "$XGRAD generate --load x.npz --temperature nan")
  xgrad_hostile(graph_seed_exponent fail "--seed: '1e30' is not a whole number" "$XGRAD graph --seed 1e30")

  # item 9: outputs that cannot be written
  xgrad_hostile(log_dev_full fail "train --log '/dev/full': is a character device, not a regular file.*nothing was written"
                "$XGRAD train ${_tiny} --log /dev/full
rc=$?
test -c /dev/full || echo 'HOSTILE-CLI-BAD-STATUS: /dev/full replaced'
exit $rc")
  xgrad_hostile(log_missing_folder fail "train --log 'no/such/folder/m.csv': cannot create the temporary file .*does the folder exist"
                "$XGRAD train ${_tiny} --log no/such/folder/m.csv")
  xgrad_hostile(log_write_fails fail "train --log 'm.csv': cannot write .*: File too large; the previous file \\(if any\\) is unchanged"
                "trap '' XFSZ
ulimit -f 0
$XGRAD train ${_tiny} --log m.csv")
  xgrad_hostile(save_write_fails fail "checkpoint 'm.npz'.*(File too large|cannot write)"
                "trap '' XFSZ
ulimit -f 0
$XGRAD train ${_tiny} --save m.npz")
  xgrad_hostile(save_missing_folder fail "checkpoint 'no/such/m.npz'" "$XGRAD train ${_tiny} --save no/such/m.npz")
  xgrad_hostile(study_csv_write_fails fail "study '.*summary.csv'.*File too large"
                "trap '' XFSZ
ulimit -f 0
$XGRAD study -q --activations tanh --lengths 2 --seeds 1 --epochs 1 --samples 16 --hidden 2 --out out")
  xgrad_hostile(graph_missing_folder fail "cannot open 'no/such/g.dot'" "$XGRAD graph -o no/such/g.dot")
  xgrad_hostile(stdout_full fail "writing to standard output failed" "$XGRAD ops > /dev/full")

  # Resuming equals one run: `--epochs 4` against `--epochs 2 --save a` then `--load a --epochs 2 --save b`:
  # the same checkpoint and output, bit for bit; 2 epochs alone must differ. `prelude` makes the data,
  # `after` runs on b.npz.
  function(xgrad_hostile_resume name prelude options after)
    xgrad_hostile(${name} pass "same weights and Test Loss"
                  "set -e
${prelude}
t='${options}'
$XGRAD train $t --epochs 4 --save x.npz > x.txt
$XGRAD train $t --epochs 2 --save a.npz > a.txt
$XGRAD train $t --load a.npz --epochs 2 --save b.npz > b.txt
cat x.txt b.txt
cmp x.npz b.npz
cmp x.txt b.txt
if cmp -s a.txt b.txt
then echo 'HOSTILE-CLI-BAD-STATUS: 2 epochs gave the Test Loss of 4'
fi
${after}
echo same weights and Test Loss")
  endfunction()

  # item 6: --load A --epochs 2 after --epochs 2 equals --epochs 4, bit for bit (weights, optimizer state, shuffles)
  xgrad_hostile_resume(resume_equals_one_run "" "--samples 64 --test-samples 16 --steps 4 --hidden 6 -q" "")

  # item 13: a diverging run stops with advice
  xgrad_hostile(train_diverges fail "training diverged.*--clip 1.*--lr.*--detect-anomaly"
                "$XGRAD train --samples 64 --test-samples 16 --steps 20 --hidden 16 --epochs 5 --activation relu --optimizer sgd --lr 1000 --save m.npz
rc=$?
test ! -e m.npz || echo 'HOSTILE-CLI-BAD-STATUS: saved'
exit $rc")

  # item 15: text input that is not a regular file, or too large
  xgrad_hostile(corpus_dev_zero fail "'/dev/zero' is a character device, not a regular file" "$XGRAD generate --train /dev/zero")
  xgrad_hostile(corpus_fifo fail "is a FIFO \\(named pipe\\), not a regular file" "mkfifo p
$XGRAD generate --train p")
  xgrad_hostile(corpus_too_large fail "big.txt. .1100000 bytes. exceeds the corpus limit of 1048576 bytes .1.0 MiB.. raise it .xgrad generate --max-corpus-mb N."
                "head -c 1100000 /dev/urandom > big.txt
$XGRAD generate --train big.txt --max-corpus-mb 1")
  # item 17: a FIFO given as a checkpoint is named as one
  xgrad_hostile(load_fifo fail "is a FIFO \\(named pipe\\), not a regular file" "mkfifo p
$XGRAD train --load p")

  # item 13: --allow-nonfinite loads NaN weights for inspection; testing or training them still exits 1
  set(_small "--samples 32 --test-samples 16 --steps 3 --hidden 4")
  xgrad_hostile(train_load_nonfinite fail "head.bias. .1. holds NaN at flat index 0.*--allow-nonfinite"
                "$XGRAD train ${_tiny} --save a.npz -q && $POKE a.npz n.npz head.bias nan && $XGRAD train ${_small} --load n.npz --epochs 0")
  xgrad_hostile(train_allow_nonfinite_test fail "note: --allow-nonfinite loaded 'head.bias'.*Test Loss: nan.*the test loss is nan: the weights are not finite and --save 'm.npz' was not written"
                "$XGRAD train ${_tiny} --save a.npz -q && $POKE a.npz n.npz head.bias nan || exit 0
$XGRAD train ${_small} --load n.npz --allow-nonfinite --epochs 0 --save m.npz
rc=$?
test ! -e m.npz || echo 'HOSTILE-CLI-BAD-STATUS: saved'
exit $rc")
  xgrad_hostile(train_allow_nonfinite_train fail "training loss is nan after epoch 2: the training diverged and --save 'm.npz' was not written"
                "$XGRAD train ${_tiny} --save a.npz -q && $POKE a.npz n.npz head.bias nan || exit 0
$XGRAD train ${_small} --load n.npz --allow-nonfinite --save m.npz
rc=$?
test ! -e m.npz || echo 'HOSTILE-CLI-BAD-STATUS: saved'
exit $rc")

  # train --data: --save holds the optimizer state and epochs done; --load resumes: 2 + 2 epochs = 4, bit for bit
  xgrad_hostile_resume(data_resume_equals_one_run "${_data_awk} > d.csv"
                       "--data d.csv --task classify --cell lstm --hidden 6 --val-split 0.25 --test-split 0.2 --batch 8 -q"
                       "$XGRAD predict --load b.npz --data d.csv --out p.csv")
  # train --data: a loss that turns non-finite stops with advice, saves nothing; --detect-anomaly names the op
  set(_data_diverge "--data d.csv --test-split 0.2 --cell rnn --activation relu --hidden 16 --optimizer sgd --lr 1000 --epochs 5 --save m.npz")
  xgrad_hostile(data_train_diverges fail "train --data: the training loss is [-a-z]+ after epoch [0-9]: the training diverged and --save 'm.npz' was not written. Try clipping the gradient norm .--clip 1., a lower learning rate .--lr 100; now 1e.03., or --detect-anomaly"
                "${_data_awk} > d.csv
$XGRAD train ${_data_diverge}
rc=$?
test ! -e m.npz || echo 'HOSTILE-CLI-BAD-STATUS: saved'
exit $rc")
  xgrad_hostile(data_train_diverges_anomaly fail "xgrad anomaly: the (forward|backward rule|gradient) of '"
                "${_data_awk} > d.csv
$XGRAD train ${_data_diverge} --detect-anomaly")
  xgrad_hostile(data_allow_nonfinite fail "Test Loss: nan.*train --data: the test loss is nan: the weights are not finite"
                "${_data_awk} > d.csv
$XGRAD train --data d.csv --test-split 0.2 --epochs 1 --hidden 4 --save a.npz -q && $POKE a.npz n.npz head.bias nan || exit 0
$XGRAD train --data d.csv --test-split 0.2 --epochs 0 --hidden 4 --load n.npz --allow-nonfinite")
endif()

#!/bin/sh
# hostile_cli.sh EXPECT 'COMMAND': runs COMMAND with sh in a fresh temporary folder (removed afterwards),
# with $XGRAD the program. EXPECT: "fail" (the command must exit with a status in 1..127: an error, not
# a signal or success) or "pass" (status 0). Prints the command's output, so that ctest's
# PASS_REGULAR_EXPRESSION checks the message; a wrong status prints HOSTILE-CLI-BAD-STATUS (the
# FAIL_REGULAR_EXPRESSION) and exits 1.
expect="$1"
cmd="$2"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/xgrad-hostile.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
export TMP="$tmp"
sh -c "$cmd" 2>&1
rc=$?
echo "exit status $rc"
if [ "$expect" = fail ]; then
  if [ "$rc" -ge 1 ] && [ "$rc" -le 127 ]; then exit 0; fi
else
  if [ "$rc" -eq 0 ]; then exit 0; fi
fi
echo "HOSTILE-CLI-BAD-STATUS: expected $expect, got exit status $rc"
exit 1

#!/bin/sh
# selftest.sh HARNESS INCLUDEDIR LIBDIR WORKDIR CC [CFLAGS]: the harness must
# catch a rotten example. selftest/bad.3 holds one that exits 1, one that
# never ends and one that does not build, plus a fragment that is fine;
# run_examples.sh must report exactly those three failures, and build and
# run three programs (the two that fail and the fragment).
set -u
harness=$1
shift
out=$(FM_MAN_EXAMPLE_TIMEOUT=3 sh "$harness" "$(dirname "$0")/selftest" "$@" 2>&1)
rc=$?
echo "$out" | sed 's/^/| /'
[ $rc -ne 0 ] || { echo "FAIL: the harness passed rotten examples"; exit 1; }
for name in bad.3.1 bad.3.2 bad.3.3; do
    echo "$out" | grep -q "^FAIL: example $name " || { echo "FAIL: $name was not reported"; exit 1; }
done
echo "$out" | grep -q "3 example(s) failed" || { echo "FAIL: other failures than the three expected"; exit 1; }
echo "$out" | grep -q "4 found; 3 programs built and run" || { echo "FAIL: the fragment was not run"; exit 1; }
echo "harness self-test ok"

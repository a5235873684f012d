#!/bin/sh
# Runs every test program given as an argument and sums cmocka's counts into
# one closing line, "N passed, N failed". Exits non-zero if anything failed
# or a program crashed.
passed=0; failed=0; crashed=""
for t in "$@"; do
    echo "== $t"
    out=$("$t" 2>&1); rc=$?
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
    if [ $rc -ne 0 ] && [ -z "$f" ]; then crashed="$crashed $t"; failed=$((failed + 1)); fi
done
[ -n "$crashed" ] && echo "crashed or exited non-zero:$crashed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

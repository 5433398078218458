#!/usr/bin/env bash
# tests/stages.sh — run the test suite in stages, one after the other, and
# sum them up: `make test` runs all four, `make test-asan` etc. one each.
#
#   plain     every test on the release build (build/)
#   asan      every test that runs this tree's build, ASan + UBSan (build-asan/)
#   tsan      the threaded tests, ThreadSanitizer (build-tsan/)
#   valgrind  the engine and proto unit tests under memcheck (build-valgrind/)
#
# Each stage is the Makefile's check-STAGE: build its tree, then tests/run.sh
# over it (which ends with its own "N passed, N failed").  A stage whose
# build fails, or that exits non-zero without a failed test, counts as one
# failed test.  The last lines are each stage's result and time, then one
# "N passed, N failed" over all stages; the exit status is non-zero if any
# test failed.  Not a test itself (no _test suffix).
set -u
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}

pass=0; fail=0; report=()
for st in "$@"; do
    echo "##### stage $st"
    log=$(mktemp)
    t0=$SECONDS
    $MAKE --no-print-directory "check-$st" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    secs=$((SECONDS - t0))
    p=0; f=0
    sum=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    [ -n "$sum" ] && read -r p _ f _ <<<"$sum"
    rm -f "$log"
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    pass=$((pass + p)); fail=$((fail + f))
    report+=("$(printf 'stage %-8s %5d passed, %3d failed  %4d:%02d' "$st" "$p" "$f" $((secs / 60)) $((secs % 60)))")
done

echo
printf '%s\n' "${report[@]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

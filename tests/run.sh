#!/usr/bin/env bash
# tests/run.sh — run every test program and print "N passed, N failed".
#
# Each test program prints TAP lines ("ok N - name" / "not ok N - name"):
# the C unit tests through cmocka (CMOCKA_MESSAGE_OUTPUT=TAP), the shell and
# node tests by hand.  A program that exits non-zero without reporting a
# failure (a crash, a sanitizer report) counts as one failed test.
#
#   tests/run.sh [REGEX]   only the tests whose path matches REGEX (extended
#                          regular expression; a plain substring works)
#   CTGI_TEST_SKIP=REGEX   leave out the tests whose path matches
#   CTGI_TEST_WRAP="CMD"   run each C test program under CMD (valgrind ...)
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export CTGI_BIN="$PWD/$BUILD/ctgi"
export CTGI_BUILD="$PWD/$BUILD"
export CTGI_MODELS=${CTGI_MODELS:-$(cd .. && pwd)/shared/models}
export CMOCKA_MESSAGE_OUTPUT=TAP
FILTER=${1:-}
SKIP=${CTGI_TEST_SKIP:-}
read -r -a WRAP <<<"${CTGI_TEST_WRAP:-}"
# wanted PATH: the filter, then the skip list
wanted() { { [ -z "$FILTER" ] || [[ "$1" =~ $FILTER ]]; } && { [ -z "$SKIP" ] || ! [[ "$1" =~ $SKIP ]]; }; }

pass=0; fail=0; failed_names=()
run_one() {
    local name=$1; shift
    local out rc t0=$SECONDS
    out=$("$@" 2>&1); rc=$?
    local secs=$((SECONDS - t0))
    local p f
    p=$(grep -cE '^ok [0-9]+' <<<"$out")
    f=$(grep -cE '^not ok [0-9]+' <<<"$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$f" -gt 0 ]; then
        failed_names+=("$name")
        echo "=== $name: $p passed, $f failed (exit $rc, ${secs} s)"
        grep -vE '^ok [0-9]+' <<<"$out" | tail -n 60
    else
        echo "=== $name: $p passed (${secs} s)"
    fi
}

# One binary per test source (a binary left in $BUILD by a source that moved
# or went away is not run); a source whose binary is missing fails to run,
# which counts as a failure.
for src in $(find tests/engine tests/server tests/proto -name '*_test.c' | sort); do
    t="$BUILD/${src%.c}"
    wanted "$t" || continue
    run_one "$t" "${WRAP[@]}" "$t"
done
for t in $(find tests -path tests/js/node_modules -prune -o -type f -name '*_test.sh' -print | sort); do
    wanted "$t" || continue
    run_one "$t" bash "$t"
done

echo
[ ${#failed_names[@]} -gt 0 ] && printf 'failed in: %s\n' "${failed_names[@]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/usr/bin/env bash
# tests/run.sh — run every test program and print "N passed, N failed".
#
# Each test program prints TAP lines ("ok N - name" / "not ok N - name"):
# the C unit tests through cmocka (CMOCKA_MESSAGE_OUTPUT=TAP), the shell and
# node tests by hand.  A program that exits non-zero without reporting a
# failure (a crash, a sanitizer report) counts as one failed test.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export CTGI_BIN="$PWD/$BUILD/ctgi"
export CTGI_BUILD="$PWD/$BUILD"
export CTGI_MODELS=${CTGI_MODELS:-$(cd .. && pwd)/shared/models}
export CMOCKA_MESSAGE_OUTPUT=TAP
FILTER=${1:-}

pass=0; fail=0; failed_names=()
run_one() {
    local name=$1; shift
    local out rc
    out=$("$@" 2>&1); rc=$?
    local p f
    p=$(grep -cE '^ok [0-9]+' <<<"$out")
    f=$(grep -cE '^not ok [0-9]+' <<<"$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$f" -gt 0 ]; then
        failed_names+=("$name")
        echo "=== $name: $p passed, $f failed (exit $rc)"
        grep -vE '^ok [0-9]+' <<<"$out" | tail -n 60
    else
        echo "=== $name: $p passed"
    fi
}

# One binary per test source (a binary left in $BUILD by a source that moved
# or went away is not run); a source whose binary is missing fails to run,
# which counts as a failure.
for src in $(find tests/engine tests/server tests/proto -name '*_test.c' | sort); do
    t="$BUILD/${src%.c}"
    [ -n "$FILTER" ] && [[ "$t" != *"$FILTER"* ]] && continue
    run_one "$t" "$t"
done
for t in $(find tests -path tests/js/node_modules -prune -o -type f -name '*_test.sh' -print | sort); do
    [ -n "$FILTER" ] && [[ "$t" != *"$FILTER"* ]] && continue
    run_one "$t" bash "$t"
done

echo
[ ${#failed_names[@]} -gt 0 ] && printf 'failed in: %s\n' "${failed_names[@]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

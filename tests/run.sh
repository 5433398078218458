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
#   CTGI_TEST_JOBS=N       run up to N C test programs at once (default 1; the
#                          memcheck stage uses 2: valgrind runs one thread at a
#                          time); results are still printed in order
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
# report NAME OUT RC SECS: count a finished program's TAP lines and print its result
report() {
    local name=$1 out=$2 rc=$3 secs=$4
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
run_one() {
    local name=$1; shift
    local out rc t0=$SECONDS
    out=$("$@" 2>&1); rc=$?
    report "$name" "$out" "$rc" $((SECONDS - t0))
}
JOBS=${CTGI_TEST_JOBS:-1}
spool=$(mktemp -d)
trap 'rm -rf "$spool"' EXIT
# run_bg K NAME CMD...: like run_one, in the background, into $spool/K.*
run_bg() {
    local k=$1; shift 2
    local t0=$SECONDS
    "$@" >"$spool/$k.out" 2>&1
    echo "$? $((SECONDS - t0))" >"$spool/$k.rc"
}

# One binary per test source (a binary left in $BUILD by a source that moved
# or went away is not run); a source whose binary is missing fails to run,
# which counts as a failure.
names=()
for src in $(find tests/engine tests/server tests/proto -name '*_test.c' | sort); do
    t="$BUILD/${src%.c}"
    wanted "$t" || continue
    if [ "$JOBS" -le 1 ]; then run_one "$t" "${WRAP[@]}" "$t"; continue; fi
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
    run_bg "${#names[@]}" "$t" "${WRAP[@]}" "$t" &
    names+=("$t")
done
wait
for k in "${!names[@]}"; do
    read -r rc secs <"$spool/$k.rc"
    report "${names[$k]}" "$(cat "$spool/$k.out")" "$rc" "$secs"
done
for t in $(find tests -path tests/js/node_modules -prune -o -type f -name '*_test.sh' -print | sort); do
    wanted "$t" || continue
    run_one "$t" bash "$t"
done

echo
[ ${#failed_names[@]} -gt 0 ] && printf 'failed in: %s\n' "${failed_names[@]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

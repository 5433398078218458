#!/usr/bin/env bash
# tests/fuzz/fuzz_test.sh — build the libFuzzer targets and run each one.
#
# For every tests/fuzz/fuzz_<name>.c: one TAP line for its seed corpus
# (tests/fuzz/corpus/<name>/, every file run once as a regression input:
# seeds and the inputs of crashes fixed before) and one for a fuzzing run of
# FUZZ_TIME seconds (default: 30 when CI=true, else 10; 0 skips fuzzing:
# CI has 90 minutes for every stage, and `make fuzz` runs 60 s per target).
# New inputs the fuzzer finds go to a scratch directory, never into the
# committed corpus; a crash, leak, sanitizer report or timeout fails the
# target and leaves the input in $FUZZ_BUILD/fuzz/artifacts/.  Reproduce
# one with `$FUZZ_BUILD/fuzz/fuzz_<name> <file>`.
#
# Needs clang with libFuzzer (Debian: clang, libclang-rt-dev or the
# compiler-rt files clang-14 ships) and $CTGI_MODELS for the tokenizer and
# streaming targets.  `make fuzz` runs this with FUZZ_TIME=60 by default.
set -u
cd "$(dirname "$0")/../.."
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
if [ -z "${FUZZ_TIME:-}" ]; then
    if [ "${CI:-}" = "true" ]; then FUZZ_TIME=30; else FUZZ_TIME=10; fi
fi
export CTGI_MODELS=${CTGI_MODELS:-$(cd .. && pwd)/shared/models}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

n=0
tap() { n=$((n + 1)); echo "$1 $n - $2"; }

if ! command -v clang >/dev/null 2>&1; then
    tap "not ok" "fuzz: clang not found (scripts/install-deps.sh --test installs it)"
    exit 1
fi
log=$(mktemp)
scratch=$(mktemp -d)
trap 'rm -rf "$log" "$scratch"' EXIT
if ! make -s -j2 fuzz-build FUZZ_BUILD="$FUZZ_BUILD" >"$log" 2>&1; then
    tap "not ok" "fuzz: build the targets"
    tail -n 40 "$log"
    exit 1
fi
tap "ok" "fuzz: build the targets"

# LeakSanitizer cannot run where ptrace is forbidden (some containers):
# there the targets run without leak checks rather than fail to start.
probe=(tests/fuzz/corpus/request/*)
if "$FUZZ_BUILD/fuzz/fuzz_request" -runs=0 "${probe[0]}" 2>&1 | grep -q 'LeakSanitizer has encountered a fatal error'; then
    echo "# LeakSanitizer unavailable here: fuzzing without leak checks"
    export ASAN_OPTIONS=detect_leaks=0
fi

mkdir -p "$FUZZ_BUILD/fuzz/artifacts"
export TMPDIR="$scratch" # fuzz_hf_config writes its fixture here
failed=0
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    bin="$FUZZ_BUILD/fuzz/$name"
    corpus="tests/fuzz/corpus/${name#fuzz_}"
    art="$FUZZ_BUILD/fuzz/artifacts/$name-"
    opts=(-rss_limit_mb=2048 -timeout=20 -artifact_prefix="$art" -print_final_stats=1)
    [ -f "tests/fuzz/${name#fuzz_}.dict" ] && opts+=(-dict="tests/fuzz/${name#fuzz_}.dict")
    if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus")" ]; then
        tap "not ok" "$name: no seed corpus in $corpus"; failed=1; continue
    fi
    k=$(ls "$corpus" | wc -l)
    if "$bin" "${opts[@]}" -runs=0 "$corpus" >"$log" 2>&1; then
        tap "ok" "$name: $k corpus inputs"
    else
        tap "not ok" "$name: $k corpus inputs"; failed=1
        grep -E 'ERROR|SUMMARY|#[0-9]+ ' "$log" | head -n 30
        continue
    fi
    [ "$FUZZ_TIME" -gt 0 ] || continue
    work="$scratch/$name"; mkdir -p "$work"
    if "$bin" "${opts[@]}" -max_total_time="$FUZZ_TIME" "$work" "$corpus" >"$log" 2>&1; then
        execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$')
        tap "ok" "$name: fuzzed ${FUZZ_TIME}s, ${execs:-?} executions"
    else
        tap "not ok" "$name: fuzzed ${FUZZ_TIME}s: crash (input in ${art}*)"; failed=1
        grep -E 'ERROR|SUMMARY|^ *#[0-9]+ 0x' "$log" | head -n 30
    fi
done
exit $failed

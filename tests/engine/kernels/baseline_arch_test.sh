#!/usr/bin/env bash
# baseline_arch_test.sh — one binary for every x86-64 CPU.
#
# The container image is built for a baseline x86-64; the kernels it needs
# are chosen at run time (engine/kernels/wmat.c).  This builds the kernel,
# forward-pass and golden tests with -march=x86-64-v2 and with -march=x86-64
# (into build-x86-64-v2/ and build-x86-64/ beside the main build) and runs
# them: the portable paths must compile under any -march, and a baseline
# binary must still pick this CPU's best kernel set.  Then it runs the
# golden test of the main build with the AVX-512 and AVX2 sets forced
# (CTGI_KERNELS), so they are checked end to end against the references
# too (the portable set equals them bit for bit: wmat_test, attn_kv_test).
set -u
cd "$(dirname "$0")/../../.."
MAIN=${CTGI_BUILD:-$PWD/build}
TESTS="tests/engine/kernels/wmat_test tests/engine/kernels/matmul_test tests/engine/kernels/attn_kv_test tests/engine/model/golden_test"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; }

best=$("$MAIN/tests/engine/kernels/wmat_test" 2>/dev/null | sed -n 's/^# kernel set of this CPU: //p')
[ -n "$best" ] && ok "the main build reports its kernel set ($best)" || not_ok "the main build reports its kernel set"

for arch in x86-64-v2 x86-64; do
    b=build-$arch
    targets=""
    for t in $TESTS; do targets="$targets $b/$t"; done
    # shellcheck disable=SC2086 # a list of targets
    if make -s -j2 BUILD="$b" ARCH_FLAGS="-march=$arch" $targets >"$b.log" 2>&1; then
        ok "builds with -march=$arch"
    else
        not_ok "builds with -march=$arch"
        tail -n 30 "$b.log"
        continue
    fi
    got=$("$b/tests/engine/kernels/wmat_test" 2>/dev/null | sed -n 's/^# kernel set of this CPU: //p')
    [ "$got" = "$best" ] && ok "-march=$arch binary runs the $best kernels" ||
        not_ok "-march=$arch binary runs '$got', the CPU has '$best'"
    for t in $TESTS; do
        if out=$("$b/$t" 2>&1); then
            ok "-march=$arch $(basename "$t")"
        else
            not_ok "-march=$arch $(basename "$t")"
            tail -n 30 <<<"$out"
        fi
    done
done

# each lower set forced on the main build: CTGI_KERNELS value, name it reports, cpuinfo flag it needs
for entry in avx512:avx512-vnni:avx512_vnni avx2:avx2:avx2; do
    IFS=: read -r set name flag <<<"$entry"
    if [ -n "$flag" ] && ! grep -qw "$flag" /proc/cpuinfo; then
        continue # the CPU cannot run it; wmat_test already says which sets ran
    fi
    if out=$(CTGI_KERNELS=$set "$MAIN/tests/engine/model/golden_test" 2>&1) && grep -q "native int8 kernels, $name)" <<<"$out"; then
        ok "golden references with the $name kernels"
    else
        not_ok "golden references with the $name kernels"
        tail -n 30 <<<"$out"
    fi
done

#!/usr/bin/env bash
# soak_test.sh — build/tools/soak (scripts/soak.c) against a `ctgi serve` it
# starts itself (stories260K, --max-concurrent-requests 8, 16 clients): the
# mixed load of issue 12 for 120 s in CI (CI=true), 20 s otherwise
# (SOAK_SECONDS overrides), then its checks; one TAP line, with the
# soak's table as comments.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
export CTGI_BIN=${CTGI_BIN:-$BUILD/ctgi}
export CTGI_MODELS=${CTGI_MODELS:-$(cd .. && pwd)/shared/models}
secs=${SOAK_SECONDS:-$([ "${CI:-}" = true ] && echo 120 || echo 20)}
echo "1..1"
if [ ! -x "$BUILD/tools/soak" ] || [ ! -x "$CTGI_BIN" ]; then
    echo "not ok 1 - $BUILD/tools/soak or $CTGI_BIN missing (make tests)"
    exit 1
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$BUILD/tools/soak" --duration "$secs" --max-concurrent 8 >"$out" 2>&1
rc=$?
sed 's/^/# /' "$out"
if [ "$rc" -eq 0 ]; then
    echo "ok 1 - soak: ${secs} s of mixed load at 2x --max-concurrent-requests passes every check"
else
    echo "not ok 1 - soak: ${secs} s of mixed load (exit $rc, see the table above)"
    exit 1
fi

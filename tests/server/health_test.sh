#!/usr/bin/env bash
# health_test.sh — `ctgi health` (the container's HEALTHCHECK) against a real
# `ctgi serve` on stories260K: 503 while the model loads → exit 1 with the
# status in the message; ready → exit 0 (with --url, and with the default URL
# built from PORT); a bad option or PORT → exit 2; the server gone → exit 1,
# "unreachable".  TAP output (tests/run.sh).
set -u
cd "$(dirname "$0")/../.."
BIN=${CTGI_BIN:-$PWD/build/ctgi}
MODELS=${CTGI_MODELS:-$(cd .. && pwd)/shared/models}

n=0; failed=0
check() { # check NAME EXPECTED_RC GREP_PATTERN CMD... : runs CMD, checks its status and stderr
    local name=$1 want=$2 pat=$3; shift 3
    local err rc
    err=$("$@" 2>&1 >/dev/null); rc=$?
    n=$((n + 1))
    if [ "$rc" -eq "$want" ] && { [ -z "$pat" ] || grep -qE -- "$pat" <<<"$err"; }; then
        echo "ok $n - $name"
    else
        echo "not ok $n - $name (exit $rc, want $want; stderr: $err)"
        failed=1
    fi
}

log=$(mktemp)
trap 'kill "$pid" 2>/dev/null; rm -f "$log"' EXIT
# the delay keeps /health at 503 long enough to probe it
CTGI_DEBUG_LOAD_DELAY_MS=3000 "$BIN" serve --hostname 127.0.0.1 --port 0 --threads 1 \
    --model-id "$MODELS/stories260K.gguf" >"$log" 2>&1 &
pid=$!
port=""
for _ in $(seq 200); do
    port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | sed 's/.*://') && [ -n "$port" ] && break
    sleep 0.02
done
if [ -z "$port" ]; then
    echo "not ok 1 - ctgi serve did not start"
    sed 's/^/# /' "$log"
    exit 1
fi
url="http://127.0.0.1:$port/health"

if grep -q "ready in" "$log"; then
    echo "not ok 1 - the model was ready before the loading delay ended"
    exit 1
fi
check "loading: exit 1, the message names HTTP 503" 1 "$url: unhealthy: HTTP 503" "$BIN" health --url "$url"

for _ in $(seq 300); do grep -q "ready in" "$log" && break; sleep 0.05; done
check "ready: --url answers 200, exit 0" 0 "" "$BIN" health --url "$url"
check "ready: --url=URL form, exit 0" 0 "" "$BIN" health --url="$url" --timeout 2
check "ready: the default URL uses PORT" 0 "" env PORT="$port" "$BIN" health
check "a path that is not 200 (404): exit 1" 1 "HTTP 404" "$BIN" health --url "http://127.0.0.1:$port/no-such-route"
check "unknown option: exit 2" 2 "unknown option --bogus" "$BIN" health --bogus
check "bad PORT: exit 2" 2 "PORT: 'http' is not a port" env PORT=http "$BIN" health
check "bad --timeout: exit 2" 2 "--timeout: 'soon' is not a number" "$BIN" health --timeout soon

kill -TERM "$pid"
wait "$pid"
rc=$?
n=$((n + 1))
if [ "$rc" -eq 0 ]; then echo "ok $n - the server exits 0 on SIGTERM"; else echo "not ok $n - server exit $rc"; failed=1; fi
check "down: exit 1, unreachable" 1 "$url: unreachable: .*(onnect|refused)" "$BIN" health --url "$url" --timeout 2
check "down: the default URL also reports unreachable" 1 "127.0.0.1:$port/health: unreachable" \
    env PORT="$port" "$BIN" health --timeout 2
exit "$failed"

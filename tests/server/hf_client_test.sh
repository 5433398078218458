#!/usr/bin/env bash
# hf_client_test.sh — the legacy TGI JavaScript client @huggingface/inference@2.8.1
# (npm, tests/js) against the real `ctgi serve` on stories260K: POST / streaming
# and non-streaming, seeded sampling, errors.  TAP output (tests/run.sh).
set -u
cd "$(dirname "$0")/../.."
BIN=${CTGI_BIN:-$PWD/build/ctgi}
MODELS=${CTGI_MODELS:-$(cd .. && pwd)/shared/models}
if ! command -v node >/dev/null 2>&1 || [ ! -d tests/js/node_modules/@huggingface/inference ]; then
    echo "not ok 1 - node and tests/js/node_modules/@huggingface/inference are needed (scripts/install-deps.sh --test)"
    exit 1
fi
log=$(mktemp)
"$BIN" serve --hostname 127.0.0.1 --port 0 --threads 1 --model-id "$MODELS/stories260K.gguf" >"$log" 2>&1 &
pid=$!
port=""
for _ in $(seq 200); do
    grep -q "ready in" "$log" && port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | sed 's/.*://') && break
    sleep 0.05
done
if [ -z "$port" ]; then
    echo "not ok 1 - ctgi serve did not start"
    sed 's/^/# /' "$log"
    kill "$pid" 2>/dev/null
    rm -f "$log"
    exit 1
fi
(cd tests/js && node hf_inference_client.mjs "http://127.0.0.1:$port")
rc=$?
kill -TERM "$pid"
wait "$pid"
src=$?
if [ "$src" -ne 0 ]; then
    echo "not ok 99 - ctgi serve exited with $src after SIGTERM"
    rc=1
fi
rm -f "$log"
exit $rc

#!/usr/bin/env bash
# openai_client_test.sh — the official clients against the real `ctgi serve`
# on stories260K: npm `openai` 6.49.0 (chat and completions, streaming,
# the .stream() helper, stop strings, n, logprobs, errors, abort) and
# @huggingface/inference 4.13.30 (chatCompletion*, textGeneration* on an
# endpoint URL).  TAP output (tests/run.sh).
set -u
cd "$(dirname "$0")/../.."
BIN=${CTGI_BIN:-$PWD/build/ctgi}
MODELS=${CTGI_MODELS:-$(cd .. && pwd)/shared/models}
if ! command -v node >/dev/null 2>&1 || [ ! -d tests/js/node_modules/openai ] || [ ! -d tests/js/node_modules/hf-inference-v4 ]; then
    echo "not ok 1 - node and tests/js/node_modules/{openai,hf-inference-v4} are needed (scripts/install-deps.sh --test)"
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
rc=0
out=$(cd tests/js && node openai_client.mjs "http://127.0.0.1:$port" 1) || rc=1
echo "$out"
next=$(( $(grep -cE '^(not )?ok ' <<<"$out") + 1 ))
(cd tests/js && node hf_inference_v4_client.mjs "http://127.0.0.1:$port" "$next") || rc=1
kill -TERM "$pid"
wait "$pid"
src=$?
if [ "$src" -ne 0 ]; then
    echo "not ok 99 - ctgi serve exited with $src after SIGTERM"
    sed 's/^/# /' "$log" | tail -20
    rc=1
fi
rm -f "$log"
exit $rc

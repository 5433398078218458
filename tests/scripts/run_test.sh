#!/usr/bin/env bash
# run_test.sh — scripts/run.sh, the `make run` driver: which model it serves.
#   - MODEL_ID set: that model, no Hub request;
#   - MODEL_ID unset and the Hub unreachable: the first usable model of
#     CTGI_MODELS (stories260K), served and answering;
#   - MODEL_ID unset and the Hub reachable (the fake Hub, tests/js/fake_hub.mjs,
#     with CTGI_DEFAULT_MODEL naming one of its repos): downloaded, then
#     served from the Hub cache; a second run serves it from the cache
#     with the Hub gone;
#   - nothing usable anywhere: a non-zero exit naming what to set.
# The Hub is made unreachable with HF_ENDPOINT on a closed loopback port and
# HF_HUB_OFFLINE unset; HF_HOME is a fresh temporary directory.
set -u
cd "$(dirname "$0")/../.."
BUILD=${CTGI_BUILD:-$PWD/build}
MODELS=${CTGI_MODELS:-$(cd .. && pwd)/shared/models}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; sed 's/^/# /' "$2" | tail -15; }

# run_case NAME LOG [env...]: starts run.sh with the env, waits for "ready in";
# sets $pid and $port (empty when it did not become ready or exited).
run_case() {
    local log=$1; shift
    env -u MODEL_ID HF_HOME="$tmp/hf" HF_ENDPOINT=http://127.0.0.1:9 PORT=0 BUILD="$BUILD" "$@" \
        scripts/run.sh --threads 1 >"$log" 2>&1 &
    pid=$!
    port=""
    for _ in $(seq 300); do
        if grep -q "ready in" "$log"; then
            port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | sed 's/.*://')
            break
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
}

stop_case() {
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

# 1. MODEL_ID given
run_case "$tmp/a.log" MODEL_ID="$MODELS/stories260K.gguf"
if [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/info" | grep -q '"model_id":"[^"]*stories260K.gguf"' &&
    grep -q "MODEL_ID=" "$tmp/a.log" && ! grep -qi "hub" "$tmp/a.log"; then
    ok "MODEL_ID is served as given, without asking the Hub"
else
    nok "MODEL_ID is served as given, without asking the Hub" "$tmp/a.log"
fi
stop_case

# 2. no MODEL_ID, Hub unreachable: falls back to ../shared/models
run_case "$tmp/b.log" CTGI_MODELS="$MODELS"
if [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/info" | grep -q '"model_id":"[^"]*stories260K.gguf"'; then
    ok "offline, the first usable model of CTGI_MODELS is served"
else
    nok "offline, the first usable model of CTGI_MODELS is served" "$tmp/b.log"
fi
if [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/generate" -H 'Content-Type: application/json' \
    -d '{"inputs":"Once upon a time","parameters":{"max_new_tokens":5}}' | grep -q generated_text; then
    ok "the fallback model answers /generate"
else
    nok "the fallback model answers /generate" "$tmp/b.log"
fi
if grep -q "http://127.0.0.1:" "$tmp/b.log"; then ok "the URL is printed"; else nok "the URL is printed" "$tmp/b.log"; fi
stop_case

# 3. the Hub's default model (the fake Hub's test/stories-gguf)
CTGI_MODELS="$MODELS" node tests/js/fake_hub.mjs "$tmp/hub.port" "$tmp/hub.log" 2>"$tmp/hub.err" &
hub=$!
for _ in $(seq 100); do [ -s "$tmp/hub.port" ] && break; sleep 0.05; done
if [ -s "$tmp/hub.port" ]; then
    endpoint="http://127.0.0.1:$(cat "$tmp/hub.port")"
    run_case "$tmp/d.log" HF_ENDPOINT="$endpoint" CTGI_DEFAULT_MODEL=test/stories-gguf CTGI_MODELS="$tmp/empty-d"
    if [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/info" | grep -q '"model_id":"test/stories-gguf"' &&
        [ -d "$tmp/hf/hub/models--test--stories-gguf/snapshots" ]; then
        ok "the default model is downloaded from the Hub into HF_HOME and served"
    else
        nok "the default model is downloaded from the Hub into HF_HOME and served" "$tmp/d.log"
    fi
    stop_case
    kill "$hub" 2>/dev/null
    wait "$hub" 2>/dev/null
    run_case "$tmp/e.log" HF_ENDPOINT="$endpoint" CTGI_DEFAULT_MODEL=test/stories-gguf CTGI_MODELS="$tmp/empty-d"
    if [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/info" | grep -q '"model_id":"test/stories-gguf"'; then
        ok "with the Hub gone, the cached default model is served"
    else
        nok "with the Hub gone, the cached default model is served" "$tmp/e.log"
    fi
    stop_case
else
    nok "the fake Hub started" "$tmp/hub.err"
    kill "$hub" 2>/dev/null
fi

# 4. nothing usable
mkdir -p "$tmp/empty"
run_case "$tmp/c.log" CTGI_MODELS="$tmp/empty"
wait "$pid" 2>/dev/null
rc=$?
if [ -z "$port" ] && [ "$rc" -ne 0 ] && grep -q "MODEL_ID" "$tmp/c.log"; then
    ok "no model anywhere: a non-zero exit naming MODEL_ID"
else
    nok "no model anywhere: a non-zero exit naming MODEL_ID (exit $rc)" "$tmp/c.log"
fi

exit $failed

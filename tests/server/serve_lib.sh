# serve_lib.sh — sourced by the shell tests that run real clients against
# `ctgi serve` (hf_client_test.sh, openai_client_test.sh, chat_ui_test.sh):
# start it on an ephemeral loopback port, stop it with SIGTERM.  Not a test
# itself (no _test suffix).
BIN=${CTGI_BIN:-$PWD/build/ctgi}
MODELS=${CTGI_MODELS:-$(cd .. && pwd)/shared/models}

# serve_start [MODEL [ARGS...]]: sets $pid, $port and $log, or prints a
# failed TAP line and exits 1.  MODEL defaults to stories260K; ARGS are
# more `ctgi serve` flags.
serve_start() {
    log=$(mktemp)
    "$BIN" serve --hostname 127.0.0.1 --port 0 --threads 1 --model-id "${1:-$MODELS/stories260K.gguf}" "${@:2}" >"$log" 2>&1 &
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
}

# serve_stop RC: SIGTERM, check the exit status; prints the final status to use.
serve_stop() {
    local rc=$1
    kill -TERM "$pid"
    wait "$pid"
    local src=$?
    if [ "$src" -ne 0 ]; then
        echo "not ok 99 - ctgi serve exited with $src after SIGTERM" >&2
        sed 's/^/# /' "$log" | tail -20 >&2
        rc=1
    fi
    rm -f "$log"
    return "$rc"
}

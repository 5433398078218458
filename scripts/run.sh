#!/usr/bin/env bash
# run.sh — the `make run` driver: picks the model and serves it with the chat
# page on http://$HOST:$PORT (default 127.0.0.1:8080).  The Makefile has
# already installed what was missing and built $BUILD/ctgi.
#
# The model, first found:
#   1. MODEL_ID, if set: a local GGUF file / Hugging Face directory, or a Hub
#      repo id (downloaded into the Hub cache, $HF_HOME/hub);
#   2. the default instruct model from the Hub ($CTGI_DEFAULT_MODEL,
#      HuggingFaceTB/SmolLM2-135M-Instruct: a Llama-architecture chat model
#      of 270 MB that the engine runs), downloaded once and then served
#      from the cache (also offline, with HF_HUB_OFFLINE=1);
#   3. offline: the first usable model in $CTGI_MODELS (../shared/models),
#      stories260K.gguf before the others.
#
#   BUILD=build scripts/run.sh [extra ctgi serve options...]
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
CTGI=$BUILD/ctgi
HOST=${RUN_HOST:-127.0.0.1}
PORT=${PORT:-8080}
DEFAULT_MODEL=${CTGI_DEFAULT_MODEL:-HuggingFaceTB/SmolLM2-135M-Instruct}
MODELS=${CTGI_MODELS:-$(cd .. && pwd)/shared/models}

if [ ! -x "$CTGI" ]; then
    echo "run.sh: $CTGI not built (run: make run)" >&2
    exit 1
fi

# A model ctgi can load: its tokenizer reads (cheap; the weights load at serve).
usable() { "$CTGI" tokenize --model "$1" "hi" >/dev/null 2>&1; }

first_local_model() {
    local c
    [ -d "$MODELS" ] || return 1
    for c in "$MODELS/stories260K.gguf" "$MODELS"/*.gguf "$MODELS"/*/config.json; do
        [ -e "$c" ] || continue
        [ "${c##*/}" = config.json ] && c=${c%/config.json}
        if usable "$c"; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

model=""
if [ -n "${MODEL_ID:-}" ]; then
    model=$MODEL_ID
    echo "run.sh: MODEL_ID=$model"
elif "$CTGI" download "$DEFAULT_MODEL"; then
    model=$DEFAULT_MODEL
    echo "run.sh: serving $model from the Hub cache"
else
    echo "run.sh: the Hub is not reachable (or $DEFAULT_MODEL failed to download); looking in $MODELS" >&2
    if ! model=$(first_local_model); then
        echo "run.sh: no usable model: set MODEL_ID to a GGUF file, a Hugging Face directory or a Hub repo id" >&2
        exit 1
    fi
    echo "run.sh: serving $model"
fi

if [ "$PORT" = 0 ]; then
    echo "run.sh: the chat page will be on the http://$HOST:PORT/ that the log below names, once the model has loaded"
else
    echo "run.sh: the chat page will be on http://$HOST:$PORT/ once the model has loaded"
fi
exec "$CTGI" serve --model-id "$model" --hostname "$HOST" --port "$PORT" "$@"

#!/usr/bin/env bash
# fim_client_test.sh — fill-in-the-middle end to end: the official `openai`
# npm client (6.49.0) sends `suffix` to /v1/completions, and llama.cpp's
# /infill is driven with fetch, against the real `ctgi serve` on a seeded
# random-weight llama that carries the StarCoder vocabulary (<fim_prefix> 1,
# <fim_middle> 2, <fim_suffix> 3, <fim_pad> 4, <repo_name> 5, <file_sep> 6),
# written at test time by build/tools/vocab_model from
# $CTGI_MODELS/vocab/ggml-vocab-starcoder.gguf; and the refusals on
# stories260K, which has no FIM tokens (tests/js/fim_client.mjs).  TAP
# output (tests/run.sh).
set -u
cd "$(dirname "$0")/../.."
BUILD_DIR=${CTGI_BUILD:-$PWD/build}
missing=""
command -v node >/dev/null 2>&1 || missing+=" node"
[ -d tests/js/node_modules/openai ] || missing+=" tests/js/node_modules/openai"
[ -x "$BUILD_DIR/tools/vocab_model" ] || missing+=" $BUILD_DIR/tools/vocab_model (make tests)"
if [ -n "$missing" ]; then
    echo "not ok 1 - missing:$missing (scripts/install-deps.sh --test; make tests)"
    exit 1
fi
. tests/server/serve_lib.sh
tmp=$(mktemp -d)
pid_b=""
trap '[ -n "$pid_b" ] && kill "$pid_b" 2>/dev/null; rm -rf "$tmp"' EXIT
if ! "$BUILD_DIR/tools/vocab_model" "$tmp/starcoder.gguf" "$MODELS/vocab/ggml-vocab-starcoder.gguf" 7; then
    echo "not ok 1 - could not write the StarCoder-vocabulary model"
    exit 1
fi
serve_start "$MODELS/stories260K.gguf"
pid_b=$pid port_b=$port log_b=$log
serve_start "$tmp/starcoder.gguf"
rc=0
(cd tests/js && node fim_client.mjs "http://127.0.0.1:$port" "http://127.0.0.1:$port_b" 1) || rc=1
serve_stop $rc; rc=$?
pid=$pid_b log=$log_b pid_b=""
serve_stop $rc

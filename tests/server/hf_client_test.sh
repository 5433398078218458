#!/usr/bin/env bash
# hf_client_test.sh — the legacy TGI JavaScript client @huggingface/inference@2.8.1
# (npm, tests/js) against the real `ctgi serve` on stories260K: POST / streaming
# and non-streaming, seeded sampling, errors.  TAP output (tests/run.sh).
set -u
cd "$(dirname "$0")/../.."
if ! command -v node >/dev/null 2>&1 || [ ! -d tests/js/node_modules/@huggingface/inference ]; then
    echo "not ok 1 - node and tests/js/node_modules/@huggingface/inference are needed (scripts/install-deps.sh --test)"
    exit 1
fi
. tests/server/serve_lib.sh
serve_start
(cd tests/js && node hf_inference_client.mjs "http://127.0.0.1:$port")
serve_stop $?

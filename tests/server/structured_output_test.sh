#!/usr/bin/env bash
# structured_output_test.sh — constrained generation end to end: `ctgi serve`
# on the seeded random-weight Qwen2-shaped model (byte-level BPE, 151k
# tokens), sampling at temperature 1; tests/js/structured.mjs sends the JSON
# schema corpus (tests/data/schemas), regexes, choices and bad constraints
# through TGI's grammar, OpenAI's response_format, vLLM's guided_* and the
# legacy @huggingface/inference client, and validates every output with ajv.
# TAP output (tests/run.sh).
set -u
cd "$(dirname "$0")/../.."
if ! command -v node >/dev/null 2>&1 || [ ! -d tests/js/node_modules/ajv ] || [ ! -d tests/js/node_modules/ajv-formats ]; then
    echo "not ok 1 - node and tests/js/node_modules/{ajv,ajv-formats} are needed (scripts/install-deps.sh --test)"
    exit 1
fi
. tests/server/serve_lib.sh
serve_start "$MODELS/synth/qwen2-bpe-hf" --max-concurrent-requests 16
(cd tests/js && node structured.mjs "http://127.0.0.1:$port" 1 ../data/schemas "${STRUCTURED_SEEDS:-3}")
serve_stop $?

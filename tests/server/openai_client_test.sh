#!/usr/bin/env bash
# openai_client_test.sh — the official clients against the real `ctgi serve`
# on stories260K: npm `openai` 6.49.0 (chat and completions, streaming,
# the .stream() helper, stop strings, n, logprobs, errors, abort) and
# @huggingface/inference 4.13.30 (chatCompletion*, textGeneration* on an
# endpoint URL).  TAP output (tests/run.sh).
set -u
cd "$(dirname "$0")/../.."
if ! command -v node >/dev/null 2>&1 || [ ! -d tests/js/node_modules/openai ] || [ ! -d tests/js/node_modules/hf-inference-v4 ]; then
    echo "not ok 1 - node and tests/js/node_modules/{openai,hf-inference-v4} are needed (scripts/install-deps.sh --test)"
    exit 1
fi
. tests/server/serve_lib.sh
serve_start
rc=0
out=$(cd tests/js && node openai_client.mjs "http://127.0.0.1:$port" 1) || rc=1
echo "$out"
next=$(( $(grep -cE '^(not )?ok ' <<<"$out") + 1 ))
(cd tests/js && node hf_inference_v4_client.mjs "http://127.0.0.1:$port" "$next") || rc=1
serve_stop $rc

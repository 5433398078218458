#!/usr/bin/env bash
# chat_ui_test.sh — the built-in chat page (server/ui/, docs/ui.md) in a real
# browser: Debian's headless chromium driven by playwright-core
# (tests/js/chat_ui.mjs) against two real `ctgi serve`s:
#   - the page on: the slow synthetic model (build/tools/slow_model), so that
#     a long answer is still streaming when the test presses Stop, with
#     --max-concurrent-requests 1 so that a second request gets a real 429;
#   - --no-ui on stories260K: GET / is the health answer even for a browser.
# First the HTTP side with curl (who gets the page at GET /, its headers),
# then the browser.  The screenshots go to $CTGI_BUILD/test-artifacts/.
# TAP output (tests/run.sh).
set -u
cd "$(dirname "$0")/../.."
BUILD_DIR=${CTGI_BUILD:-$PWD/build}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
missing=""
command -v node >/dev/null 2>&1 || missing+=" node"
[ -d tests/js/node_modules/playwright-core ] || missing+=" tests/js/node_modules/playwright-core"
[ -x "$CHROMIUM" ] || missing+=" $CHROMIUM"
[ -x "$BUILD_DIR/tools/slow_model" ] || missing+=" $BUILD_DIR/tools/slow_model (make tests)"
if [ -n "$missing" ]; then
    echo "not ok 1 - missing:$missing (scripts/install-deps.sh --test; make tests)"
    exit 1
fi
slow=$("$BUILD_DIR/tools/slow_model" "$BUILD_DIR/test-models") || { echo "not ok 1 - could not write the slow model"; exit 1; }
. tests/server/serve_lib.sh

n=0; rc=0
check() { # check OK NAME [DETAIL]
    n=$((n + 1))
    if [ "$1" = 1 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; rc=1; [ -n "${3:-}" ] && sed 's/^/# /' <<<"$3"; fi
    return 0
}
# get URL [CURL ARGS...]: headers and body of one GET
get() { curl -s -i --max-time 10 "$@"; }
is_health() { # the response is TGI's health answer: 200, no body, not HTML
    grep -q '^HTTP/1.1 200' <<<"$1" && grep -qi '^Content-Length: 0' <<<"$1" && ! grep -qi '^Content-Type: text/html' <<<"$1"
}
HTML='Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'

pid_b=""
trap '[ -n "$pid_b" ] && kill "$pid_b" 2>/dev/null' EXIT # if the second server fails to start
serve_start "$MODELS/stories260K.gguf" --no-ui
pid_b=$pid port_b=$port log_b=$log
serve_start "$slow" --max-concurrent-requests 1
u="http://127.0.0.1:$port" ub="http://127.0.0.1:$port_b"

r=$(get "$u/"); check "$(is_health "$r" && echo 1)" "GET / with curl's default Accept is the health answer" "$r"
r=$(get -H 'Accept: application/json' "$u/"); check "$(is_health "$r" && echo 1)" "GET / with Accept: application/json is the health answer" "$r"
r=$(get -H "$HTML" "$u/")
ok=1
for want in '^HTTP/1.1 200' '^Content-Type: text/html; charset=utf-8' "^Content-Security-Policy: default-src 'none'; script-src 'self'" \
            '^Cache-Control: no-cache' '^ETag: "' '^Vary: Accept' '<script src="ui/app.js"' 'name="viewport"'; do
    grep -qi -- "$want" <<<"$r" || { ok=0; echo "# missing: $want"; }
done
grep -qi '<script>' <<<"$r" && { ok=0; echo "# the page has an inline script"; }
check $ok "GET / with a browser's Accept is the page, with its CSP, Cache-Control, ETag and Vary" "$(head -12 <<<"$r")"
r=$(get "$u/ui/app.js"); check "$(grep -q '^HTTP/1.1 200' <<<"$r" && grep -qi '^Content-Type: text/javascript' <<<"$r" && echo 1)" \
    "GET /ui/app.js is the page's script" "$(head -8 <<<"$r")"
r=$(get -H "$HTML" "$ub/"); check "$(is_health "$r" && echo 1)" "--no-ui: GET / with a browser's Accept is the health answer" "$r"
r=$(get "$ub/ui/app.js"); check "$(grep -q '^HTTP/1.1 404' <<<"$r" && echo 1)" "--no-ui: GET /ui/app.js is 404" "$(head -5 <<<"$r")"

out=$(cd tests/js && node chat_ui.mjs --url "$u" --no-ui-url "$ub" --first $((n + 1)) \
      --artifacts "$BUILD_DIR/test-artifacts" --chromium "$CHROMIUM" 2>&1) || rc=1
echo "$out"
grep -qE '^(not )?ok ' <<<"$out" || { echo "not ok $((n + 1)) - chat_ui.mjs reported nothing"; rc=1; }

serve_stop $rc; rc=$?
pid=$pid_b log=$log_b pid_b=""
serve_stop $rc

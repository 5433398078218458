#!/usr/bin/env bash
# security_test.sh — the hardening of `ctgi serve` against real clients
# (curl, raw sockets from python3) on stories260K:
#   - API keys: several (--api-key a,b and --api-key-file), compared
#     case-sensitively; unreadable / empty key files stop the start (exit 2);
#   - /tokenize and /chat_tokenize take a --max-concurrent-requests permit:
#     a flood gets 429 + Retry-After, and the server stays healthy;
#   - the chat page's files: path traversal (../, %2e%2e, %2f, NUL) is 404;
#   - --max-header-size (JSON 431), chunked bodies over --payload-limit (413);
#   - log lines escape client text (newline, ANSI escapes, quotes, bad UTF-8)
#     in text and --json-output logs;
#   - --request-timeout closes a slow-loris client, --max-connections holds
#     the extra connection back until a slot frees;
#   - HTTPS (--ssl-certfile/--ssl-keyfile and SSL_CERTFILE/SSL_KEYFILE) with a
#     self-signed certificate: /health and a /generate_stream; bad TLS files
#     stop the start with a clear message.
# TAP output (tests/run.sh).
set -u
cd "$(dirname "$0")/../.."
BIN=${CTGI_BIN:-$PWD/build/ctgi}
MODELS=${CTGI_MODELS:-$(cd .. && pwd)/shared/models}
MODEL=$MODELS/stories260K.gguf
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT

n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() { n=$((n + 1)); echo "not ok $n - $1"; failed=1; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; } # check NAME CONDITION

# start NAME ARGS...: `ctgi serve` on a free port; sets $url and ${NAME}_pid,
# its log is $tmp/NAME.log.  Environment for it: prefix the call.
start() {
    local name=$1; shift
    "$BIN" serve --hostname 127.0.0.1 --port 0 --threads 1 --model-id "$MODEL" "$@" >"$tmp/$name.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    eval "${name}_pid=$pid"
    url=""
    for _ in $(seq 200); do
        if grep -q "ready in" "$tmp/$name.log"; then
            url=$(grep -oE 'listening on https?://127.0.0.1:[0-9]+' "$tmp/$name.log" | sed 's/listening on //')
            break
        fi
        sleep 0.05
    done
    if [ -z "$url" ]; then
        bad "ctgi serve ($name) did not start"
        sed 's/^/# /' "$tmp/$name.log"
        exit 1
    fi
}
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; } # the status of one request

GEN='{"inputs":"Once","parameters":{"max_new_tokens":2}}'
JSON='Content-Type: application/json'

# ---- API keys -----------------------------------------------------------------------------
printf '# keys of the test\n\n  fileKey1  \nfileKey2\n' >"$tmp/keys"
start a --api-key 'Alpha,Beta' --api-key-file "$tmp/keys" --max-concurrent-requests 2 --max-header-size 4096 \
    --payload-limit 100000
A=$url
for k in Alpha Beta fileKey1 fileKey2; do
    check "key $k is accepted" '[ "$(code -H "$JSON" -H "Authorization: Bearer $k" -d "$GEN" "$A/generate")" = 200 ]'
done
check "the scheme name is case-insensitive (bearer)" \
    '[ "$(code -H "$JSON" -H "Authorization: bearer Alpha" -d "$GEN" "$A/generate")" = 200 ]'
for k in alpha ALPHA filekey1 Alph Alphaa 'Alpha,Beta' '# keys of the test'; do
    check "key '$k' is refused (case-sensitive, whole keys)" \
        '[ "$(code -H "$JSON" -H "Authorization: Bearer $k" -d "$GEN" "$A/generate")" = 401 ]'
done
check "no key: 401" '[ "$(code -H "$JSON" -d "$GEN" "$A/tokenize")" = 401 ]'
out=$("$BIN" serve --model-id "$MODEL" --api-key-file "$tmp/nonexistent" 2>&1); rc=$?
check "an unreadable --api-key-file stops the start (exit 2, named)" \
    '[ $rc = 2 ] && grep -q "api-key-file.*nonexistent.*No such file" <<<"$out"'
printf '# only a comment\n\n' >"$tmp/nokeys"
out=$(API_KEY_FILE="$tmp/nokeys" "$BIN" serve --model-id "$MODEL" 2>&1); rc=$?
check "an --api-key-file without keys (API_KEY_FILE) stops the start" '[ $rc = 2 ] && grep -q "no API key" <<<"$out"'
out=$("$BIN" serve --model-id "$MODEL" --api-key 'a,,b' 2>&1); rc=$?
check "an empty key in --api-key stops the start" '[ $rc = 2 ] && grep -q "empty API key" <<<"$out"'

# ---- /tokenize takes a permit ---------------------------------------------------------------
# prompts near --payload-limit keep the tokenizer busy long enough for the requests to overlap
python3 -c 'import json; print(json.dumps({"inputs": "Once upon a time there was a cat. " * 2700}))' >"$tmp/tok.json"
python3 -c 'import json; print(json.dumps({"messages": [{"role": "user", "content": "Once upon a time, a dog. " * 3500}]}))' >"$tmp/chat.json"
flood() { # flood PATH FILE: 24 requests at once; prints the statuses, one a line
    local args=() i
    for i in $(seq 24); do args+=(-s -o /dev/null -w '%{http_code}\n' -H "$JSON" -H "Authorization: Bearer Alpha"
        --data-binary "@$2" "$A$1" --next); done
    curl -s -Z --parallel-max 24 "${args[@]:0:${#args[@]}-1}" 2>/dev/null
}
for route in /tokenize:tok.json /chat_tokenize:chat.json; do
    st=$(flood "${route%%:*}" "$tmp/${route#*:}")
    n429=$(grep -c '^429$' <<<"$st"); n200=$(grep -c '^200$' <<<"$st")
    check "a flood of ${route%%:*} beyond --max-concurrent-requests 2: $n200 x 200, $n429 x 429, nothing else" \
        '[ "$n429" -gt 0 ] && [ "$n200" -gt 0 ] && [ $((n429 + n200)) = 24 ]'
done
check "after the flood: /health 200, /tokenize 200" \
    '[ "$(code "$A/health")" = 200 ] && [ "$(code -H "$JSON" -H "Authorization: Bearer Beta" -d "$GEN" "$A/tokenize")" = 200 ]'
check "the /tokenize 429 is TGI's overloaded error, with Retry-After" \
    'grep -q "path=/tokenize status=429 outcome=overloaded" "$tmp/a.log"'
hdr=$(python3 - "$A" <<'EOF'
# hold both permits with two slow /tokenize bodies, then ask a third time
import socket, sys, time, json
host, port = sys.argv[1].split("//")[1].split(":")
body = json.dumps({"inputs": "Once upon a time there was a cat. " * 2700}).encode()
def send():
    s = socket.create_connection((host, int(port)))
    s.sendall(b"POST /tokenize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer Alpha\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    return s
held = [send(), send()]
time.sleep(0.02)
third = send()
third.settimeout(10)
print(third.recv(4096).decode(errors="replace").split("\r\n\r\n")[0])
EOF
)
if grep -q "^HTTP/1.1 200" <<<"$hdr"; then
    ok "# SKIP the tokenizer was too fast to hold both permits"
else
    check "a third concurrent /tokenize: 429 with Retry-After" \
        'grep -q "^HTTP/1.1 429" <<<"$hdr" && grep -qi "^Retry-After: 1" <<<"$hdr"'
fi

# ---- the chat page's files: no path traversal -------------------------------------------------
check "/ui/app.js is served" '[ "$(code "$A/ui/app.js")" = 200 ]'
for p in '/ui/../../etc/passwd' '/ui/%2e%2e/%2e%2e/etc/passwd' '/ui/..%2f..%2fetc%2fpasswd' '/ui/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd' \
    '/../../../../etc/passwd' '/ui//etc/passwd' '/ui/app.js/../../../etc/passwd' '/ui/app.js%00' '/ui/..%5c..%5cetc%5cpasswd' \
    '/ui/%252e%252e/etc/passwd' '/ui/./app.js' '/ui/APP.JS' '/etc/passwd' '/ui/../server/ui.c'; do
    body=$(curl -s --path-as-is -w '\n%{http_code}' "$A$p")
    check "GET $p: 404, no file" '[ "$(tail -n1 <<<"$body")" = 404 ] && ! grep -q "root:" <<<"$body"'
done

# ---- header and body limits -----------------------------------------------------------------
big=$(head -c 5000 /dev/zero | tr '\0' a)
out=$(curl -s -w '\n%{http_code}' -H "X-Big: $big" "$A/health")
check "headers over --max-header-size 4096: 431, JSON error" \
    '[ "$(tail -n1 <<<"$out")" = 431 ] && grep -q "\"error_type\":\"headers_too_large\"" <<<"$out"'
{ printf 'X-Big: '; head -c 200000 /dev/zero | tr '\0' a; echo; } >"$tmp/huge"
check "headers far over it (200 KB): 431 (libmicrohttpd's own)" '[ "$(code -H "@$tmp/huge" "$A/health")" = 431 ]'
head -c 150000 /dev/zero | tr '\0' ' ' >"$tmp/body150k"
out=$(curl -s -w '\n%{http_code}' -H "$JSON" -H 'Transfer-Encoding: chunked' -H 'Authorization: Bearer Alpha' \
    --data-binary "@$tmp/body150k" "$A/generate")
check "a chunked body over --payload-limit: 413, JSON error" \
    '[ "$(tail -n1 <<<"$out")" = 413 ] && grep -q "payload_too_large" <<<"$out"'
head -c 8000000 /dev/zero | tr '\0' ' ' >"$tmp/body8m"
st=$(code -H "$JSON" -H 'Transfer-Encoding: chunked' -H 'Authorization: Bearer Alpha' --data-binary "@$tmp/body8m" "$A/generate")
check "a chunked body far over it is cut off (413, or closed after 100 Continue: got $st), the server is healthy" \
    '{ [ "$st" = 413 ] || [ "$st" = 000 ] || [ "$st" = 100 ]; } && [ "$(code "$A/health")" = 200 ]'
check "the server process grew by less than 8 MB of body" \
    '[ "$(awk "/VmHWM/ {print \$2}" /proc/$a_pid/status)" -lt 200000 ]'

# ---- log lines escape client text -------------------------------------------------------------
evil='/x%0aFAKE%20status=200%1b[31mred%22q%5c'
code -g "$A$evil" >/dev/null
code -g -X 'GE"T' "$A/health" >/dev/null
sleep 0.1
check "text log: the path's newline, ESC, space, quote, backslash are \\xNN" \
    'grep -qF "path=/x\\x0aFAKE\\x20status=200\\x1b[31mred\\x22q\\x5c status=404" "$tmp/a.log"'
check "text log: no raw ESC byte, no forged line" '! grep -q $'"'"'\x1b'"'"' "$tmp/a.log" && ! grep -q "^FAKE" "$tmp/a.log"'
check "text log: a method with a quote is escaped" 'grep -qF "method=GE\\x22T " "$tmp/a.log"'

# ---- slow clients, connection limit, JSON logs ------------------------------------------------
start b --json-output --request-timeout 2 --max-connections 4
B=$url
res=$(python3 - "$B" <<'EOF'
import socket, sys, time
host, port = sys.argv[1].split("//")[1].split(":")
port = int(port)
def trickle(head, byte):
    """Sends head at once, then byte(i) every 0.25 s (40 times); the seconds
    until the server closed the connection, or None if it stayed open."""
    s = socket.create_connection((host, port))
    s.settimeout(0.25)
    s.send(head)
    t0 = time.time()
    for i in range(40):
        try:
            s.send(byte(i))
            if s.recv(100) == b"":
                return time.time() - t0
        except socket.timeout:
            pass
        except OSError:
            return time.time() - t0
    return None

# slow-loris: one byte every 0.25 s, never the end of the headers
req = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
closed = trickle(b"", lambda i: req[i:i + 1])
print("slowloris", "%.2f" % closed if closed else "open")
# the same with the body: headers at once, then a byte every 0.25 s
closed = trickle(b"POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
                 lambda i: b" ")
print("slowbody", "%.2f" % closed if closed else "open")
# --max-connections 4: four connections held, a fifth waits, then gets in
held = [socket.create_connection((host, port)) for _ in range(4)]
for h in held:
    h.send(b"GET /health HTTP/1.1\r\nHost: x\r\n")
time.sleep(0.2)
fifth = socket.create_connection((host, port))
fifth.settimeout(1)
fifth.send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
try:
    print("fifth-early", fifth.recv(20)[:12].decode())
except socket.timeout:
    print("fifth-early none")
for h in held:
    h.close()
fifth.settimeout(5)
print("fifth-late", fifth.recv(20)[:12].decode().replace(" ", "_"))
EOF
)
sl=$(awk '/^slowloris/ {print $2}' <<<"$res")
check "a slow-loris client is disconnected after --request-timeout 2 s (at $sl s)" \
    'awk -v t="$sl" "BEGIN {exit !(t != \"open\" && t >= 1.5 && t <= 4)}"'
sb=$(awk '/^slowbody/ {print $2}' <<<"$res")
check "a client sending its body slowly is disconnected too (at $sb s)" \
    'awk -v t="$sb" "BEGIN {exit !(t != \"open\" && t >= 1.5 && t <= 4)}"'
check "a fifth connection over --max-connections 4 waits" 'grep -q "^fifth-early none" <<<"$res"'
check "... and is served once the others close" 'grep -q "^fifth-late HTTP/1.1_200" <<<"$res"'
check "the slow client's closing is logged" 'grep -q "request-timeout" "$tmp/b.log"'
code -g "$B$evil" >/dev/null
code "$B/y%ff%c2%9b" >/dev/null
sleep 0.1
check "JSON log: every line is JSON, no raw ESC byte" \
    'python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]" "$tmp/b.log" && ! grep -q $'"'"'\x1b'"'"' "$tmp/b.log"'
check "JSON log: the path keeps its newline as JSON's \\n (one line), bad UTF-8 and C1 as \\xNN" \
    'python3 - "$tmp/b.log" <<EOF
import json, sys
paths = [j.get("path") for j in map(json.loads, open(sys.argv[1])) if j.get("message") == "request"]
assert "/x\nFAKE status=200\x1b[31mred\"q\\\\" in paths, paths
assert "/y\\\\xff\\\\xc2\\\\x9b" in paths, paths
EOF'

# ---- HTTPS ------------------------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 2 -subj /CN=127.0.0.1 \
    -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key2.pem" -out "$tmp/cert2.pem" -days 2 -subj /CN=other 2>/dev/null
SSL_CERTFILE="$tmp/cert.pem" SSL_KEYFILE="$tmp/key.pem" start c
C=$url
check "the log says https://" '[ "${C%%:*}" = https ]'
check "GET /health over TLS (curl --cacert)" '[ "$(code --cacert "$tmp/cert.pem" "$C/health")" = 200 ]'
out=$(curl -sN --cacert "$tmp/cert.pem" -H "$JSON" -d '{"inputs":"Once","parameters":{"max_new_tokens":6}}' "$C/generate_stream")
check "POST /generate_stream over TLS: 6 events, the last with generated_text" \
    '[ "$(grep -c "^data:{" <<<"$out")" = 6 ] && tail -n2 <<<"$out" | grep -q "\"generated_text\":\""'
args=()
for i in $(seq 12); do args+=(-s -o "$tmp/tls$i" --cacert "$tmp/cert.pem" -H "$JSON"
    -d '{"inputs":"Once","parameters":{"max_new_tokens":30}}' "$C/generate_stream" --next); done
curl -s -Z --parallel-max 12 "${args[@]:0:${#args[@]}-1}" 2>/dev/null
counts=$(for i in $(seq 12); do grep -c '^data:{' "$tmp/tls$i"; done | sort -u | tr '\n' ' ')
check "12 concurrent TLS streams: 30 events each (got: $counts)" '[ "$counts" = "30 " ]'
t0=$(awk '{print $14 + $15}' "/proc/$c_pid/stat")
idle=$(python3 - "$C" "$tmp/cert.pem" <<'EOF'
import socket, ssl, sys, time
host, port = sys.argv[1].split("//")[1].split(":")
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection((host, int(port))), server_hostname=host)
def get():
    s.send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    d = b""
    while b"\r\n\r\n" not in d:
        d += s.recv(1000)
    return d.split(b"\r\n")[0].decode()
a = get(); time.sleep(2); b = get()
print(a.replace(" ", "_"), b.replace(" ", "_"))
EOF
)
t1=$(awk '{print $14 + $15}' "/proc/$c_pid/stat")
check "an idle TLS keep-alive connection costs no CPU ($((t1 - t0)) ticks in 2 s) and is reused ($idle)" \
    '[ $((t1 - t0)) -le 5 ] && [ "$idle" = "HTTP/1.1_200_OK HTTP/1.1_200_OK" ]'
check "plain HTTP to the TLS port gets no answer" '[ "$(code -m 3 "http://${C#https://}/health")" = 000 ]'
check "an untrusted certificate is refused by the client" '[ "$(code "$C/health")" = 000 ]'
PORT=${C##*:} SSL_CERTFILE="$tmp/cert.pem" "$BIN" health >/dev/null 2>&1; rc=$?
check "ctgi health (the container's HEALTHCHECK) speaks HTTPS when SSL_CERTFILE is set" '[ $rc = 0 ]'
out=$("$BIN" serve --hostname 127.0.0.1 --port 0 --model-id "$MODEL" --ssl-certfile "$tmp/cert.pem" \
    --ssl-keyfile "$tmp/key2.pem" 2>&1); rc=$?
check "a key that does not match the certificate stops the start, named" \
    '[ $rc != 0 ] && grep -q "cannot serve HTTPS.*key2.pem" <<<"$out"'
out=$("$BIN" serve --hostname 127.0.0.1 --port 0 --model-id "$MODEL" --ssl-certfile "$tmp/key.pem" \
    --ssl-keyfile "$tmp/cert.pem" 2>&1); rc=$?
check "certificate and key swapped: not a PEM certificate" '[ $rc != 0 ] && grep -q "ssl-certfile.*not a PEM file" <<<"$out"'
out=$("$BIN" serve --hostname 127.0.0.1 --port 0 --model-id "$MODEL" --ssl-certfile "$tmp/cert.pem" 2>&1); rc=$?
check "--ssl-certfile without --ssl-keyfile stops the start" '[ $rc != 0 ] && grep -q "needs both" <<<"$out"'
out=$("$BIN" serve --hostname 127.0.0.1 --port 0 --model-id "$MODEL" --ssl-certfile "$tmp/nope.pem" \
    --ssl-keyfile "$tmp/key.pem" 2>&1); rc=$?
check "an unreadable certificate stops the start, named" '[ $rc != 0 ] && grep -q "nope.pem: No such file" <<<"$out"'

for name in a b c; do
    eval "p=\$${name}_pid"
    kill -TERM "$p"
    wait "$p"
    rc=$?
    check "server $name exits 0 on SIGTERM" '[ $rc = 0 ]'
done
pids=()
exit $failed

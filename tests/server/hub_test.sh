#!/usr/bin/env bash
# hub_test.sh — `ctgi download` and `ctgi serve --model-id org/name` against
# the fake Hub (tests/js/fake_hub.mjs) on loopback, with HF_ENDPOINT pointing
# at it and HF_HOME in a temporary directory: the cache layout on disk
# (blobs, relative snapshot symlinks, refs), cache hits without file
# requests, resume after a dropped connection and across runs (Range), the
# sha256 check, 401/403/404, HF_TOKEN only on the Hub's own origin,
# HF_HUB_OFFLINE, an unreachable Hub (exit 3, fast; the cache as fallback),
# a full disk, the GGUF choice, the progress bar on a terminal only, and
# serve downloading, loading and answering POST /generate.  TAP output.
set -u
cd "$(dirname "$0")/../.."
BIN=${CTGI_BIN:-$PWD/build/ctgi}
MODELS=${CTGI_MODELS:-$(cd .. && pwd)/shared/models}
export CTGI_MODELS=$MODELS
unset HF_TOKEN HUGGING_FACE_HUB_TOKEN HF_HUB_OFFLINE HF_HUB_CACHE HUGGINGFACE_HUB_CACHE HF_TOKEN_PATH \
      HF_HUB_DISABLE_PROGRESS_BARS MODEL_ID MODEL_FILE REVISION
n=0
T=$(mktemp -d)
FAKE_PID=""
SERVE_PID=""
cleanup() {
    [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null
    [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

# tap NAME CMD...: "ok" when CMD succeeds, else "not ok" with the last command's output
tap() {
    local name=$1; shift
    n=$((n + 1))
    if "$@"; then echo "ok $n - $name"
    else
        echo "not ok $n - $name"
        { echo "exit $rc"; echo "stdout:"; cat "$T/out"; echo "stderr:"; cat "$T/err"; } 2>/dev/null | sed 's/^/# /' | tail -25
    fi
}

for tool in node curl sha256sum script; do
    command -v $tool >/dev/null || { echo "not ok 1 - $tool is needed (scripts/install-deps.sh --test)"; exit 1; }
done
: >"$T/log"
node tests/js/fake_hub.mjs "$T/port" "$T/log" 2>"$T/fake.err" &
FAKE_PID=$!
for _ in $(seq 200); do [ -s "$T/port" ] && break; sleep 0.05; done
if [ ! -s "$T/port" ]; then
    echo "not ok 1 - the fake Hub did not start"; sed 's/^/# /' "$T/fake.err"; exit 1
fi
export HF_ENDPOINT="http://127.0.0.1:$(cat "$T/port")"
GGUF_SHA=$(sha256sum "$MODELS/stories260K.gguf" | cut -d' ' -f1)

homes=0
fresh_home() { homes=$((homes + 1)); export HF_HOME="$T/home$homes"; }
# dl ARGS...: ctgi download; sets rc, out in $T/out, err in $T/err
dl() { "$BIN" download "$@" >"$T/out" 2>"$T/err"; rc=$?; }
mark() { mark=$(wc -l <"$T/log"); }
since() { tail -n +$((mark + 1)) "$T/log"; }
repo_dir() { echo "$HF_HOME/hub/models--${1/\//--}"; }
err_has() { grep -q -- "$1" "$T/err"; }
all_files() { local d=$1 f; shift; for f in "$@"; do [ -f "$d/$f" ] || return 1; done; }

# ---- a GGUF repo: download, layout, cache hit, offline ---------------------------------------
fresh_home
mark
dl test/stories-gguf
D=$(repo_dir test/stories-gguf)
SHA=$(cat "$D/refs/main" 2>/dev/null)
tap "download prints the snapshot's GGUF file, same bytes as the source" \
    eval '[ $rc -eq 0 ] && [ "$(cat $T/out)" = "$D/snapshots/$SHA/stories260K.gguf" ] && cmp -s "$(cat $T/out)" "$MODELS/stories260K.gguf"'
tap "cache layout: refs/main = the commit, snapshot entry is a relative symlink to ../../blobs/<sha256>" \
    eval '[[ $SHA =~ ^[0-9a-f]{40}$ ]] && [ "$(readlink "$D/snapshots/$SHA/stories260K.gguf")" = "../../blobs/$GGUF_SHA" ] &&
          [ -f "$D/blobs/$GGUF_SHA" ] && [ ! -L "$D/blobs/$GGUF_SHA" ] && ! ls "$D/blobs" | grep -q incomplete'
tap "first download: listing, HEAD on /resolve/, GET from the CDN (no token sent anywhere)" \
    eval 'since | grep -q "^GET /api/models/test/stories-gguf/revision/main" &&
          since | grep -q "^HEAD /test/stories-gguf/resolve/$SHA/stories260K.gguf" &&
          since | grep -q "^GET /cdn/test/stories-gguf/$GGUF_SHA host=localhost" && ! since | grep -q "auth=Bearer"'
mark
dl test/stories-gguf
tap "second download is a cache hit: the listing only, no HEAD and no file GET" \
    eval '[ $rc -eq 0 ] && [ "$(since | wc -l)" -eq 1 ] && since | grep -q "^GET /api/models/"'
mark
dl test/stories-gguf README.md
tap "a small (non-LFS) file: blob named by its git sha1 ETag, path of the one file printed" \
    eval '[ $rc -eq 0 ] && [ "$(cat $T/out)" = "$D/snapshots/$SHA/README.md" ] && grep -q "fake Hub repo" "$(cat $T/out)" &&
          [[ $(readlink "$D/snapshots/$SHA/README.md") =~ ^\.\./\.\./blobs/[0-9a-f]{40}$ ]] &&
          since | grep -q "^GET /test/stories-gguf/resolve/$SHA/README.md"'
mark
HF_HUB_OFFLINE=1 dl test/stories-gguf
tap "HF_HUB_OFFLINE=1 resolves from refs + snapshots without a request" \
    eval '[ $rc -eq 0 ] && [ "$(cat $T/out)" = "$D/snapshots/$SHA/stories260K.gguf" ] && [ "$(since | wc -l)" -eq 0 ]'
HF_HUB_OFFLINE=1 dl test/stories-gguf --revision "$SHA"
tap "HF_HUB_OFFLINE=1 with a commit sha as the revision" eval '[ $rc -eq 0 ] && [ "$(cat $T/out)" = "$D/snapshots/$SHA/stories260K.gguf" ]'
HF_HUB_OFFLINE=1 dl test/stories-gguf tokenizer.json
tap "HF_HUB_OFFLINE=1 and a file not in the cache: exit 1, says so" \
    eval '[ $rc -eq 1 ] && err_has "not in the cache" && err_has HF_HUB_OFFLINE'
HF_ENDPOINT=http://127.0.0.1:1 dl test/stories-gguf
tap "Hub unreachable but the revision cached: served from the cache with a warning" \
    eval '[ $rc -eq 0 ] && [ "$(cat $T/out)" = "$D/snapshots/$SHA/stories260K.gguf" ] && err_has "warning: .*cannot reach the Hub"'
fresh_home
HF_HUB_OFFLINE=1 dl test/stories-gguf
tap "HF_HUB_OFFLINE=1 on an empty cache: exit 1, names the repo and HF_HUB_OFFLINE" \
    eval '[ $rc -eq 1 ] && err_has "test/stories-gguf (revision main) is not in the cache" && err_has HF_HUB_OFFLINE'
start=$(date +%s%N)
HF_ENDPOINT=http://127.0.0.1:1 dl test/stories-gguf
ms=$(( ($(date +%s%N) - start) / 1000000 ))
tap "Hub unreachable, nothing cached: exit 3 in under 5 s, 'cannot reach the Hub'" \
    eval '[ $rc -eq 3 ] && [ $ms -lt 5000 ] && err_has "cannot reach the Hub at http://127.0.0.1:1" && [ ! -s $T/out ]'

# ---- errors: auth, not found, checksum, disk ------------------------------------------------
fresh_home
dl test/gated
tap "401 (gated repo, no token): exit 1, mentions HF_TOKEN" eval '[ $rc -eq 1 ] && err_has "401 Unauthorized" && err_has "set HF_TOKEN"'
HF_TOKEN=hf_wrong dl test/gated
tap "403 with a token lacking access: exit 1, mentions the gated repo and HF_TOKEN" \
    eval '[ $rc -eq 1 ] && err_has "403 Forbidden" && err_has "gated repo" && err_has HF_TOKEN'
mark
HF_TOKEN=hf_fake_token dl test/gated
tap "HF_TOKEN: Bearer on the listing and /resolve/, never on the CDN's other origin" \
    eval '[ $rc -eq 0 ] && cmp -s "$(cat $T/out)" "$MODELS/stories260K.gguf" &&
          since | grep "^GET /api/" | grep -q "auth=Bearer hf_fake_token" &&
          since | grep "^HEAD /test/gated/resolve/" | grep -q "auth=Bearer hf_fake_token" &&
          since | grep "^GET /cdn/" | grep -q "auth=-$"'
dl test/no-such-repo
tap "404 repo: exit 1, 'repo not found'" eval '[ $rc -eq 1 ] && err_has "404 repo not found"'
dl test/stories-gguf no-such-file.bin
tap "404 file: exit 1, 'file not found'" eval '[ $rc -eq 1 ] && err_has "404 file not found" && err_has no-such-file.bin'
dl test/stories-gguf --revision v9
tap "404 revision: exit 1, 'revision not found'" eval '[ $rc -eq 1 ] && err_has "404 revision not found"'
dl not-a-repo-id
tap "not org/name: exit 2 before any request" eval '[ $rc -eq 2 ] && err_has "is not a Hub repo id"'
dl test/stories-gguf ../../etc/passwd
tap "a file name escaping the snapshot is refused" eval '[ $rc -eq 2 ] && err_has "not a usable file name"'
dl test/corrupt
D=$(repo_dir test/corrupt)
tap "sha256 mismatch: exit 1, 'checksum mismatch', the bad blob deleted" \
    eval '[ $rc -eq 1 ] && err_has "checksum mismatch" && [ -z "$(ls -A "$D/blobs")" ] && [ -z "$(ls -A "$D/snapshots" 2>/dev/null)" ]'
mark
dl test/flaky
D=$(repo_dir test/flaky)
cut_at=$(grep -o "broke off at byte [0-9]*" "$T/err" | grep -o "[0-9]*$")
tap "connection dropped mid-file (after 300000 bytes): resumed with Range from there, right sha256" \
    eval '[ $rc -eq 0 ] && [ "${cut_at:-0}" -gt 0 ] && [ "$cut_at" -le 300000 ] &&
          since | grep "^GET /cdn/" | head -1 | grep -q "range=-" &&
          since | grep "^GET /cdn/" | sed -n 2p | grep -q "range=bytes=$cut_at-" &&
          [ "$(sha256sum < "$(cat $T/out)" | cut -d" " -f1)" = "$GGUF_SHA" ]'
fresh_home
D=$(repo_dir test/stories-gguf)
mkdir -p "$D/blobs"
head -c 100000 "$MODELS/stories260K.gguf" >"$D/blobs/$GGUF_SHA.incomplete"
mark
dl test/stories-gguf
tap "a partial blob left by an earlier run is resumed (Range: bytes=100000-)" \
    eval '[ $rc -eq 0 ] && since | grep "^GET /cdn/" | grep -q "range=bytes=100000-" &&
          [ "$(sha256sum < "$D/blobs/$GGUF_SHA" | cut -d" " -f1)" = "$GGUF_SHA" ] && [ ! -e "$D/blobs/$GGUF_SHA.incomplete" ]'
fresh_home
D=$(repo_dir test/stories-gguf)
mkdir -p "$D/blobs"
ln -s /dev/full "$D/blobs/$GGUF_SHA.incomplete"
dl test/stories-gguf
tap "disk full while writing a blob: exit 1, 'disk full'" eval '[ $rc -eq 1 ] && err_has "No space left on device (disk full"'

# ---- choosing the model's files -------------------------------------------------------------
fresh_home
dl test/multi-gguf
tap "several GGUF files: the Q4_K_M one (mmproj files never chosen)" \
    eval '[ $rc -eq 0 ] && [[ $(cat $T/out) == */stories260K-Q4_K_M.gguf ]]'
dl test/ambiguous-gguf
tap "several GGUF files, none Q4_K_M: exit 2 listing the choices and --model-file" \
    eval '[ $rc -eq 2 ] && err_has "stories260K-F32.gguf, stories260K-Q8_0.gguf" && err_has "model-file"'
dl test/ambiguous-gguf --model-file stories260K-Q8_0.gguf
tap "--model-file picks one" eval '[ $rc -eq 0 ] && [[ $(cat $T/out) == */stories260K-Q8_0.gguf ]]'
dl test/qwen2-sharded
D=$(repo_dir test/qwen2-sharded)
SHA=$(cat "$D/refs/main" 2>/dev/null)
tap "safetensors repo: config, tokenizer files, index and both shards; the snapshot directory printed" \
    eval '[ $rc -eq 0 ] && [ "$(cat $T/out)" = "$D/snapshots/$SHA" ] &&
          all_files "$D/snapshots/$SHA" config.json tokenizer.json tokenizer_config.json generation_config.json \
                    model.safetensors.index.json model-00001-of-00002.safetensors model-00002-of-00002.safetensors'
dl test/qwen2-hf
D=$(repo_dir test/qwen2-hf)
tap "safetensors repo with one model.safetensors: the weights byte for byte" \
    eval '[ $rc -eq 0 ] && cmp -s "$(cat $T/out)/model.safetensors" "$MODELS/synth/qwen2-bpe-hf/model.safetensors" &&
          all_files "$(cat $T/out)" config.json tokenizer.json tokenizer_config.json generation_config.json'
dl test/old-name README.md
tap "a renamed repo: relative redirects followed" eval '[ $rc -eq 0 ] && grep -q "fake Hub repo" "$(cat $T/out)"'

# ---- progress bar: on a terminal only --------------------------------------------------------
fresh_home
script -qec "'$BIN' download test/stories-gguf" /dev/null </dev/null >"$T/tty" 2>&1
tap "on a terminal: a progress bar reaching 100%" eval 'grep -q "100%" "$T/tty" && grep -q $'"'"'\r'"'"' "$T/tty"'
fresh_home
dl test/stories-gguf
tap "not a terminal: no progress bar, one line per file" \
    eval '[ $rc -eq 0 ] && ! grep -q $'"'"'\r'"'"' "$T/err" && [ "$(wc -l <"$T/err")" -le 2 ] && err_has "downloaded (1185376 bytes)"'

# ---- serve --model-id org/name ---------------------------------------------------------------
# serve_hub ARGS...: start ctgi serve; sets SERVE_PID and port, or rc (its exit) when it ended first
serve_hub() {
    port=""
    "$BIN" serve --hostname 127.0.0.1 --port 0 --threads 1 "$@" >"$T/err" 2>&1 &
    SERVE_PID=$!
    for _ in $(seq 300); do
        grep -q "ready in" "$T/err" && port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$T/err" | sed 's/.*://') && return 0
        kill -0 "$SERVE_PID" 2>/dev/null || { wait "$SERVE_PID"; rc=$?; SERVE_PID=""; return 1; }
        sleep 0.05
    done
    return 1
}
serve_stop() { kill -TERM "$SERVE_PID"; wait "$SERVE_PID"; rc=$?; SERVE_PID=""; }
jget() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let v=JSON.parse(s);for(const k of process.argv.slice(1))v=v[k];console.log(v)})' "$@"; }
generate() { curl -s "http://127.0.0.1:$port/generate" -H 'Content-Type: application/json' -d "$1" | jget generated_text; }

fresh_home
want=$("$BIN" generate --model "$MODELS/stories260K.gguf" --prompt 'Once upon a time' --max-new-tokens 16 --threads 1 --json 2>/dev/null | jget text)
rc=0
if serve_hub --model-id test/stories-gguf; then
    got=$(generate '{"inputs":"Once upon a time","parameters":{"max_new_tokens":16}}')
    info=$(curl -s "http://127.0.0.1:$port/info")
    serve_stop
else got=""; info="{}"; fi
SHA=$(cat "$(repo_dir test/stories-gguf)/refs/main" 2>/dev/null)
tap "serve --model-id test/stories-gguf downloads, loads and answers POST /generate (= the local file's text)" \
    eval '[ -n "$want" ] && [ "$got" = "$want" ] && [ $rc -eq 0 ]'
tap "/info: model_id is the repo id, model_sha its commit" \
    eval '[ "$(echo "$info" | jget model_id)" = test/stories-gguf ] && [ "$(echo "$info" | jget model_sha)" = "$SHA" ]'
mark
if HF_HUB_OFFLINE=1 serve_hub --model-id test/stories-gguf; then
    got=$(generate '{"inputs":"Once upon a time","parameters":{"max_new_tokens":16}}')
    serve_stop
else got=""; fi
tap "HF_HUB_OFFLINE=1 serve from the cache, no request to the Hub" eval '[ "$got" = "$want" ] && [ "$(since | wc -l)" -eq 0 ]'
want=$("$BIN" generate --model "$MODELS/synth/qwen2-bpe-hf" --prompt 'Hello' --max-new-tokens 8 --threads 1 --json 2>/dev/null | jget text)
if MODEL_ID=test/qwen2-sharded serve_hub; then
    got=$(generate '{"inputs":"Hello","parameters":{"max_new_tokens":8}}')
    serve_stop
else got=""; fi
tap "MODEL_ID=test/qwen2-sharded: a sharded safetensors repo served (= the local directory's text)" \
    eval '[ -n "$want" ] && [ "$got" = "$want" ]'
if MODEL_FILE=stories260K-Q8_0.gguf serve_hub --model-id test/ambiguous-gguf; then serve_stop; ok=1; else ok=0; fi
tap "MODEL_FILE chooses the GGUF file of a repo for serve" \
    eval '[ $ok -eq 1 ] && grep -q "loading .*/stories260K-Q8_0.gguf" "$T/err"'
serve_hub --model-id test/ambiguous-gguf
tap "serve: an ambiguous GGUF repo exits 2 naming --model-file" eval '[ -z "$port" ] && [ $rc -eq 2 ] && err_has "model-file"'
HF_ENDPOINT=http://127.0.0.1:1 serve_hub --model-id test/not-cached
tap "serve: Hub unreachable exits 3 with 'cannot reach the Hub'" eval '[ -z "$port" ] && [ $rc -eq 3 ] && err_has "cannot reach the Hub"'
serve_hub --model-id test/gated
tap "serve: a gated repo without HF_TOKEN exits 1 mentioning HF_TOKEN" eval '[ -z "$port" ] && [ $rc -eq 1 ] && err_has HF_TOKEN'
serve_hub --model-id ./no/such/model.gguf
tap "serve: neither a path nor a repo id exits 1 saying both" \
    eval '[ -z "$port" ] && [ $rc -eq 1 ] && err_has "no such file or directory" && err_has "not a Hub repo id"'
serve_hub --model-id test/stories-gguf --revision v9
tap "serve --revision: an unknown revision exits 1 (404)" eval '[ -z "$port" ] && [ $rc -eq 1 ] && err_has "404 revision not found"'

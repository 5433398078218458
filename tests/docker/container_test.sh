#!/usr/bin/env bash
# container_test.sh — build the Dockerfile into an image and run it, with
# podman (no Docker daemon here), the recipe of
# ../shared/reference/clients.md Q3:
#
#   base   a debootstrap minbase bookworm, tagged docker.io/library/debian:bookworm-slim
#          (tarball cached in $CACHE, reused across runs; no registry is reachable)
#   build  podman build --format docker --pull=never (HEALTHCHECK kept), chroot isolation
#   run    stories260K.gguf mounted read-only, a read-only root filesystem, port
#          published on 127.0.0.1;
#          healthy through the image's HEALTHCHECK, POST /generate answers,
#          ctgi is PID 1 and not root, `podman stop` (SIGTERM) → exit 0 and the
#          graceful-shutdown log line; `IMAGE generate ...` runs another command
#
# podman's state (images, layers) lives in $CACHE/storage, apart from the
# machine's own; $CACHE is build-container/ beside build/ (the Makefile
# includes every *.d file under build/, and a root filesystem has many).  Anything missing or not working is a failed test, never a
# skip.  TAP output (tests/run.sh).
set -u
cd "$(dirname "$0")/../.."
SRC=$PWD
MODELS=${CTGI_MODELS:-$(cd .. && pwd)/shared/models}
CACHE=${CTGI_CONTAINER_CACHE:-$SRC/build-container}
IMAGE=localhost/ctgi:latest
BASE=docker.io/library/debian:bookworm-slim
NAME=ctgi-test-$$
T0=$(date +%s)

n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
bad() { n=$((n + 1)); echo "not ok $n - $*"; failed=1; }
# die MESSAGE [LOG]: a failed prerequisite; print the log's tail and stop
die() {
    bad "$1"
    [ -n "${2:-}" ] && [ -f "$2" ] && tail -n 40 "$2" | sed 's/^/# /'
    exit 1
}

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    sudo -n true 2>/dev/null || die "podman (rootful) needs root or password-less sudo"
    SUDO=(sudo -n)
fi
for tool in podman runc debootstrap curl; do
    command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps.sh --test installs it)"
done
[ -r "$MODELS/stories260K.gguf" ] || die "no $MODELS/stories260K.gguf"

mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
RUNROOT=/run/ctgi-container-test-$(printf '%s' "$CACHE" | md5sum | cut -c1-12)
cat >"$CACHE/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]
[engine]
runtime = "runc"
EOF
cat >"$CACHE/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$CACHE/storage"
runroot = "$RUNROOT"
EOF
pm() {
    "${SUDO[@]}" env CONTAINERS_CONF="$CACHE/containers.conf" CONTAINERS_STORAGE_CONF="$CACHE/storage.conf" \
        BUILDAH_ISOLATION=chroot podman "$@"
}
cleanup() { pm rm -f -t 0 "$NAME" >/dev/null 2>&1; }
trap cleanup EXIT
# containers left by an interrupted run (this storage is this checkout's own)
for c in $(pm ps -a --filter name=ctgi-test- --format '{{.Names}}' 2>/dev/null); do pm rm -f -t 0 "$c" >/dev/null 2>&1; done

# ---- base image ---------------------------------------------------------------------------
mirror() { # the host's Debian mirror (sources.list or deb822 .sources)
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -oE '^(deb|URIs:)[[:space:]]+https?://[^[:space:]]+' | awk '{print $2}' |
        grep -E '/debian/?$' | head -n1
}
if ! pm image exists "$BASE"; then
    tarball=$CACHE/bookworm-minbase.tar
    if [ ! -s "$tarball" ]; then
        url=$(mirror)
        url=${url:-http://deb.debian.org/debian}
        "${SUDO[@]}" rm -rf "$CACHE/rootfs"
        "${SUDO[@]}" debootstrap --variant=minbase bookworm "$CACHE/rootfs" "$url" >"$CACHE/debootstrap.log" 2>&1 ||
            die "debootstrap --variant=minbase bookworm from $url" "$CACHE/debootstrap.log"
        # what bookworm-slim leaves out too: downloaded packages, package lists
        "${SUDO[@]}" rm -rf "$CACHE"/rootfs/var/cache/apt/archives/*.deb "$CACHE"/rootfs/var/lib/apt/lists/*
        "${SUDO[@]}" tar -C "$CACHE/rootfs" -cf "$tarball.tmp" . && "${SUDO[@]}" mv "$tarball.tmp" "$tarball" ||
            die "archive the bookworm rootfs"
        "${SUDO[@]}" rm -rf "$CACHE/rootfs"
    fi
    pm import "$tarball" localhost/bookworm-minbase >"$CACHE/import.log" 2>&1 &&
        pm tag localhost/bookworm-minbase "$BASE" >>"$CACHE/import.log" 2>&1 ||
        die "podman import of the bookworm rootfs" "$CACHE/import.log"
fi
ok "base image $BASE present (debootstrap minbase, cached in $CACHE)"

# ---- build --------------------------------------------------------------------------------
t=$(date +%s)
if pm build --format docker --pull=never -t "$IMAGE" "$SRC" >"$CACHE/build.log" 2>&1; then
    ok "podman build of the Dockerfile ($(($(date +%s) - t)) s)"
else
    die "podman build of the Dockerfile failed" "$CACHE/build.log"
fi

pm image prune -f >/dev/null 2>&1 # the layers of earlier builds: keeps $CACHE from growing run after run

# The build stage saw no host build output (.dockerignore); it is cached, so this is quick.
if pm build --format docker --pull=never --target build -t localhost/ctgi-build-stage "$SRC" >"$CACHE/build-stage.log" 2>&1 &&
    leaked=$(pm run --rm --entrypoint sh localhost/ctgi-build-stage -c \
        'cd /src && find . \( -name "build*" -o -name "*.o" -o -name node_modules -o -name .git -o -name "*.gguf" \) -print')
then
    [ -z "$leaked" ] && ok "the build context holds no host build output, .git, node_modules or models" ||
        bad "the build context holds: $(echo $leaked)"
else
    bad "inspecting the build stage failed"; tail -n 20 "$CACHE/build-stage.log" | sed 's/^/# /'
fi

fmt='{{.Config.User}}|{{json .Config.Healthcheck.Test}}|{{json .Config.ExposedPorts}}|{{json .Config.Env}}|{{json .Config.Volumes}}'
info=$(pm image inspect --format "$fmt" "$IMAGE" 2>&1)
IFS='|' read -r user hc ports env vols <<<"$info"
case $user in "" | 0 | 0:* | root | root:*) bad "image user is '$user' (must be non-root)" ;; *) ok "image user $user" ;; esac
[[ $hc == *'ctgi'*'health'* ]] && ok "HEALTHCHECK kept: $hc" || bad "no HEALTHCHECK running ctgi health: '$hc'"
[[ $ports == *'"8080/tcp"'* ]] && ok "EXPOSE 8080" || bad "exposed ports: $ports"
[[ $env == *'"PORT=8080"'* && $env == *'"HF_HOME=/data"'* && $env == *'"MODEL_ID='* ]] &&
    ok "ENV PORT, HF_HOME, MODEL_ID" || bad "env: $env"
[[ $vols == *'"/data"'* ]] && ok "VOLUME /data" || bad "volumes: $vols"
size=$(pm image inspect --format '{{.Size}}' "$IMAGE")
echo "# image size $((size / 1000000)) MB"

# ---- run ----------------------------------------------------------------------------------
# --read-only without podman's tmpfs mounts: what Kubernetes' readOnlyRootFilesystem gives
pm run -d --name "$NAME" --read-only --read-only-tmpfs=false -p 127.0.0.1::8080 -v "$MODELS/stories260K.gguf:/models/stories260K.gguf:ro" \
    -e MODEL_ID=/models/stories260K.gguf -e THREADS=1 "$IMAGE" >"$CACHE/run.log" 2>&1 ||
    die "podman run of the image" "$CACHE/run.log"
healthy=""
for _ in $(seq 120); do
    pm healthcheck run "$NAME" >/dev/null 2>&1 && { healthy=1; break; }
    [ "$(pm inspect --format '{{.State.Running}}' "$NAME")" = true ] || break
    sleep 0.5
done
logs() { pm logs "$NAME" 2>&1; }
[ -n "$healthy" ] && ok "the container turns healthy (HEALTHCHECK: ctgi health)" ||
    { bad "the container did not turn healthy"; logs | tail -n 30 | sed 's/^/# /'; exit 1; }
logs | grep -oE 'kernels [^;]*' | sed 's/^/# /'

port=$(pm port "$NAME" 8080/tcp | sed 's/.*://')
body=$(curl -s -m 30 -w '\n%{http_code}' -H 'Content-Type: application/json' \
    -d '{"inputs":"Once upon a time","parameters":{"max_new_tokens":12}}' "http://127.0.0.1:$port/generate")
code=${body##*$'\n'}
[ "$code" = 200 ] && [[ $body == *'"generated_text":"'?* ]] &&
    ok "POST /generate through the published port 127.0.0.1:$port" || bad "POST /generate: $body"

status=$(pm exec "$NAME" cat /proc/1/status 2>&1)
comm=$(pm exec "$NAME" cat /proc/1/comm 2>&1)
uid=$(awk '/^Uid:/ {print $2}' <<<"$status")
[ -n "$uid" ] && [ "$uid" != 0 ] && [ "$comm" = ctgi ] &&
    ok "PID 1 is ctgi, running as uid $uid (non-root)" || bad "PID 1: comm '$comm', uid '$uid'"
listen=$(logs | grep -o 'listening on http://[^ ]*')
[[ $listen == *0.0.0.0:8080 ]] && ok "serve $listen" || bad "serve: '$listen'"

t=$(date +%s)
pm stop -t 60 "$NAME" >/dev/null 2>&1
rc=$(pm inspect --format '{{.State.ExitCode}}' "$NAME")
took=$(($(date +%s) - t))
if [ "$rc" = 0 ] && logs | grep -q 'signal 15: shutting down' && logs | grep -q 'exit 0'; then
    ok "SIGTERM (podman stop): exit 0 after $took s, graceful-shutdown log line"
else
    bad "after podman stop: exit code '$rc' after $took s"; logs | tail -n 10 | sed 's/^/# /'
fi

out=$(pm run --rm -v "$MODELS/stories260K.gguf:/models/stories260K.gguf:ro" "$IMAGE" \
    generate --model /models/stories260K.gguf --prompt "Once upon a time" --max-new-tokens 8 --threads 1 2>&1)
[ $? -eq 0 ] && [[ $out == *"8 generated"* ]] && ok "IMAGE generate ... runs ctgi generate" ||
    bad "IMAGE generate: $out"
out=$(pm run --rm "$IMAGE" --help 2>&1)
[ $? -eq 0 ] && [[ $out == *"usage: ctgi serve"* ]] && ok "IMAGE --help: options go to ctgi serve" ||
    bad "IMAGE --help: $(head -3 <<<"$out")"
out=$(pm run --rm "$IMAGE" 2>&1)
[ $? -eq 2 ] && [[ $out == *"--model-id (or MODEL_ID) is required"* ]] &&
    ok "IMAGE without MODEL_ID: exit 2, says MODEL_ID is required" || bad "IMAGE without MODEL_ID: $(head -3 <<<"$out")"
out=$(pm run --rm "$IMAGE" health --url http://127.0.0.1:1/health --timeout 2 2>&1)
[ $? -eq 1 ] && [[ $out == *unreachable* ]] && ok "IMAGE health (down) exits 1: unreachable" ||
    bad "IMAGE health: $out"

echo "# container test took $(($(date +%s) - T0)) s"
exit "$failed"
